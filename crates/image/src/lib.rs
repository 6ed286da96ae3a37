//! Images for facekit: decoding, resizing, warping and tensor packing, with
//! the same pixels OpenCV produces.
//!
//! InsightFace reads photos with `cv2.imread` and prepares model inputs with
//! `cv2.resize` and `cv2.warpAffine`. A grey level of difference moves
//! detector scores near the threshold and so changes face counts, which is why
//! this crate reproduces OpenCV's arithmetic instead of using a generic
//! resampler: JPEG goes through libjpeg-turbo's decoder (via `mozjpeg`, the
//! same accurate integer IDCT and fancy upsampling OpenCV uses), other formats
//! through the `image` crate; [`resize_linear`] is bit-exact with OpenCV's
//! fixed-point `INTER_LINEAR`, and [`warp_affine`] follows OpenCV 5's float
//! bilinear kernel; JPEG encoding and simple marks (boxes, labels) for
//! previews are here too. The pixel kernels run compiled for AVX2 when the CPU has
//! it, with the same bytes as the baseline build. Depends only on
//! `facekit-core`.
//!
//! ```no_run
//! use facekit_image::{DecodeLimits, decode_file, resize_linear};
//! let img = decode_file("photo.jpg".as_ref(), &DecodeLimits::default())?;
//! let small = resize_linear(&img, img.width() / 2, img.height() / 2);
//! assert_eq!(small.width(), img.width() / 2);
//! # Ok::<(), facekit_image::DecodeError>(())
//! ```

mod decode;
mod draw;
mod encode;
mod raster;
mod resize;
mod simd;
mod tensor;
mod warp;

pub use decode::{DecodeError, DecodeLimits, decode_bytes, decode_file, read_file};
pub use draw::{draw_rect, draw_text, put_pixel};
pub use encode::encode_jpeg;
pub use raster::RgbImage;
pub use resize::{Letterbox, letterbox, resize_linear};
pub use tensor::{with_nchw, with_nchw_bgr, write_nchw, write_nchw_bgr};
pub use warp::warp_affine;
