//! `cv2.warpAffine(…, INTER_LINEAR, BORDER_CONSTANT 0)` for 8-bit RGB.
//!
//! OpenCV 5 samples in `f32`: source coordinates by fused multiply-add from
//! the inverted matrix, then two linear interpolations (along x, then y), each
//! a fused multiply-add, rounded half-to-even. This reproduces that kernel;
//! OpenCV's wheels may route the call through Intel IPP, which differs from it
//! by one grey level on about one pixel in ten thousand.

use facekit_core::Affine2;

use crate::RgbImage;

/// `a·b + c` rounded once to `f32`, as the SIMD `fma` OpenCV uses. The product
/// of two `f32` is exact in `f64`, so this differs from a true fused
/// multiply-add only on exact ties, and it vectorises without libm calls.
#[inline]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    (f64::from(a) * f64::from(b) + f64::from(c)) as f32
}

/// Warps `src` by `forward` (source → destination coordinates) into an image of
/// `width × height`; pixels that map outside the source are black.
pub fn warp_affine(src: &RgbImage, forward: &Affine2, width: u32, height: u32) -> RgbImage {
    let [[m0, m1, m2], [m3, m4, m5]] = forward.inverse().0;
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let data = src.as_raw();
    let fetch = |x: i64, y: i64, c: usize| -> f32 {
        if x >= 0 && y >= 0 && x < sw && y < sh {
            f32::from(data[((y * sw + x) * 3) as usize + c])
        } else {
            0.0
        }
    };
    let (m0f, m3f) = (m0 as f32, m3 as f32);
    let mut out = RgbImage::new(width, height);
    let dst = out.as_raw_mut();
    for y in 0..height {
        let row_x = (f64::from(y) * m1 + m2) as f32;
        let row_y = (f64::from(y) * m4 + m5) as f32;
        for x in 0..width {
            let sx = fma(m0f, x as f32, row_x);
            let sy = fma(m3f, x as f32, row_y);
            if !(sx.is_finite() && sy.is_finite()) || sx.abs() > 1e9 || sy.abs() > 1e9 {
                continue;
            }
            let (fx, fy) = (sx.floor(), sy.floor());
            let (ax, ay) = (sx - fx, sy - fy);
            let (ix, iy) = (fx as i64, fy as i64);
            if ix < -1 || iy < -1 || ix >= sw || iy >= sh {
                continue;
            }
            let o = (y as usize * width as usize + x as usize) * 3;
            for c in 0..3 {
                let (p00, p01) = (fetch(ix, iy, c), fetch(ix + 1, iy, c));
                let (p10, p11) = (fetch(ix, iy + 1, c), fetch(ix + 1, iy + 1, c));
                let top = fma(ax, p01 - p00, p00);
                let bottom = fma(ax, p11 - p10, p10);
                let v = fma(ay, bottom - top, top);
                dst[o + c] = v.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_warp_copies_and_shift_pads_with_black() {
        let img = RgbImage::from_raw(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
        assert_eq!(warp_affine(&img, &Affine2::IDENTITY, 2, 1), img);
        let shift = Affine2([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]);
        let out = warp_affine(&img, &shift, 2, 1);
        assert_eq!(out.as_raw(), &[0, 0, 0, 10, 20, 30]);
    }

    #[test]
    fn half_pixel_shift_interpolates() {
        let img = RgbImage::from_raw(2, 1, vec![0, 0, 0, 100, 100, 100]).unwrap();
        let shift = Affine2([[1.0, 0.0, -0.5], [0.0, 1.0, 0.0]]);
        assert_eq!(warp_affine(&img, &shift, 1, 1).as_raw(), &[50, 50, 50]);
    }
}
