use facekit_align::box_crop;
use facekit_core::{Affine2, BBox};
use facekit_image::{RgbImage, write_nchw};
use facekit_runtime::{OnnxModel, RuntimeError};

/// Why an attribute or landmark model could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    /// The model's signature does not fit the role it was given.
    #[error("{path} is not a {role} model: {reason}")]
    WrongModel {
        /// The model file.
        path: String,
        /// What it was loaded as.
        role: &'static str,
        /// What did not match.
        reason: String,
    },
    /// ONNX Runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// A square-input model run on box-centred crops: the part attribute and
/// landmark models share.
#[derive(Debug)]
pub(crate) struct BoxCropModel {
    pub model: OnnxModel,
    pub size: u32,
    /// Length of the single output per face.
    pub outputs: usize,
    mean: f32,
    std: f32,
}

impl BoxCropModel {
    pub fn new(
        model: OnnxModel,
        mean: f32,
        std: f32,
        role: &'static str,
    ) -> Result<Self, AttributeError> {
        let sig = model.signature();
        let wrong = |reason: String| AttributeError::WrongModel {
            path: model.path().display().to_string(),
            role,
            reason,
        };
        let input = sig.inputs.first().ok_or_else(|| wrong("no input".into()))?;
        let square =
            input.shape.len() == 4 && input.shape[2] == input.shape[3] && input.shape[2] > 0;
        if !square || !input.is_f32 {
            return Err(wrong(format!(
                "input {:?} is not a square float NCHW image",
                input.shape
            )));
        }
        let [output] = sig.outputs.as_slice() else {
            return Err(wrong(format!("{} outputs (expected 1)", sig.outputs.len())));
        };
        let outputs = output
            .shape
            .last()
            .copied()
            .filter(|&n| n > 0)
            .ok_or_else(|| wrong(format!("output {:?} has no fixed length", output.shape)))?
            as usize;
        Ok(Self {
            size: input.shape[2] as u32,
            outputs,
            mean,
            std,
            model,
        })
    }

    /// The model's output for each box, with the photo → crop transform used.
    pub fn run(
        &self,
        img: &RgbImage,
        boxes: &[BBox],
    ) -> Result<Vec<(Vec<f32>, Affine2)>, AttributeError> {
        let crops: Vec<(RgbImage, Affine2)> =
            boxes.iter().map(|b| box_crop(img, b, self.size)).collect();
        let side = self.size as usize;
        let outputs = self
            .model
            .run_batch(crops.len(), &[3, side, side], |i, dst| {
                write_nchw(&crops[i].0, self.mean, self.std, dst)
            })?;
        Ok(outputs
            .into_iter()
            .zip(crops)
            .map(|(o, (_, m))| (o, m))
            .collect())
    }
}
