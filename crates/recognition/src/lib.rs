//! Face embeddings as InsightFace's `ArcFaceONNX`: each face is aligned with
//! `norm_crop` to the model's input size, normalised with the model's mean and
//! standard deviation, and embedded. All faces of an image go through one
//! batched run when the model's batch dimension is dynamic, one run each
//! otherwise. Depends on `facekit-core`, `facekit-image`, `facekit-align` and
//! `facekit-runtime`.
//!
//! ```no_run
//! use facekit_recognition::ArcFace;
//! use facekit_runtime::{Runtime, RuntimeOptions};
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! // Models with the normalisation in the graph take raw pixels (mean 0, std 1).
//! let arcface = ArcFace::new(runtime.load("sface.onnx".as_ref())?, 0.0, 1.0)?;
//! let crop = facekit_image::RgbImage::new(112, 112);
//! let embeddings = arcface.embed_aligned(&[crop])?;
//! assert_eq!(embeddings[0].len(), arcface.dimension());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use facekit_align::{AlignError, norm_crop};
use facekit_core::Point;
use facekit_image::{RgbImage, write_nchw};
use facekit_runtime::{OnnxModel, RuntimeError};

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
pub enum RecognitionError {
    /// The model does not look like a recognition model.
    #[error("{path} is not a recognition model: {reason}")]
    NotRecognizer {
        /// The model file.
        path: String,
        /// What did not match.
        reason: String,
    },
    /// A crop does not have the model's input size.
    #[error("aligned crop is {got}×{got2}, the model takes {want}×{want}")]
    CropSize {
        /// Crop width.
        got: u32,
        /// Crop height.
        got2: u32,
        /// Model input side.
        want: u32,
    },
    /// The face could not be aligned.
    #[error(transparent)]
    Align(#[from] AlignError),
    /// ONNX Runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// An ArcFace-family recognizer.
#[derive(Debug)]
pub struct ArcFace {
    model: OnnxModel,
    input_size: u32,
    mean: f32,
    std: f32,
    dimension: usize,
}

impl ArcFace {
    /// Wraps a loaded model with its input normalisation
    /// (`(pixel − mean) / std`, RGB).
    pub fn new(model: OnnxModel, mean: f32, std: f32) -> Result<Self, RecognitionError> {
        let sig = model.signature();
        let not = |reason: String| RecognitionError::NotRecognizer {
            path: model.path().display().to_string(),
            reason,
        };
        let input = sig.inputs.first().ok_or_else(|| not("no input".into()))?;
        if input.shape.len() != 4 || input.shape[2] != input.shape[3] || input.shape[2] <= 0 {
            return Err(not(format!(
                "input {:?} is not a square NCHW image",
                input.shape
            )));
        }
        if sig.outputs.len() != 1 {
            return Err(not(format!("{} outputs (expected 1)", sig.outputs.len())));
        }
        let dimension = sig.outputs[0]
            .shape
            .last()
            .copied()
            .filter(|&d| d > 0)
            .unwrap_or(0) as usize;
        Ok(Self {
            input_size: input.shape[2] as u32,
            dimension,
            mean,
            std,
            model,
        })
    }

    /// Side of the square input (and of the aligned crops), e.g. 112.
    pub fn input_size(&self) -> u32 {
        self.input_size
    }

    /// Embedding length, as declared by the model (0 if dynamic).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Input mean and standard deviation.
    pub fn normalization(&self) -> (f32, f32) {
        (self.mean, self.std)
    }

    /// Whether all faces of an image go through one run.
    pub fn batches(&self) -> bool {
        self.model.dynamic_batch()
    }

    /// The underlying model.
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// Aligns one face to this model's input size.
    pub fn align(
        &self,
        img: &RgbImage,
        landmarks: &[Point; 5],
    ) -> Result<RgbImage, RecognitionError> {
        Ok(norm_crop(img, landmarks, self.input_size)?)
    }

    /// Raw (not normalised) embeddings of already aligned crops, in order.
    pub fn embed_aligned(&self, crops: &[RgbImage]) -> Result<Vec<Vec<f32>>, RecognitionError> {
        let side = self.input_size;
        if let Some(c) = crops
            .iter()
            .find(|c| c.width() != side || c.height() != side)
        {
            return Err(RecognitionError::CropSize {
                got: c.width(),
                got2: c.height(),
                want: side,
            });
        }
        let side = side as usize;
        Ok(self
            .model
            .run_batch(crops.len(), &[3, side, side], |i, dst| {
                write_nchw(&crops[i], self.mean, self.std, dst)
            })?)
    }
}
