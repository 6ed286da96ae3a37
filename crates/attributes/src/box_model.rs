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

    /// The model's output for each crop (made by [`BoxCrops`] at this
    /// model's size), with the photo → crop transform used.
    pub fn run(
        &self,
        crops: &[(RgbImage, Affine2)],
    ) -> Result<Vec<(Vec<f32>, Affine2)>, AttributeError> {
        let side = self.size as usize;
        let outputs = self
            .model
            .run_batch(crops.len(), &[3, side, side], |i, dst| {
                write_nchw(&crops[i].0, self.mean, self.std, dst)
            })?;
        Ok(outputs
            .into_iter()
            .zip(crops)
            .map(|(o, (_, m))| (o, *m))
            .collect())
    }
}

/// The box-centred crops of some faces, made once per input size and shared
/// by the models of that size: InsightFace crops again for every model, but
/// the 106- and 68-point models (both 192×192) get the same pixels, and the
/// warp was a tenth of `get_batch`'s CPU time (`perf`).
pub struct BoxCrops<'a> {
    img: &'a RgbImage,
    boxes: &'a [BBox],
    by_size: Vec<(u32, Vec<(RgbImage, Affine2)>)>,
}

impl<'a> BoxCrops<'a> {
    /// No crops yet of `boxes` in `img`.
    pub fn new(img: &'a RgbImage, boxes: &'a [BBox]) -> Self {
        Self {
            img,
            boxes,
            by_size: Vec::new(),
        }
    }

    /// Each box's crop at `size` and its photo → crop transform.
    pub(crate) fn at(&mut self, size: u32) -> &[(RgbImage, Affine2)] {
        let i = match self.by_size.iter().position(|(s, _)| *s == size) {
            Some(i) => i,
            None => {
                let crops = self
                    .boxes
                    .iter()
                    .map(|b| box_crop(self.img, b, size))
                    .collect();
                self.by_size.push((size, crops));
                self.by_size.len() - 1
            }
        };
        &self.by_size[i].1
    }
}
