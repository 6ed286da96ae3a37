use facekit_core::{BBox, Detection, Point, nms};
use facekit_image::{RgbImage, letterbox, with_nchw};
use facekit_runtime::{OnnxModel, OutputTensor};

use crate::options::{DetectOptions, DetectionError, finish};

/// InsightFace's defaults for SCRFD (and its RetinaFace class).
const SCORE_THRESHOLD: f32 = 0.5;
const NMS_THRESHOLD: f32 = 0.4;

/// SCRFD, and every InsightFace detector with 6, 9, 10 or 15 per-stride
/// outputs (scores, box distances, optionally landmark distances): InsightFace
/// 2.1 decodes its `RetinaFace` ONNX layout (`model_zoo/retinaface.py`) with
/// this same code, so those files run here too.
#[derive(Debug)]
pub struct Scrfd {
    model: OnnxModel,
    strides: Vec<usize>,
    anchors_per_cell: usize,
    has_kps: bool,
    /// `(width, height)` when the model's input is fixed.
    fixed_size: Option<(u32, u32)>,
}

impl Scrfd {
    /// Wraps a loaded model after checking its outputs are an SCRFD layout.
    pub fn new(model: OnnxModel) -> Result<Self, DetectionError> {
        let sig = model.signature();
        let not = |reason: String| DetectionError::WrongModel {
            path: model.path().display().to_string(),
            detector: "SCRFD",
            reason,
        };
        let (strides, anchors_per_cell, has_kps) = match sig.outputs.len() {
            6 => (vec![8, 16, 32], 2, false),
            9 => (vec![8, 16, 32], 2, true),
            10 => (vec![8, 16, 32, 64, 128], 1, false),
            15 => (vec![8, 16, 32, 64, 128], 1, true),
            n => return Err(not(format!("{n} outputs (expected 6, 9, 10 or 15)"))),
        };
        let input = sig.inputs.first().ok_or_else(|| not("no input".into()))?;
        if input.shape.len() != 4 || !input.is_f32 {
            return Err(not(format!(
                "input {:?} is not a float NCHW tensor",
                input.shape
            )));
        }
        let fixed_size = input.fixed_size();
        Ok(Self {
            model,
            strides,
            anchors_per_cell,
            has_kps,
            fixed_size,
        })
    }

    /// The underlying model.
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// The fixed `(width, height)` input of the model, if it has one.
    pub fn fixed_size(&self) -> Option<(u32, u32)> {
        self.fixed_size
    }

    /// Whether the model predicts the five landmarks.
    pub fn has_landmarks(&self) -> bool {
        self.has_kps
    }

    /// Detects faces, best first after NMS (or in `max_num` ranking order).
    pub fn detect(
        &self,
        img: &RgbImage,
        opts: &DetectOptions,
    ) -> Result<Vec<Detection>, DetectionError> {
        let sizes = match self.fixed_size {
            Some(size) => vec![size],
            None => opts.det_size.sizes(),
        };
        let threshold = opts.score_threshold.unwrap_or(SCORE_THRESHOLD);
        let mut candidates = Vec::new();
        for (w, h) in sizes {
            candidates.extend(self.candidates_at(img, w, h, threshold)?);
        }
        let keep = nms(&candidates, opts.nms_threshold.unwrap_or(NMS_THRESHOLD));
        let kept = keep.into_iter().map(|i| candidates[i].clone()).collect();
        Ok(finish(kept, opts, img))
    }

    /// Candidates above the threshold at one input size, in source pixels,
    /// sorted by descending score (stable, as `np.argsort(kind='stable')`).
    fn candidates_at(
        &self,
        img: &RgbImage,
        width: u32,
        height: u32,
        threshold: f32,
    ) -> Result<Vec<Detection>, DetectionError> {
        let max_stride = *self.strides.last().expect("strides") as u32;
        if width < max_stride || height < max_stride {
            return Err(DetectionError::BadSize {
                width,
                height,
                reason: "smaller than the largest stride",
            });
        }
        let lb = letterbox(img, width, height);
        let outputs = with_nchw(&lb.canvas, 127.5, 128.0, |blob| {
            self.model
                .run(blob, &[1, 3, height as usize, width as usize])
        })?;
        let mut found = Vec::new();
        let fmc = self.strides.len();
        for (level, &stride) in self.strides.iter().enumerate() {
            let scores = &outputs[level];
            let boxes = &outputs[level + fmc];
            let kps = self.has_kps.then(|| &outputs[level + 2 * fmc]);
            self.decode_level(
                level, stride, width, height, scores, boxes, kps, threshold, &mut found,
            )?;
        }
        for d in &mut found {
            let s = lb.scale;
            d.bbox = BBox::new(d.bbox.x1 / s, d.bbox.y1 / s, d.bbox.x2 / s, d.bbox.y2 / s);
            if let Some(k) = &mut d.kps {
                *k = k.map(|p| Point::new(p.x / s, p.y / s));
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(found)
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_level(
        &self,
        level: usize,
        stride: usize,
        width: u32,
        height: u32,
        scores: &OutputTensor,
        boxes: &OutputTensor,
        kps: Option<&OutputTensor>,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DetectionError> {
        let cols = width as usize / stride;
        let rows = height as usize / stride;
        let n = rows * cols * self.anchors_per_cell;
        let bad = |what: &str, got: usize| DetectionError::WrongModel {
            path: self.model.path().display().to_string(),
            detector: "SCRFD",
            reason: format!("level {level} {what} has {got} values, expected {}", n),
        };
        // Outputs are [N, k] or, for batched exports, [1, N, k]; only the values matter.
        if scores.data.len() != n {
            return Err(bad("score output", scores.data.len()));
        }
        if boxes.data.len() != n * 4 {
            return Err(bad("box output", boxes.data.len() / 4));
        }
        if let Some(k) = kps
            && k.data.len() != n * 10
        {
            return Err(bad("landmark output", k.data.len() / 10));
        }
        let s = stride as f32;
        for (i, &score) in scores.data.iter().enumerate() {
            if score < threshold {
                continue;
            }
            let cell = i / self.anchors_per_cell;
            let (cx, cy) = (
                ((cell % cols) * stride) as f32,
                ((cell / cols) * stride) as f32,
            );
            let d = &boxes.data[i * 4..i * 4 + 4];
            let bbox = BBox::new(cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s);
            let landmarks = kps.map(|k| {
                let d = &k.data[i * 10..i * 10 + 10];
                std::array::from_fn(|j| Point::new(cx + d[2 * j] * s, cy + d[2 * j + 1] * s))
            });
            out.push(Detection::new(bbox, score, landmarks));
        }
        Ok(())
    }
}
