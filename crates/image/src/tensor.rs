use crate::RgbImage;

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

/// Writes `img` as planar B, G, R `f32` values `pixel − mean[plane]`, the
/// input of detectors trained with OpenCV's channel order (YuNet, the PyTorch
/// RetinaFace). Same length rule as [`write_nchw`].
pub fn write_nchw_bgr(img: &RgbImage, mean_bgr: [f32; 3], out: &mut [f32]) {
    write_planes(img, [2, 1, 0], mean_bgr, 1.0, out);
}

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
    }
}
