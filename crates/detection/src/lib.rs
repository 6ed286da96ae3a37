//! Face detectors: SCRFD, decoded exactly as InsightFace 2.1's `scrfd.py`.
//!
//! A detector takes a decoded [`RgbImage`](facekit_image::RgbImage) and returns
//! [`Detection`](facekit_core::Detection)s (box, score, five landmarks) in
//! source-image pixels. Depends on `facekit-core`, `facekit-image` and
//! `facekit-runtime`.
//!
//! ```no_run
//! use facekit_detection::{DetectOptions, Scrfd};
//! use facekit_runtime::{Runtime, RuntimeOptions};
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let scrfd = Scrfd::new(runtime.load("det_500m.onnx".as_ref())?)?;
//! let img = facekit_image::decode_file("t1.jpg".as_ref(), &Default::default())?;
//! let faces = scrfd.detect(&img, &DetectOptions::default())?;
//! println!("{} faces", faces.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod scrfd;

pub use scrfd::{AUTO_DET_SIZES, DetSize, DetectOptions, DetectionError, Scrfd};
