//! `cv2.resize(…, INTER_LINEAR)` for 8-bit images, reproduced bit for bit.
//!
//! Written by hand rather than taken from a resampling crate because parity
//! demands OpenCV's exact fixed-point arithmetic: 11-bit coefficients rounded
//! half-to-even from `f32`, an `i32` horizontal pass, and the vertical pass as
//! OpenCV's SIMD kernel computes it (`((h0 >> 4) · β0 >> 16) + ((h1 >> 4) · β1
//! >> 16)`, then a rounding shift by 2). Horizontal positions are clamped to
//! the image, vertical ones are not: rows are clipped instead, with their
//! coefficients kept, exactly as OpenCV does. Verified against OpenCV 5.0 on
//! up- and down-scales of random images and on the golden pixels in
//! `shared/golden/opencv-5.0/pixels`.

use facekit_core::{Stage, timed};

use crate::RgbImage;
use crate::simd::avx2_dispatch;

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// One output coordinate: first source index and the two fixed-point weights.
#[derive(Clone, Copy)]
struct Tap {
    src: isize,
    w0: i32,
    w1: i32,
}

fn taps(dst_len: u32, src_len: u32, clamp: bool) -> Vec<Tap> {
    let scale = 1.0 / (f64::from(dst_len) / f64::from(src_len));
    (0..dst_len)
        .map(|d| {
            let f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut src = f.floor() as isize;
            let mut frac = f - src as f32;
            if clamp {
                if src < 0 {
                    (src, frac) = (0, 0.0);
                }
                if src >= src_len as isize - 1 {
                    (src, frac) = (src_len as isize - 1, 0.0);
                }
            }
            Tap {
                src,
                w0: ((1.0 - frac) * COEF_SCALE).round_ties_even() as i32,
                w1: (frac * COEF_SCALE).round_ties_even() as i32,
            }
        })
        .collect()
}

#[inline(always)]
fn horizontal_pass(row: &[u8], xtaps: &[Tap], src_width: usize, out: &mut [i32]) {
    for (dx, t) in xtaps.iter().enumerate() {
        let s0 = t.src as usize;
        let s1 = (s0 + 1).min(src_width - 1);
        for c in 0..3 {
            out[dx * 3 + c] = i32::from(row[s0 * 3 + c]) * t.w0 + i32::from(row[s1 * 3 + c]) * t.w1;
        }
    }
}

avx2_dispatch! {
    /// Resizes to `dst_width × dst_height` exactly as OpenCV's `INTER_LINEAR`.
    /// A zero target dimension is raised to 1.
    pub fn resize_linear(src: &RgbImage, dst_width: u32, dst_height: u32) -> RgbImage {
        let (dw, dh) = (dst_width.max(1), dst_height.max(1));
        if (dw, dh) == (src.width(), src.height()) {
            return src.clone();
        }
        let (sw, sh) = (src.width() as usize, src.height() as usize);
        let xtaps = taps(dw, src.width(), true);
        let ytaps = taps(dh, src.height(), false);
        let clip_row = |y: isize| y.clamp(0, sh as isize - 1) as usize;

        let width = dw as usize * 3;
        let mut out = RgbImage::new(dw, dh);
        // Two horizontally resampled source rows; output rows only move down, so
        // evicting the lower-numbered (older) row is always right.
        let mut slots: [(Option<usize>, Vec<i32>); 2] =
            [(None, vec![0; width]), (None, vec![0; width])];
        let load = |y: usize, protect: Option<usize>, slots: &mut [(Option<usize>, Vec<i32>); 2]| {
            if let Some(i) = slots.iter().position(|(k, _)| *k == Some(y)) {
                return i;
            }
            let i = match protect {
                Some(p) => 1 - p,
                None => usize::from(slots[0].0.is_some() && slots[1].0 < slots[0].0),
            };
            horizontal_pass(src.row(y as u32), &xtaps, sw, &mut slots[i].1);
            slots[i].0 = Some(y);
            i
        };
        for (dy, t) in ytaps.iter().enumerate() {
            let i0 = load(clip_row(t.src), None, &mut slots);
            let i1 = load(clip_row(t.src + 1), Some(i0), &mut slots);
            let (r0, r1) = (&slots[i0].1, &slots[i1].1);
            let dst = &mut out.as_raw_mut()[dy * width..(dy + 1) * width];
            for ((d, &a), &b) in dst.iter_mut().zip(r0).zip(r1) {
                let v = (((a >> 4) * t.w0) >> 16) + (((b >> 4) * t.w1) >> 16);
                *d = ((v + 2) >> 2).clamp(0, 255) as u8;
            }
        }
        out
    }
}

/// The result of [`letterbox`]: the model-sized canvas and the factor that
/// maps canvas coordinates back to the source (`source = canvas / scale`).
#[derive(Debug, Clone)]
pub struct Letterbox {
    /// Canvas of exactly the requested size, the resized photo at top-left.
    pub canvas: RgbImage,
    /// `resized height / source height`, as InsightFace's `det_scale`.
    pub scale: f32,
}

/// InsightFace SCRFD's letterbox: keep the aspect ratio, resize with
/// [`resize_linear`] so the image fits `width × height`, place it top-left on
/// a black canvas.
pub fn letterbox(src: &RgbImage, width: u32, height: u32) -> Letterbox {
    timed(Stage::Resize, || place_on_canvas(src, width, height))
}

fn place_on_canvas(src: &RgbImage, width: u32, height: u32) -> Letterbox {
    let im_ratio = f64::from(src.height()) / f64::from(src.width());
    let model_ratio = f64::from(height) / f64::from(width);
    let (new_w, new_h) = if im_ratio > model_ratio {
        ((f64::from(height) / im_ratio) as u32, height)
    } else {
        (width, (f64::from(width) * im_ratio) as u32)
    };
    let (new_w, new_h) = (new_w.max(1), new_h.max(1));
    let scale = (f64::from(new_h) / f64::from(src.height())) as f32;
    let resized = resize_linear(src, new_w, new_h);
    let mut canvas = RgbImage::new(width, height);
    canvas.paste_top_left(&resized);
    Letterbox { canvas, scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_half_size_averages_two_by_two_blocks() {
        let img =
            RgbImage::from_raw(2, 2, vec![0, 0, 0, 10, 10, 10, 20, 20, 20, 31, 31, 31]).unwrap();
        let out = resize_linear(&img, 1, 1);
        // (0 + 10 + 20 + 31 + 2) >> 2 = 15
        assert_eq!(out.as_raw(), &[15, 15, 15]);
    }

    #[test]
    fn letterbox_keeps_aspect_and_pads_bottom() {
        let img = RgbImage::from_raw(4, 2, vec![200; 24]).unwrap();
        let lb = letterbox(&img, 8, 8);
        assert_eq!(lb.scale, 2.0);
        assert_eq!(lb.canvas.pixel(7, 3), [200, 200, 200]);
        assert_eq!(lb.canvas.pixel(0, 4), [0, 0, 0]);
    }
}
