use crate::RgbImage;

/// Writes `img` as one planar `3 × H × W` `f32` block (channels R, G, B) into
/// `out`, each value `(pixel − mean) · (1 / std)` as `cv2.dnn.blobFromImage`
/// computes it. `out` must hold exactly `3 · W · H` values.
///
/// # Panics
/// If `out` has the wrong length (a programming error, not bad input).
pub fn write_nchw(img: &RgbImage, mean: f32, std: f32, out: &mut [f32]) {
    let plane = img.width() as usize * img.height() as usize;
    assert_eq!(
        out.len(),
        plane * 3,
        "tensor buffer does not match the image"
    );
    let scale = (1.0 / f64::from(std)) as f32;
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        r[i] = (f32::from(px[0]) - mean) * scale;
        g[i] = (f32::from(px[1]) - mean) * scale;
        b[i] = (f32::from(px[2]) - mean) * scale;
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
    }
}
