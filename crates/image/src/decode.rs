//! Photo decoding that gives the pixels `cv2.imread(path, IMREAD_COLOR)` gives.
//!
//! The format is sniffed from the bytes, never the extension (a `.jpg` that is
//! really a PNG is common). JPEG goes through libjpeg-turbo's decoder with
//! OpenCV's settings (accurate integer IDCT, fancy upsampling) and its EXIF
//! orientation is applied; truncated JPEGs decode partially, as OpenCV does.
//! Other formats go through the `image` crate. Grayscale is expanded to three
//! channels, alpha is dropped (not composited) and 16-bit samples keep their
//! high byte — OpenCV's conventions. Size limits are checked from the header,
//! before any pixel is decoded.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use facekit_core::{Stage, timed};
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::RgbImage;

/// Bounds on what a decode may read and allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted `width × height` (default 50 megapixels).
    pub max_pixels: u64,
    /// Largest accepted encoded size in bytes (default 100 MiB).
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_file_bytes: 100 << 20,
        }
    }
}

/// Why an image could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input has no bytes.
    #[error("the image is empty (0 bytes)")]
    Empty,
    /// The encoded size is above [`DecodeLimits::max_file_bytes`].
    #[error("the file is {bytes} bytes, above the limit of {limit} bytes")]
    FileTooLarge {
        /// Encoded size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The header declares more pixels than [`DecodeLimits::max_pixels`].
    #[error("the image is {width}×{height} ({} MP), above the limit of {} MP", (*.width as u64 * *.height as u64) as f64 / 1e6, *.limit as f64 / 1e6)]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit in pixels.
        limit: u64,
    },
    /// The bytes are not a format facekit reads.
    #[error("unrecognised image format (not JPEG, PNG, WebP, BMP, TIFF, GIF or ICO)")]
    UnknownFormat,
    /// The data is corrupt or truncated beyond recovery.
    #[error("corrupt {format} data: {reason}")]
    Corrupt {
        /// Detected format.
        format: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// The header declares a zero-sized image.
    #[error("the image has zero width or height")]
    ZeroSized,
}

/// Reads and decodes a file; errors name the path.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    // Reading counts as decoding; decode_bytes times itself.
    let bytes = timed(Stage::Decode, || read_file(path, limits))?;
    decode_bytes(&bytes, limits)
}

/// Reads a file's bytes, refusing (from its size, before reading) a file
/// over `limits.max_file_bytes`; for callers that need the bytes too, e.g.
/// to hash them, before [`decode_bytes`].
pub fn read_file(path: &Path, limits: &DecodeLimits) -> Result<Vec<u8>, DecodeError> {
    let io = |source| DecodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    // Devices and pipes report no length and may never end (/dev/zero).
    if !meta.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let too_large = |bytes| DecodeError::FileTooLarge {
        bytes,
        limit: limits.max_file_bytes,
    };
    if meta.len() > limits.max_file_bytes {
        return Err(too_large(meta.len()));
    }
    // Bounded read: the file may grow after the check.
    use std::io::Read;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .map_err(io)?
        .take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Decodes an encoded image held in memory.
pub fn decode_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    timed(Stage::Decode, || decode_within(bytes, limits))
}

fn decode_within(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge {
            bytes: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_jpeg(bytes, limits)
    } else {
        decode_other(bytes, limits)
    }
}

fn check_size(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), DecodeError> {
    if width == 0 || height == 0 {
        return Err(DecodeError::ZeroSized);
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// Most scans a JPEG may have. Ordinary progressive files have about 10;
/// each scan makes libjpeg pass over the whole image again, so a crafted
/// file of thousands of tiny scans would hold a core for minutes.
pub const MAX_JPEG_SCANS: usize = 100;

/// Scans (SOS markers) of a JPEG stream, walking its segments (so a
/// thumbnail inside an APP segment does not count), stopping past `limit`.
fn jpeg_scans(bytes: &[u8], limit: usize) -> usize {
    let mut scans = 0;
    let mut i = 2;
    while i + 1 < bytes.len() && scans <= limit {
        if bytes[i] != 0xFF {
            i += 1; // entropy-coded data
            continue;
        }
        match bytes[i + 1] {
            // Stuffed byte, restart marker, fill byte: still inside a scan.
            0x00 | 0xD0..=0xD7 | 0xFF | 0x01 => i += if bytes[i + 1] == 0xFF { 1 } else { 2 },
            0xD9 => break,
            marker => {
                if marker == 0xDA {
                    scans += 1;
                }
                let Some(len) = bytes.get(i + 2..i + 4) else {
                    break;
                };
                i += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
        }
    }
    scans
}

fn decode_jpeg(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    let corrupt = |reason: String| DecodeError::Corrupt {
        format: "JPEG",
        reason,
    };
    let scans = jpeg_scans(bytes, MAX_JPEG_SCANS);
    if scans > MAX_JPEG_SCANS {
        return Err(corrupt(format!(
            "more than {MAX_JPEG_SCANS} scans (refused: decoding them would take too long)"
        )));
    }
    // libjpeg reports fatal errors by unwinding out of its error handler; the
    // mozjpeg crate turns them into a Rust unwind that we catch here.
    let result = catch_unwind(AssertUnwindSafe(
        || -> Result<(RgbImage, u32), DecodeError> {
            let mut dec = mozjpeg::Decompress::with_markers(&[mozjpeg::Marker::APP(1)])
                .from_mem(bytes)
                .map_err(|e| corrupt(e.to_string()))?;
            let (w, h) = (dec.width() as u32, dec.height() as u32);
            check_size(w, h, limits)?;
            let orientation = dec
                .markers()
                .find_map(|m| exif_orientation(m.data))
                .unwrap_or(1);
            dec.dct_method(mozjpeg::DctMethod::IntegerSlow);
            dec.do_fancy_upsampling(true);
            let mut started = dec.rgb().map_err(|e| corrupt(e.to_string()))?;
            let data: Vec<u8> = started
                .read_scanlines()
                .map_err(|e| corrupt(e.to_string()))?;
            // A truncated stream yields gray rows after the cut, as in OpenCV.
            let _ = started.finish();
            let img = RgbImage::from_raw(w, h, data)
                .ok_or_else(|| corrupt("decoder returned a short image".into()))?;
            Ok((img, orientation))
        },
    ));
    let (img, orientation) = match result {
        Ok(r) => r?,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg error".into());
            return Err(corrupt(
                reason
                    .trim_start_matches("libjpeg fatal error: ")
                    .to_string(),
            ));
        }
    };
    Ok(apply_orientation(img, orientation))
}

/// The EXIF orientation (1–8) from an APP1 segment, if it holds one.
fn exif_orientation(app1: &[u8]) -> Option<u32> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    field.value.get_uint(0).filter(|o| (1..=8).contains(o))
}

fn decode_other(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| DecodeError::UnknownFormat)?;
    let format = reader.format().ok_or(DecodeError::UnknownFormat)?;
    let name = format_name(format);
    let corrupt = |e: image::ImageError| DecodeError::Corrupt {
        format: name,
        reason: e.to_string(),
    };
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (w, h) = decoder.dimensions();
    check_size(w, h, limits)?;
    let mut io_limits = image::Limits::default();
    io_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(64 << 20));
    decoder.set_limits(io_limits).map_err(corrupt)?;
    let orientation = decoder.orientation().ok();
    let mut dynamic = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    if let Some(o) = orientation {
        dynamic.apply_orientation(o);
    }
    Ok(to_rgb8_like_opencv(dynamic))
}

fn format_name(format: image::ImageFormat) -> &'static str {
    use image::ImageFormat as F;
    match format {
        F::Png => "PNG",
        F::WebP => "WebP",
        F::Bmp => "BMP",
        F::Tiff => "TIFF",
        F::Gif => "GIF",
        F::Ico => "ICO",
        _ => "image",
    }
}

/// Converts to 8-bit RGB with OpenCV's rules: alpha dropped, gray replicated,
/// 16-bit samples reduced to their high byte (libpng's `strip_16`).
fn to_rgb8_like_opencv(img: DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let data = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageRgba8(b) => b.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        DynamicImage::ImageLuma8(b) => b.iter().flat_map(|&v| [v, v, v]).collect(),
        DynamicImage::ImageLumaA8(b) => b.chunks_exact(2).flat_map(|p| [p[0]; 3]).collect(),
        DynamicImage::ImageRgb16(b) => b.iter().map(|&v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => b
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8))
            .collect(),
        DynamicImage::ImageLuma16(b) => b.iter().flat_map(|&v| [(v >> 8) as u8; 3]).collect(),
        DynamicImage::ImageLumaA16(b) => b
            .chunks_exact(2)
            .flat_map(|p| [(p[0] >> 8) as u8; 3])
            .collect(),
        other => other.to_rgb8().into_raw(),
    };
    RgbImage::from_raw(w, h, data).expect("conversion keeps the pixel count")
}

/// Rotates/flips as EXIF orientation `o` asks (2–8; anything else is a no-op).
fn apply_orientation(img: RgbImage, o: u32) -> RgbImage {
    if !(2..=8).contains(&o) {
        return img;
    }
    let (w, h) = (img.width(), img.height());
    let transposed = o >= 5;
    let (ow, oh) = if transposed { (h, w) } else { (w, h) };
    let mut out = RgbImage::new(ow, oh);
    let src = img.as_raw();
    let dst = out.as_raw_mut();
    for y in 0..oh {
        for x in 0..ow {
            // Source pixel for output (x, y) under each orientation.
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x), // 8
            };
            let s = (sy as usize * w as usize + sx as usize) * 3;
            let d = (y as usize * ow as usize + x as usize) * 3;
            dst[d..d + 3].copy_from_slice(&src[s..s + 3]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_six_rotates_clockwise() {
        // 2×1 image [A B] rotated 90° clockwise becomes a 1×2 column [A; B].
        let img = RgbImage::from_raw(2, 1, vec![1, 1, 1, 2, 2, 2]).unwrap();
        let out = apply_orientation(img, 6);
        assert_eq!((out.width(), out.height()), (1, 2));
        assert_eq!(out.as_raw(), &[1, 1, 1, 2, 2, 2]);
        let img = RgbImage::from_raw(2, 1, vec![1, 1, 1, 2, 2, 2]).unwrap();
        assert_eq!(apply_orientation(img, 8).as_raw(), &[2, 2, 2, 1, 1, 1]);
    }

    #[test]
    fn empty_and_garbage_are_clear_errors() {
        let limits = DecodeLimits::default();
        assert!(matches!(
            decode_bytes(b"", &limits),
            Err(DecodeError::Empty)
        ));
        assert!(matches!(
            decode_bytes(b"hello", &limits),
            Err(DecodeError::UnknownFormat)
        ));
        let jpeg_garbage = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 1, 2, 3];
        let err = decode_bytes(&jpeg_garbage, &limits).unwrap_err();
        assert!(
            matches!(err, DecodeError::Corrupt { format: "JPEG", .. }),
            "{err}"
        );
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        // A PNG header declaring 30000×30000 with no pixel data behind it.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&30000u32.to_be_bytes());
        png.extend_from_slice(&30000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        let crc = crc32(&png[12..]);
        png.extend_from_slice(&crc.to_be_bytes());
        // An IDAT holding an empty zlib stream, so the header parses completely.
        let idat: &[u8] = b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01";
        png.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
        png.extend_from_slice(idat);
        png.extend_from_slice(&crc32(idat).to_be_bytes());
        let err = decode_bytes(&png, &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooManyPixels { width: 30000, .. }),
            "{err}"
        );
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
