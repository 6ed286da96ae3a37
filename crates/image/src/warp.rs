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
#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    (f64::from(a) * f64::from(b) + f64::from(c)) as f32
}

/// `v.round_ties_even() as u8` for `v` in `[0, 255]`, without libm: adding
/// 2²³ leaves no fraction bits, so the addition itself rounds half to even.
#[inline(always)]
fn round_to_u8(v: f32) -> u8 {
    const SHIFT: f32 = 8_388_608.0;
    ((v.clamp(0.0, 255.0) + SHIFT) - SHIFT) as u8
}

/// `⌊v⌋` for `|v| ≤ 1e9` (the range the warp accepts), without libm.
#[inline(always)]
fn floor_to_i64(v: f32) -> i64 {
    let t = v as i64;
    t - i64::from((t as f32) > v)
}

/// Warps `src` by `forward` (source → destination coordinates) into an image of
/// `width × height`; pixels that map outside the source are black.
pub fn warp_affine(src: &RgbImage, forward: &Affine2, width: u32, height: u32) -> RgbImage {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        #[allow(unsafe_code)]
        return unsafe { x86::warp_affine(src, forward, width, height) };
    }
    warp_with(src, forward, width, height, blend_scalar)
}

/// One interior pixel, channel by channel (the portable build).
#[inline(always)]
fn blend_scalar(win: &[u8], stride: usize, ax: f32, ay: f32, px: &mut [u8]) {
    for (c, out) in px.iter_mut().enumerate() {
        let at = |i: usize| f32::from(win[i + c]);
        *out = lerp(ax, ay, [at(0), at(3), at(stride), at(stride + 3)]);
    }
}

/// The bilinear blend of `[p00, p01, p10, p11]` at `(ax, ay)`, OpenCV's
/// order of operations.
#[inline(always)]
fn lerp(ax: f32, ay: f32, [p00, p01, p10, p11]: [f32; 4]) -> u8 {
    let top = fma(ax, p01 - p00, p00);
    let bottom = fma(ax, p11 - p10, p10);
    round_to_u8(fma(ay, bottom - top, top))
}

/// The warp, with `interior(window, stride, ax, ay, out)` blending the
/// pixels whose four neighbours are inside the source and whose window
/// (`stride + 7` bytes from the top-left neighbour) is too: the hot path,
/// which the AVX2 build does for three channels at once.
#[inline(always)]
fn warp_with(
    src: &RgbImage,
    forward: &Affine2,
    width: u32,
    height: u32,
    interior: impl Fn(&[u8], usize, f32, f32, &mut [u8]),
) -> RgbImage {
    let [[m0, m1, m2], [m3, m4, m5]] = forward.inverse().0;
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let data = src.as_raw();
    let stride = sw as usize * 3;
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
            let (ix, iy) = (floor_to_i64(sx), floor_to_i64(sy));
            let (ax, ay) = (sx - ix as f32, sy - iy as f32);
            if ix < -1 || iy < -1 || ix >= sw || iy >= sh {
                continue;
            }
            let o = (y as usize * width as usize + x as usize) * 3;
            let px = &mut dst[o..o + 3];
            let base = (iy.max(0) as usize) * stride + ix.max(0) as usize * 3;
            if ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh && base + stride + 7 <= data.len() {
                interior(&data[base..base + stride + 7], stride, ax, ay, px);
            } else {
                for (c, out) in px.iter_mut().enumerate() {
                    *out = lerp(
                        ax,
                        ay,
                        [
                            fetch(ix, iy, c),
                            fetch(ix + 1, iy, c),
                            fetch(ix, iy + 1, c),
                            fetch(ix + 1, iy + 1, c),
                        ],
                    );
                }
            }
        }
    }
    out
}

/// The AVX2 build: the blend of one pixel's three channels in the lanes of
/// one vector, with the scalar path's exact operations (f64 multiply and
/// add, each rounded, then to f32), so the bytes are the same.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Affine2, RgbImage, warp_with};

    #[target_feature(enable = "avx2")]
    pub(super) fn warp_affine(
        src: &RgbImage,
        forward: &Affine2,
        width: u32,
        height: u32,
    ) -> RgbImage {
        // The closure inherits this function's target features.
        warp_with(src, forward, width, height, |win, stride, ax, ay, px| {
            blend(win, stride, ax, ay, px)
        })
    }

    /// Four bytes from `at` (the pixel's three channels and one spare) as
    /// `f32` lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes(win: &[u8], at: usize) -> __m128 {
        let bytes = u32::from_le_bytes([win[at], win[at + 1], win[at + 2], win[at + 3]]);
        _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytes as i32)))
    }

    /// `(a·b + c)` per lane in `f64`, rounded to `f32`: the scalar `fma`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fma(a: f32, b: __m128, c: __m128) -> __m128 {
        let product = _mm256_mul_pd(_mm256_set1_pd(f64::from(a)), _mm256_cvtps_pd(b));
        _mm256_cvtpd_ps(_mm256_add_pd(product, _mm256_cvtps_pd(c)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn blend(win: &[u8], stride: usize, ax: f32, ay: f32, px: &mut [u8]) {
        let (p00, p01) = (lanes(win, 0), lanes(win, 3));
        let (p10, p11) = (lanes(win, stride), lanes(win, stride + 3));
        let top = fma(ax, _mm_sub_ps(p01, p00), p00);
        let bottom = fma(ax, _mm_sub_ps(p11, p10), p10);
        let v = fma(ay, _mm_sub_ps(bottom, top), top);
        let v = _mm_min_ps(_mm_max_ps(v, _mm_setzero_ps()), _mm_set1_ps(255.0));
        let shift = _mm_set1_ps(8_388_608.0);
        let rounded = _mm_cvttps_epi32(_mm_sub_ps(_mm_add_ps(v, shift), shift));
        let packed = _mm_packus_epi16(_mm_packus_epi32(rounded, rounded), rounded);
        let [r, g, b, _] = (_mm_cvtsi128_si32(packed) as u32).to_le_bytes();
        px.copy_from_slice(&[r, g, b]);
    }
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
    fn libm_free_rounding_and_floor_match_std() {
        for i in 0..=25_500 {
            let v = i as f32 / 100.0;
            assert_eq!(round_to_u8(v), v.round_ties_even() as u8, "{v}");
            assert_eq!(
                round_to_u8(v + 0.5),
                (v + 0.5).round_ties_even().min(255.0) as u8
            );
        }
        for v in [
            -2.5f32,
            -1.0,
            -0.25,
            -0.0,
            0.0,
            0.75,
            3.0,
            1e9,
            -1e9,
            16_777_217.0,
        ] {
            assert_eq!(floor_to_i64(v), v.floor() as i64, "{v}");
        }
    }

    /// The AVX2 build gives the scalar build's bytes on rotated, scaled,
    /// shifted and mirrored warps of a random image, borders included.
    #[test]
    fn vector_and_scalar_builds_agree() {
        let (w, h) = (61u32, 47u32);
        let mut state = 12345u32;
        let data: Vec<u8> = (0..w * h * 3)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect();
        let img = RgbImage::from_raw(w, h, data).unwrap();
        let scalar = |m: &Affine2| warp_with(&img, m, 40, 40, blend_scalar);
        for (angle, scale, tx) in [
            (0.3f64, 0.9, -5.0),
            (-1.2, 1.7, 12.5),
            (2.9, 0.45, 3.3),
            (0.0, -1.0, 40.0),
        ] {
            let (c, s) = (angle.cos() * scale, angle.sin() * scale);
            let m = Affine2([[c, -s, tx], [s, c, -tx / 2.0]]);
            assert_eq!(warp_affine(&img, &m, 40, 40), scalar(&m), "angle {angle}");
        }
    }

    #[test]
    fn half_pixel_shift_interpolates() {
        let img = RgbImage::from_raw(2, 1, vec![0, 0, 0, 100, 100, 100]).unwrap();
        let shift = Affine2([[1.0, 0.0, -0.5], [0.0, 1.0, 0.0]]);
        assert_eq!(warp_affine(&img, &shift, 1, 1).as_raw(), &[50, 50, 50]);
    }
}
