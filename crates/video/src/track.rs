//! Tracking between detections: each track carries a constant-velocity
//! Kalman filter on its centre and log size; detections are associated to
//! tracks by IoU with the predicted boxes (greedy, best overlap first, with
//! a centre-distance fallback for small fast faces); unmatched detections
//! start tracks, and a track unseen for longer than the gap allowance ends.
//! Written here rather than taken from a crate: the filter is four 2-state
//! filters, and the association rules are the product.

use facekit_core::BBox;

/// A constant-velocity filter on one quantity, time in frames.
#[derive(Debug, Clone, Copy)]
struct Axis {
    x: f64,
    v: f64,
    /// Covariance `[[pxx, pxv], [pxv, pvv]]`.
    p: [f64; 3],
}

/// Process noise (acceleration) and measurement noise, per quantity.
const ACCELERATION: f64 = 0.05;
const MEASUREMENT: f64 = 1.0;

impl Axis {
    fn new(x: f64) -> Self {
        Self {
            x,
            v: 0.0,
            p: [MEASUREMENT, 0.0, 1.0],
        }
    }

    fn predicted(&self, dt: f64) -> f64 {
        self.x + self.v * dt
    }

    fn update(&mut self, measured: f64, dt: f64, scale: f64) {
        let q = ACCELERATION * scale * scale;
        let r = MEASUREMENT * scale * scale;
        // Predict.
        let x = self.x + self.v * dt;
        let [pxx, pxv, pvv] = self.p;
        let pxx = pxx + 2.0 * dt * pxv + dt * dt * pvv + q * dt.powi(4) / 4.0;
        let pxv = pxv + dt * pvv + q * dt.powi(3) / 2.0;
        let pvv = pvv + q * dt * dt;
        // Correct.
        let s = pxx + r;
        let (kx, kv) = (pxx / s, pxv / s);
        let innovation = measured - x;
        self.x = x + kx * innovation;
        self.v += kv * innovation;
        self.p = [(1.0 - kx) * pxx, (1.0 - kx) * pxv, pvv - kv * pxv];
    }
}

/// Centre and log size, filtered.
#[derive(Debug, Clone)]
pub(crate) struct Motion {
    axes: [Axis; 4],
    /// The frame of the last update.
    frame: u64,
}

fn state_of(b: &BBox) -> [f64; 4] {
    [
        f64::from(b.x1 + b.x2) / 2.0,
        f64::from(b.y1 + b.y2) / 2.0,
        f64::from(b.width().max(1.0)).ln(),
        f64::from(b.height().max(1.0)).ln(),
    ]
}

fn box_of(s: [f64; 4]) -> BBox {
    let (w, h) = (s[2].exp(), s[3].exp());
    BBox::new(
        (s[0] - w / 2.0) as f32,
        (s[1] - h / 2.0) as f32,
        (s[0] + w / 2.0) as f32,
        (s[1] + h / 2.0) as f32,
    )
}

impl Motion {
    pub fn new(b: &BBox, frame: u64) -> Self {
        Self {
            axes: state_of(b).map(Axis::new),
            frame,
        }
    }

    /// The box expected at `frame`.
    pub fn predict(&self, frame: u64) -> BBox {
        let dt = frame.saturating_sub(self.frame) as f64;
        let mut s = [0.0; 4];
        for (v, a) in s.iter_mut().zip(&self.axes) {
            *v = a.predicted(dt);
        }
        box_of(s)
    }

    /// Folds in a detection at `frame`.
    pub fn update(&mut self, b: &BBox, frame: u64) {
        let dt = frame.saturating_sub(self.frame).max(1) as f64;
        // Position noise scales with the face's size; log size is unitless.
        let size = f64::from(b.width().max(b.height()).max(1.0));
        let scales = [size * 0.05, size * 0.05, 0.05, 0.05];
        for ((a, m), scale) in self.axes.iter_mut().zip(state_of(b)).zip(scales) {
            a.update(m, dt, scale);
        }
        self.frame = frame;
    }
}

/// Least IoU for a detection to continue a track.
const MIN_IOU: f32 = 0.2;
/// Else: centres closer than this share of the larger box side.
const MAX_CENTRE_DISTANCE: f32 = 0.6;

fn affinity(predicted: &BBox, detected: &BBox) -> Option<f32> {
    let overlap = predicted.iou(detected);
    if overlap >= MIN_IOU {
        return Some(1.0 + overlap);
    }
    let (pc, dc) = (predicted.center(), detected.center());
    let distance = ((pc.x - dc.x).powi(2) + (pc.y - dc.y).powi(2)).sqrt();
    let side = predicted.width().max(detected.width()).max(1.0);
    let sizes = predicted.width() / detected.width().max(1.0);
    (distance < MAX_CENTRE_DISTANCE * side && (0.5..2.0).contains(&sizes))
        .then(|| 1.0 - distance / (MAX_CENTRE_DISTANCE * side))
}

/// Greedy association: pairs `(track, detection)` by best affinity first.
pub fn associate(predicted: &[BBox], detected: &[BBox]) -> Vec<(usize, usize)> {
    let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
    for (t, p) in predicted.iter().enumerate() {
        for (d, b) in detected.iter().enumerate() {
            if let Some(a) = affinity(p, b) {
                candidates.push((a, t, d));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_t, mut used_d) = (vec![false; predicted.len()], vec![false; detected.len()]);
    let mut pairs = Vec::new();
    for (_, t, d) in candidates {
        if !used_t[t] && !used_d[d] {
            used_t[t] = true;
            used_d[d] = true;
            pairs.push((t, d));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steadily_moving_box_is_predicted_ahead() {
        let mut m = Motion::new(&BBox::new(0.0, 0.0, 50.0, 50.0), 0);
        for f in 1..=10 {
            let x = f as f32 * 10.0;
            m.update(&BBox::new(x, 0.0, x + 50.0, 50.0), f);
        }
        let ahead = m.predict(12);
        assert!((ahead.x1 - 120.0).abs() < 8.0, "{ahead:?}");
        assert!((ahead.width() - 50.0).abs() < 2.0);
    }

    #[test]
    fn association_prefers_overlap_and_refuses_far_boxes() {
        let tracks = [
            BBox::new(0.0, 0.0, 50.0, 50.0),
            BBox::new(200.0, 0.0, 250.0, 50.0),
        ];
        let dets = [
            BBox::new(205.0, 2.0, 255.0, 52.0),
            BBox::new(3.0, 1.0, 53.0, 51.0),
            BBox::new(600.0, 0.0, 650.0, 50.0),
        ];
        let mut pairs = associate(&tracks, &dets);
        pairs.sort();
        assert_eq!(pairs, [(0, 1), (1, 0)]);
    }
}
