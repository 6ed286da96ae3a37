use facekit_core::{Stage, timed};

use crate::RgbImage;
use crate::simd::avx2_dispatch;

/// Writes `img` as one planar `3 × H × W` `f32` block (channels R, G, B) into
/// `out`, each value `(pixel − mean) · (1 / std)` as `cv2.dnn.blobFromImage`
/// computes it. `out` must hold exactly `3 · W · H` values.
///
/// # Panics
/// If `out` has the wrong length (a programming error, not bad input).
pub fn write_nchw(img: &RgbImage, mean: f32, std: f32, out: &mut [f32]) {
    let scale = (1.0 / f64::from(std)) as f32;
    write_planes(img, [0, 1, 2], [mean; 3], scale, out);
}

thread_local! {
    /// This thread's input-tensor buffer, kept between images.
    static SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `f` on `img` packed by `write(img, buffer)` into this thread's
/// reused buffer. A detector's input is megabytes (3 × 640 × 640 `f32`):
/// allocated afresh for every image, its pages came zeroed from the kernel
/// each time, 4–6 % of `get_batch`'s CPU (`perf`). A nested call gets a
/// buffer of its own.
fn with_packed<R>(
    img: &RgbImage,
    write: impl FnOnce(&RgbImage, &mut [f32]),
    f: impl FnOnce(&[f32]) -> R,
) -> R {
    let mut buffer = SCRATCH.take();
    buffer.resize(img.width() as usize * img.height() as usize * 3, 0.0);
    timed(Stage::Resize, || write(img, &mut buffer));
    let result = f(&buffer);
    SCRATCH.set(buffer);
    result
}

/// Runs `f` on `img` as [`write_nchw`] packs it, in a buffer reused
/// between calls on the same thread.
pub fn with_nchw<R>(img: &RgbImage, mean: f32, std: f32, f: impl FnOnce(&[f32]) -> R) -> R {
    with_packed(img, |img, out| write_nchw(img, mean, std, out), f)
}

/// Runs `f` on `img` as [`write_nchw_bgr`] packs it, in a buffer reused
/// between calls on the same thread.
pub fn with_nchw_bgr<R>(img: &RgbImage, mean_bgr: [f32; 3], f: impl FnOnce(&[f32]) -> R) -> R {
    with_packed(img, |img, out| write_nchw_bgr(img, mean_bgr, out), f)
}

/// Writes `img` as planar B, G, R `f32` values `pixel − mean[plane]`, the
/// input of detectors trained with OpenCV's channel order (YuNet, the PyTorch
/// RetinaFace). Same length rule as [`write_nchw`].
pub fn write_nchw_bgr(img: &RgbImage, mean_bgr: [f32; 3], out: &mut [f32]) {
    write_planes(img, [2, 1, 0], mean_bgr, 1.0, out);
}

avx2_dispatch! {
    /// `out[plane k] = (pixel[channel[k]] − mean[k]) · scale`.
    fn write_planes(img: &RgbImage, channel: [usize; 3], mean: [f32; 3], scale: f32, out: &mut [f32]) {
        let plane = img.width() as usize * img.height() as usize;
        assert_eq!(
            out.len(),
            plane * 3,
            "tensor buffer does not match the image"
        );
        let (p0, rest) = out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
            p0[i] = (f32::from(px[channel[0]]) - mean[0]) * scale;
            p1[i] = (f32::from(px[channel[1]]) - mean[1]) * scale;
            p2[i] = (f32::from(px[channel[2]]) - mean[2]) * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_rgb_and_normalised() {
        let img = RgbImage::from_raw(1, 1, vec![255, 127, 0]).unwrap();
        let mut out = [0.0; 3];
        write_nchw(&img, 127.5, 128.0, &mut out);
        assert_eq!(out, [127.5 / 128.0, -0.5 / 128.0, -127.5 / 128.0]);
        write_nchw_bgr(&img, [104.0, 117.0, 123.0], &mut out);
        assert_eq!(out, [-104.0, 10.0, 132.0]);
        // The reused buffer fits each image, nested calls included.
        let two = RgbImage::from_raw(2, 1, vec![255, 127, 0, 0, 0, 0]).unwrap();
        let lens = with_nchw(&two, 127.5, 128.0, |a| {
            (
                a.len(),
                with_nchw_bgr(&img, [104.0, 117.0, 123.0], |b| b.to_vec()),
            )
        });
        assert_eq!(lens, (6, vec![-104.0, 10.0, 132.0]));
        assert_eq!(with_nchw(&img, 127.5, 128.0, <[f32]>::to_vec).len(), 3);
    }
}
