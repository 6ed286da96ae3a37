use serde::{Deserialize, Serialize};

/// A point in image pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal coordinate, pixels from the left edge.
    pub x: f32,
    /// Vertical coordinate, pixels from the top edge.
    pub y: f32,
}

impl Point {
    /// A point at `(x, y)`.
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }
}

/// An axis-aligned box `[x1, y1, x2, y2]` in pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// A box from its corners.
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// Width (`x2 - x1`).
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    /// Height (`y2 - y1`).
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    /// Area without InsightFace's `+1` pixel convention.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Centre point.
    pub fn center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// The box as `[x1, y1, x2, y2]`.
    pub fn to_array(&self) -> [f32; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }

    /// Intersection over union with `other` (continuous areas; NMS keeps
    /// InsightFace's `+1` pixel areas, see [`crate::nms`]).
    ///
    /// ```
    /// use facekit_core::BBox;
    /// let a = BBox::new(0.0, 0.0, 10.0, 10.0);
    /// assert_eq!(a.iou(&BBox::new(5.0, 0.0, 15.0, 10.0)), 50.0 / 150.0);
    /// ```
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// One detected face: box, confidence and, when the detector predicts them,
/// the five landmarks (left eye, right eye, nose, left and right mouth corner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Face box in source-image pixels.
    pub bbox: BBox,
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
    /// Five landmarks in source-image pixels, if the model predicts them.
    pub kps: Option<[Point; 5]>,
}

impl Detection {
    /// A detection from its parts.
    pub fn new(bbox: BBox, score: f32, kps: Option<[Point; 5]>) -> Self {
        Self { bbox, score, kps }
    }
}

/// A 2×3 affine transform `[a b c; d e f]` mapping `(x, y)` to
/// `(a·x + b·y + c, d·x + e·y + f)`, kept in `f64` as OpenCV and scikit-image do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Affine2(pub [[f64; 3]; 2]);

impl Affine2 {
    /// The identity transform.
    pub const IDENTITY: Self = Self([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);

    /// Applies the transform to a point.
    pub fn apply(&self, p: Point) -> Point {
        let [[a, b, c], [d, e, f]] = self.0;
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        Point::new((a * x + b * y + c) as f32, (d * x + e * y + f) as f32)
    }

    /// The inverse transform, computed exactly as `cv::invertAffineTransform`
    /// (and `cv::warpAffine` without `WARP_INVERSE_MAP`) does, so warps agree
    /// with OpenCV to the last bit of the coefficients. A singular matrix
    /// gives all-zero linear terms, as in OpenCV.
    pub fn inverse(&self) -> Self {
        let [[a, b, c], [d, e, f]] = self.0;
        let det = a * e - b * d;
        let inv_det = if det != 0.0 { 1.0 / det } else { 0.0 };
        let (a2, b2, d2, e2) = (e * inv_det, -b * inv_det, -d * inv_det, a * inv_det);
        Self([[a2, b2, -a2 * c - b2 * f], [d2, e2, -d2 * c - e2 * f]])
    }

    /// Uniform scale of a similarity transform (`sqrt(a² + b²)`).
    pub fn scale(&self) -> f64 {
        let [[a, b, _], _] = self.0;
        (a * a + b * b).sqrt()
    }
}

/// Least-squares similarity transform (rotation, uniform scale, translation)
/// mapping `src` onto `dst`.
///
/// This is the same estimate as scikit-image's `SimilarityTransform.estimate`
/// (Umeyama's method) that InsightFace's `norm_crop` uses: for 2-D points the
/// optimal proper similarity has the closed form
/// `s·e^{iθ} = Σ (dst_i − d̄)·conj(src_i − s̄) / Σ |src_i − s̄|²` in complex
/// notation, which is what Umeyama's SVD computes when the reflection is
/// excluded. Returns `None` when the source points all coincide.
pub fn estimate_similarity(src: &[Point], dst: &[Point]) -> Option<Affine2> {
    if src.len() != dst.len() || src.is_empty() {
        return None;
    }
    let n = src.len() as f64;
    let mean = |pts: &[Point]| {
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |(x, y), p| {
            (x + f64::from(p.x), y + f64::from(p.y))
        });
        (sx / n, sy / n)
    };
    let (smx, smy) = mean(src);
    let (dmx, dmy) = mean(dst);
    let (mut re, mut im, mut var) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (f64::from(s.x) - smx, f64::from(s.y) - smy);
        let (dx, dy) = (f64::from(d.x) - dmx, f64::from(d.y) - dmy);
        re += dx * sx + dy * sy;
        im += dy * sx - dx * sy;
        var += sx * sx + sy * sy;
    }
    if var <= f64::EPSILON {
        return None;
    }
    let (a, b) = (re / var, im / var);
    Some(Affine2([
        [a, -b, dmx - (a * smx - b * smy)],
        [b, a, dmy - (b * smx + a * smy)],
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, tx, ty) = (1.7_f64, 0.3_f64, 12.0, -4.0);
        let t = Affine2([
            [s * th.cos(), -s * th.sin(), tx],
            [s * th.sin(), s * th.cos(), ty],
        ]);
        let src = [
            (1.0, 2.0),
            (30.0, 5.0),
            (17.0, 40.0),
            (3.0, 22.0),
            (25.0, 28.0),
        ]
        .map(|(x, y)| Point::new(x, y));
        let dst = src.map(|p| t.apply(p));
        let est = estimate_similarity(&src, &dst).unwrap();
        for r in 0..2 {
            for c in 0..3 {
                assert!((est.0[r][c] - t.0[r][c]).abs() < 1e-4, "{est:?} vs {t:?}");
            }
        }
        assert!((est.scale() - s).abs() < 1e-5);
    }

    #[test]
    fn similarity_of_coincident_points_is_none() {
        let p = [Point::new(1.0, 1.0); 5];
        assert!(estimate_similarity(&p, &p).is_none());
    }

    #[test]
    fn inverse_round_trips() {
        let t = Affine2([[0.8, -0.2, 5.0], [0.2, 0.8, -3.0]]);
        let p = Point::new(10.0, 20.0);
        let q = t.inverse().apply(t.apply(p));
        assert!((q.x - p.x).abs() < 1e-4 && (q.y - p.y).abs() < 1e-4);
    }
}
