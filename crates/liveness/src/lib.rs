//! Liveness (presentation-attack detection) with Silent-Face-Anti-Spoofing's
//! MiniFASNet models, reproducing upstream's protocol step for step so that
//! its scores carry over: the face box in Silent-Face's truncated
//! `[x, y, w, h]` form, a crop expanded by each model's scale (2.7 for
//! MiniFASNetV2, 4.0 for MiniFASNetV1SE, read from the file name as
//! upstream does) and clamped to the image, OpenCV's bilinear resize to
//! 80×80, raw BGR 0–255 input, a softmax per model and the softmaxes
//! summed. Class 1 is real.
//!
//! A file is a MiniFASNet model by its signature: one `[1, 3, 80, 80]`
//! float input and one output of 3 logits. InsightFace 2.x's own liveness
//! add-on (`addons/liveness.onnx`, from InspireFace) is one model on a
//! box squared and expanded by 2.7 with a single softmax score and a 0.88
//! threshold; its input size and normalisation come from its config, which
//! facekit does not have, so [`LivenessModel::new`] names it and refuses it
//! rather than guess.
//!
//! ```no_run
//! use facekit_core::BBox;
//! use facekit_liveness::{LivenessModel, LivenessModels};
//! use facekit_runtime::{Runtime, RuntimeOptions};
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let models = LivenessModels::new(vec![
//!     LivenessModel::new(runtime.load("2.7_80x80_MiniFASNetV2.onnx".as_ref())?)?,
//!     LivenessModel::new(runtime.load("4_0_0_80x80_MiniFASNetV1SE.onnx".as_ref())?)?,
//! ]);
//! let img = facekit_image::decode_file("selfie.jpg".as_ref(), &Default::default())?;
//! let liveness = models.check(&img, &BBox::new(117.2, 109.8, 296.4, 351.0))?;
//! println!("real: {} ({:.3})", liveness.is_real, liveness.real_score);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use facekit_core::BBox;
use facekit_image::{RgbImage, resize_linear, write_nchw_bgr};
use facekit_runtime::{OnnxModel, RuntimeError};
use serde::Serialize;

/// The side of MiniFASNet's square input.
pub const INPUT_SIDE: u32 = 80;
/// The class index of a real face.
pub const REAL_CLASS: usize = 1;
const CLASSES: usize = 3;

/// Why a liveness model could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LivenessError {
    /// The file is not a MiniFASNet model, or its scale is unknown.
    #[error("{path} is not a usable liveness model: {reason}")]
    WrongModel {
        /// The model file.
        path: String,
        /// What did not match.
        reason: String,
    },
    /// ONNX Runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Whether a loaded model has MiniFASNet's signature (one `1×3×80×80`
/// float input, one output of 3 values): how packs route it.
pub fn is_minifasnet(model: &OnnxModel) -> bool {
    let sig = model.signature();
    let [input] = sig.inputs.as_slice() else {
        return false;
    };
    let [output] = sig.outputs.as_slice() else {
        return false;
    };
    input.is_f32
        && input.shape.len() == 4
        && input.shape[1..] == [3, i64::from(INPUT_SIDE), i64::from(INPUT_SIDE)]
        && output.shape.last() == Some(&(CLASSES as i64))
}

/// The crop scale Silent-Face reads from a model's file name: the first
/// `_`-separated field, with further `_`s as the decimal point when the
/// field has none (`2.7_80x80_MiniFASNetV2` → 2.7, `4_0_0_80x80_…` → 4.0).
pub fn scale_from_file_name(name: &str) -> Option<f64> {
    let (head, _) = name.split_once("_80x80")?;
    let text = if head.contains('.') {
        head.to_string()
    } else {
        let mut parts = head.split('_');
        let whole = parts.next()?;
        let fraction: String = parts.collect();
        format!(
            "{whole}.{}",
            if fraction.is_empty() { "0" } else { &fraction }
        )
    };
    text.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
}

/// A face box as Silent-Face's detector gives it: integer `[x, y, w, h]`,
/// each truncated toward zero from `x1`, `y1`, `x2 − x1 + 1`, `y2 − y1 + 1`
/// computed in `f64` (not floor, and `w` not from truncated corners).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SilentFaceBox {
    /// Left.
    pub x: i64,
    /// Top.
    pub y: i64,
    /// Width.
    pub w: i64,
    /// Height.
    pub h: i64,
}

impl SilentFaceBox {
    /// Converts a detector box (`x1, y1, x2, y2` in pixels).
    pub fn from_bbox(b: &BBox) -> Self {
        let (x1, y1, x2, y2) = (
            f64::from(b.x1),
            f64::from(b.y1),
            f64::from(b.x2),
            f64::from(b.y2),
        );
        Self {
            x: x1 as i64,
            y: y1 as i64,
            w: ((x2 - x1) + 1.0) as i64,
            h: ((y2 - y1) + 1.0) as i64,
        }
    }
}

/// The region a model sees: inclusive pixel bounds and the scale used
/// after clamping to the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CropRegion {
    /// `[left, top, right, bottom]`, both ends inclusive.
    pub ltrb: [i64; 4],
    /// The scale after the clamp that keeps the crop inside the image.
    pub effective_scale: f64,
}

/// Silent-Face's `CropImage` region for `face` expanded by `scale` in a
/// `width × height` image, in its order of operations and in `f64`.
pub fn crop_region(width: u32, height: u32, face: SilentFaceBox, scale: f64) -> CropRegion {
    let (img_w, img_h) = (f64::from(width), f64::from(height));
    let (x, y) = (face.x as f64, face.y as f64);
    let (w, h) = ((face.w.max(1)) as f64, (face.h.max(1)) as f64);
    let scale = ((img_h - 1.0) / h).min(((img_w - 1.0) / w).min(scale));
    let (new_w, new_h) = (w * scale, h * scale);
    let (cx, cy) = (w / 2.0 + x, h / 2.0 + y);
    let (mut l, mut t) = (cx - new_w / 2.0, cy - new_h / 2.0);
    let (mut r, mut b) = (cx + new_w / 2.0, cy + new_h / 2.0);
    if l < 0.0 {
        r -= l;
        l = 0.0;
    }
    if t < 0.0 {
        b -= t;
        t = 0.0;
    }
    if r > img_w - 1.0 {
        l -= (r - img_w) + 1.0;
        r = img_w - 1.0;
    }
    if b > img_h - 1.0 {
        t -= (b - img_h) + 1.0;
        b = img_h - 1.0;
    }
    CropRegion {
        ltrb: [l as i64, t as i64, r as i64, b as i64],
        effective_scale: scale,
    }
}

/// One MiniFASNet model and its crop scale.
#[derive(Debug)]
pub struct LivenessModel {
    model: OnnxModel,
    scale: f64,
    file: String,
}

impl LivenessModel {
    /// Wraps a loaded model: checks its signature and reads its scale from
    /// the file name (as Silent-Face does).
    pub fn new(model: OnnxModel) -> Result<Self, LivenessError> {
        let path = model.path().display().to_string();
        let file = model
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let wrong = |reason: String| LivenessError::WrongModel {
            path: path.clone(),
            reason,
        };
        if !is_minifasnet(&model) {
            let sig = model.signature();
            return Err(wrong(if file == "liveness.onnx" {
                "this looks like InsightFace 2.x's liveness add-on (InspireFace's RGB anti-spoofing: one model, box squared and expanded by 2.7, softmax[1] against 0.88); its input size and normalisation live in a config facekit does not have, so it is not run".into()
            } else {
                format!(
                    "expected one 1×3×80×80 float input and one output of 3 logits, found inputs {:?} and outputs {:?}",
                    sig.inputs.iter().map(|i| &i.shape).collect::<Vec<_>>(),
                    sig.outputs.iter().map(|o| &o.shape).collect::<Vec<_>>()
                )
            }));
        }
        let scale = scale_from_file_name(&file).ok_or_else(|| {
            wrong("its crop scale is not in its file name (Silent-Face names files `<scale>_80x80_<model>.onnx`, e.g. `2.7_80x80_MiniFASNetV2.onnx`)".into())
        })?;
        Ok(Self { model, scale, file })
    }

    /// The file name.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The crop scale (before clamping).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The region this model sees for `face` and its 80×80 input crop.
    pub fn input(&self, img: &RgbImage, face: SilentFaceBox) -> (CropRegion, RgbImage) {
        let region = crop_region(img.width(), img.height(), face, self.scale);
        let [l, t, r, b] = region.ltrb.map(|v| v.max(0) as u32);
        let patch = img.crop(l, t, r.saturating_sub(l) + 1, b.saturating_sub(t) + 1);
        (region, resize_linear(&patch, INPUT_SIDE, INPUT_SIDE))
    }

    /// The model's raw logits for an 80×80 crop (BGR, 0–255, no normalisation).
    pub fn logits(&self, crop: &RgbImage) -> Result<[f32; 3], LivenessError> {
        let side = INPUT_SIDE as usize;
        let mut blob = vec![0.0f32; 3 * side * side];
        write_nchw_bgr(crop, [0.0; 3], &mut blob);
        let out = self.model.run(&blob, &[1, 3, side, side])?;
        let data = &out[0].data;
        let mut logits = [0.0f32; 3];
        if data.len() != CLASSES {
            return Err(LivenessError::WrongModel {
                path: self.model.path().display().to_string(),
                reason: format!("gave {} outputs, not 3", data.len()),
            });
        }
        logits.copy_from_slice(data);
        Ok(logits)
    }
}

/// What one model said.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelLiveness {
    /// The model's file name.
    pub file: String,
    /// Its raw output.
    pub logits: [f32; 3],
    /// The softmax of the logits (f64, max subtracted).
    pub softmax: [f64; 3],
}

/// The fused verdict on one face.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Liveness {
    /// The summed softmaxes' real class divided by the number of models
    /// (Silent-Face's score with its two models).
    pub real_score: f64,
    /// Whether the fused argmax is the real class.
    pub is_real: bool,
    /// The fused argmax: 1 real, 0 and 2 the two spoof classes.
    pub label: usize,
    /// Each model's answer.
    pub models: Vec<ModelLiveness>,
}

fn softmax(logits: &[f32; 3]) -> [f64; 3] {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let exp = logits.map(|v| (f64::from(v) - max).exp());
    let sum: f64 = exp.iter().sum();
    exp.map(|e| e / sum)
}

/// The models of a pack, fused as Silent-Face fuses them.
#[derive(Debug, Default)]
pub struct LivenessModels {
    models: Vec<LivenessModel>,
}

impl LivenessModels {
    /// The ensemble of `models` (usually the 2.7 and 4.0 MiniFASNets).
    pub fn new(models: Vec<LivenessModel>) -> Self {
        Self { models }
    }

    /// Whether there is no model (liveness cannot be checked).
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The models.
    pub fn models(&self) -> &[LivenessModel] {
        &self.models
    }

    /// Checks the face in `bbox` with every model (with none, the verdict
    /// is not real: callers check [`is_empty`](Self::is_empty) first).
    pub fn check(&self, img: &RgbImage, bbox: &BBox) -> Result<Liveness, LivenessError> {
        let face = SilentFaceBox::from_bbox(bbox);
        let models = self
            .models
            .iter()
            .map(|m| {
                let (_, crop) = m.input(img, face);
                let logits = m.logits(&crop)?;
                Ok(ModelLiveness {
                    file: m.file.clone(),
                    softmax: softmax(&logits),
                    logits,
                })
            })
            .collect::<Result<Vec<_>, LivenessError>>()?;
        Ok(fuse(models))
    }
}

/// Sums the models' softmaxes; the label is the first argmax.
pub fn fuse(models: Vec<ModelLiveness>) -> Liveness {
    let mut summed = [0.0f64; 3];
    for m in &models {
        for (s, p) in summed.iter_mut().zip(m.softmax) {
            *s += p;
        }
    }
    let label = (0..CLASSES).fold(0, |best, i| if summed[i] > summed[best] { i } else { best });
    Liveness {
        real_score: summed[REAL_CLASS] / models.len().max(1) as f64,
        is_real: label == REAL_CLASS && !models.is_empty(),
        label,
        models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_come_from_file_names_as_silent_face_reads_them() {
        assert_eq!(
            scale_from_file_name("2.7_80x80_MiniFASNetV2.onnx"),
            Some(2.7)
        );
        assert_eq!(
            scale_from_file_name("4_0_0_80x80_MiniFASNetV1SE.onnx"),
            Some(4.0)
        );
        assert_eq!(scale_from_file_name("1_5_80x80_x.onnx"), Some(1.5));
        assert_eq!(scale_from_file_name("liveness.onnx"), None);
    }

    #[test]
    fn boxes_truncate_toward_zero_and_widths_come_from_the_float_difference() {
        let b = SilentFaceBox::from_bbox(&BBox::new(-0.5, 10.9, 99.2, 20.95));
        assert_eq!((b.x, b.y, b.w, b.h), (0, 10, 100, 11));
    }

    #[test]
    fn the_crop_is_clamped_into_the_image() {
        // obama.jpg's golden: 910×1137, box [378, 84, 232, 343].
        let face = SilentFaceBox {
            x: 378,
            y: 84,
            w: 232,
            h: 343,
        };
        let r = crop_region(910, 1137, face, 2.7);
        assert_eq!(r.ltrb, [180, 0, 807, 926]);
        let r = crop_region(910, 1137, face, 4.0);
        assert_eq!(r.ltrb, [109, 0, 878, 1136]);
        assert!((r.effective_scale - 3.311953352769679).abs() < 1e-12);
    }

    #[test]
    fn fusion_sums_softmaxes_and_takes_the_first_argmax() {
        let m = |logits: [f32; 3]| ModelLiveness {
            file: "m".into(),
            softmax: softmax(&logits),
            logits,
        };
        let l = fuse(vec![m([0.0, 5.0, 0.0]), m([0.0, 0.0, 1.0])]);
        assert_eq!(l.label, 1);
        assert!(l.is_real);
        let tie = fuse(vec![m([1.0, 1.0, 1.0])]);
        assert_eq!(tie.label, 0);
        assert!(!tie.is_real);
    }
}
