//! Scene cuts, so that detection runs on the first frame of every shot and
//! no track continues across a cut. Each frame is reduced to a 32×18 grey
//! signature with its mean removed and its contrast normalised (a flash or
//! a fade changes brightness, not the picture: it is not a cut); a cut is
//! a signature difference far above the recent ones (adaptive) and above
//! an absolute floor.

use crate::Frame;

const SIG_W: usize = 32;
const SIG_H: usize = 18;
/// A difference under this is never a cut (signatures are in units of
/// their own standard deviation).
const FLOOR: f64 = 0.45;
/// A cut is this many standard deviations above the recent differences.
const SIGMAS: f64 = 4.0;
/// Weight of a new difference in the running statistics.
const DECAY: f64 = 0.1;

/// Finds cuts frame by frame.
#[derive(Debug, Default)]
pub struct CutDetector {
    previous: Option<Vec<f64>>,
    mean: f64,
    var: f64,
    seen: u32,
}

fn signature(frame: &Frame) -> Vec<f64> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let luma = frame.luma();
    let mut sig = vec![0.0; SIG_W * SIG_H];
    let mut counts = vec![0u32; SIG_W * SIG_H];
    // Every 4th pixel of every 4th row is plenty for a 32×18 average.
    for y in (0..h).step_by(4) {
        let sy = y * SIG_H / h;
        for x in (0..w).step_by(4) {
            let i = sy * SIG_W + x * SIG_W / w;
            sig[i] += f64::from(luma[y * w + x]);
            counts[i] += 1;
        }
    }
    for (s, c) in sig.iter_mut().zip(&counts) {
        *s /= f64::from((*c).max(1));
    }
    let mean = sig.iter().sum::<f64>() / sig.len() as f64;
    let std = (sig.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / sig.len() as f64).sqrt();
    sig.iter().map(|v| (v - mean) / std.max(4.0)).collect()
}

impl CutDetector {
    /// Whether `frame` starts a new shot (the first frame does).
    pub fn is_cut(&mut self, frame: &Frame) -> bool {
        let sig = signature(frame);
        let Some(previous) = self.previous.replace(sig) else {
            return true;
        };
        let current = self.previous.as_ref().expect("just set");
        let diff = previous
            .iter()
            .zip(current)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / current.len() as f64;
        let threshold = FLOOR.max(self.mean + SIGMAS * self.var.sqrt());
        let cut = self.seen >= 2 && diff > threshold || self.seen < 2 && diff > FLOOR * 2.0;
        if cut {
            // A new shot: its own statistics.
            (self.mean, self.var, self.seen) = (0.0, 0.0, 0);
        } else {
            let delta = diff - self.mean;
            self.mean += DECAY * delta;
            self.var = (1.0 - DECAY) * (self.var + DECAY * delta * delta);
            self.seen += 1;
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facekit_image::{DecodeLimits, decode_file};

    fn photo(rel: &str) -> facekit_image::RgbImage {
        decode_file(&facekit_testdata::shared(rel), &DecodeLimits::default()).unwrap()
    }

    fn view(img: &facekit_image::RgbImage, x: u32, y: u32) -> Frame {
        Frame::from_rgb(&img.crop(x, y, 640, 480))
    }

    #[test]
    fn a_new_photo_is_a_cut_and_a_pan_or_a_flash_is_not() {
        let group = photo("images/t1.jpg");
        let mut cuts = CutDetector::default();
        assert!(cuts.is_cut(&view(&group, 0, 100)));
        for step in 1..20 {
            assert!(
                !cuts.is_cut(&view(&group, step * 12, 100)),
                "pan step {step}"
            );
        }
        // The same view much brighter: a flash.
        let mut flash = group.crop(19 * 12, 100, 640, 480);
        flash
            .as_raw_mut()
            .iter_mut()
            .for_each(|v| *v = v.saturating_add(60));
        assert!(!cuts.is_cut(&Frame::from_rgb(&flash)));
        let other = photo("identities/face_recognition_knn/train/obama/obama.jpg");
        assert!(cuts.is_cut(&view(&other, 0, 0)));
    }
}
