//! Face detectors: SCRFD (decoded exactly as InsightFace 2.1's `scrfd.py`),
//! YuNet (as OpenCV's `FaceDetectorYN`) and the PyTorch RetinaFace (as
//! biubug6's `detect.py`), behind one [`FaceDetector`].
//!
//! A detector takes a decoded [`RgbImage`](facekit_image::RgbImage) and returns
//! [`Detection`](facekit_core::Detection)s (box, score, five landmarks) in
//! source-image pixels. Depends on `facekit-core`, `facekit-image` and
//! `facekit-runtime`.
//!
//! ```no_run
//! use facekit_detection::{DetectOptions, DetectorKind, FaceDetector};
//! use facekit_runtime::{Runtime, RuntimeOptions};
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let model = runtime.load("det_500m.onnx".as_ref())?;
//! let detector = FaceDetector::new(DetectorKind::Scrfd, model)?;
//! let img = facekit_image::decode_file("t1.jpg".as_ref(), &Default::default())?;
//! let faces = detector.detect(&img, &DetectOptions::default())?;
//! println!("{} faces", faces.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod detector;
mod options;
mod retinaface;
mod scrfd;
mod yunet;

pub use detector::{DetectorKind, FaceDetector};
pub use options::{AUTO_DET_SIZES, DEFAULT_MAX_SIDE, DetSize, DetectOptions, DetectionError};
pub use retinaface::{Prior, RetinaFace, decode_box, decode_landmarks, prior_boxes};
pub use scrfd::Scrfd;
pub use yunet::YuNet;
