//! JPEG encoding through libjpeg-turbo (the `mozjpeg` crate the decoder
//! already uses), for previews and thumbnails.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::RgbImage;

/// `img` as a baseline JPEG of `quality` (1–100).
///
/// ```
/// let img = facekit_image::RgbImage::new(16, 8);
/// let jpeg = facekit_image::encode_jpeg(&img, 80).unwrap();
/// assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
/// ```
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> std::io::Result<Vec<u8>> {
    // libjpeg reports errors by unwinding; contain them as io errors.
    catch_unwind(AssertUnwindSafe(|| {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        compress.set_size(img.width() as usize, img.height() as usize);
        compress.set_quality(f32::from(quality.clamp(1, 100)));
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(img.as_raw())?;
        started.finish()
    }))
    .unwrap_or_else(|_| Err(std::io::Error::other("the JPEG encoder failed")))
}
