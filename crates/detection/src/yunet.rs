use facekit_core::{BBox, Detection, Point};
use facekit_image::{RgbImage, resize_linear, write_nchw_bgr};
use facekit_runtime::OnnxModel;

use crate::options::{DetectOptions, DetectionError, finish};

/// OpenCV `FaceDetectorYN`'s defaults.
const SCORE_THRESHOLD: f32 = 0.9;
const NMS_THRESHOLD: f32 = 0.3;
const TOP_K: usize = 5000;
const STRIDES: [usize; 3] = [8, 16, 32];

/// The OpenCV zoo YuNet detector (2023mar: `cls_/obj_/bbox_/kps_{8,16,32}`
/// outputs), decoded as OpenCV's `FaceDetectorYN` does. A model with a
/// dynamic input runs at the photo's own size padded to a multiple of 32, as
/// OpenCV runs it; a fixed-shape file gets the photo resized to its size.
#[derive(Debug)]
pub struct YuNet {
    model: OnnxModel,
    fixed_size: Option<(u32, u32)>,
    /// Output index of `cls_s`, `obj_s`, `bbox_s`, `kps_s` per stride.
    outputs: [[usize; 4]; 3],
}

impl YuNet {
    /// Wraps a loaded model after checking it has YuNet's outputs.
    pub fn new(model: OnnxModel) -> Result<Self, DetectionError> {
        let sig = model.signature();
        let not = |reason: String| DetectionError::WrongModel {
            path: model.path().display().to_string(),
            detector: "YuNet",
            reason,
        };
        let find = |name: String| {
            sig.outputs
                .iter()
                .position(|o| o.name == name)
                .ok_or_else(|| not(format!("no output named {name}")))
        };
        let mut outputs = [[0; 4]; 3];
        for (slot, stride) in outputs.iter_mut().zip(STRIDES) {
            for (k, head) in ["cls", "obj", "bbox", "kps"].iter().enumerate() {
                slot[k] = find(format!("{head}_{stride}"))?;
            }
        }
        let input = sig.inputs.first().ok_or_else(|| not("no input".into()))?;
        if input.shape.len() != 4 {
            return Err(not(format!("input {:?} is not NCHW", input.shape)));
        }
        let fixed_size = input.fixed_size();
        Ok(Self {
            model,
            fixed_size,
            outputs,
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

    /// Detects faces, best first.
    pub fn detect(
        &self,
        img: &RgbImage,
        opts: &DetectOptions,
    ) -> Result<Vec<Detection>, DetectionError> {
        let (input, sx, sy) = self.model_input(img, opts.max_side);
        let (w, h) = (input.width() as usize, input.height() as usize);
        let (pad_w, pad_h) = (w.div_ceil(32) * 32, h.div_ceil(32) * 32);
        let mut canvas = RgbImage::new(pad_w as u32, pad_h as u32);
        canvas.paste_top_left(&input);
        let mut blob = vec![0.0f32; 3 * pad_w * pad_h];
        write_nchw_bgr(&canvas, [0.0; 3], &mut blob);
        let out = self.model.run(&blob, &[1, 3, pad_h, pad_w])?;

        let threshold = opts.score_threshold.unwrap_or(SCORE_THRESHOLD);
        let mut found = Vec::new();
        for (level, stride) in STRIDES.into_iter().enumerate() {
            let [cls, obj, bbox, kps] = self.outputs[level].map(|i| &out[i].data);
            let cols = pad_w / stride;
            let cells = cols * (pad_h / stride);
            if [cls.len(), obj.len(), bbox.len() / 4, kps.len() / 10] != [cells; 4] {
                return Err(DetectionError::WrongModel {
                    path: self.model.path().display().to_string(),
                    detector: "YuNet",
                    reason: format!("stride {stride} outputs do not have {cells} cells"),
                });
            }
            let s = stride as f32;
            for idx in 0..cells {
                let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                if score < threshold {
                    continue;
                }
                let (c, r) = ((idx % cols) as f32, (idx / cols) as f32);
                let b = &bbox[idx * 4..idx * 4 + 4];
                let (cx, cy) = ((c + b[0]) * s, (r + b[1]) * s);
                let (bw, bh) = (b[2].exp() * s, b[3].exp() * s);
                let (x1, y1) = (cx - bw / 2.0, cy - bh / 2.0);
                let k = &kps[idx * 10..idx * 10 + 10];
                let landmarks = std::array::from_fn(|n| {
                    Point::new((k[2 * n] + c) * s / sx, (k[2 * n + 1] + r) * s / sy)
                });
                let bbox = BBox::new(x1 / sx, y1 / sy, (x1 + bw) / sx, (y1 + bh) / sy);
                found.push((
                    Detection::new(bbox, score, Some(landmarks)),
                    [x1, y1, bw, bh],
                ));
            }
        }
        let nms_threshold = opts.nms_threshold.unwrap_or(NMS_THRESHOLD);
        let kept = if found.len() > 1 {
            opencv_nms(&found, threshold, nms_threshold)
                .into_iter()
                .map(|i| found[i].0.clone())
                .collect()
        } else {
            found.into_iter().map(|(d, _)| d).collect()
        };
        Ok(finish(kept, opts, img))
    }

    /// The image the network sees and the scale from photo to it per axis.
    fn model_input<'a>(
        &self,
        img: &'a RgbImage,
        max_side: Option<u32>,
    ) -> (std::borrow::Cow<'a, RgbImage>, f32, f32) {
        let (w, h) = (img.width(), img.height());
        let target = match self.fixed_size {
            Some(size) => size,
            None => match max_side {
                Some(m) if w.max(h) > m => {
                    let scale = f64::from(m) / f64::from(w.max(h));
                    let side = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
                    (side(w), side(h))
                }
                _ => (w, h),
            },
        };
        if target == (w, h) {
            return (std::borrow::Cow::Borrowed(img), 1.0, 1.0);
        }
        let resized = resize_linear(img, target.0, target.1);
        (
            std::borrow::Cow::Owned(resized),
            target.0 as f32 / w as f32,
            target.1 as f32 / h as f32,
        )
    }
}

/// `cv::dnn::NMSBoxes` as `FaceDetectorYN` calls it: boxes truncated to
/// integer `Rect(x, y, w, h)`, candidates scoring above `score_threshold` in
/// stable descending order, at most [`TOP_K`], and a candidate kept when its
/// Jaccard overlap with every kept box is at most `nms_threshold`. OpenCV's
/// integer rectangles decide borderline overlaps differently from the float
/// NMS in `facekit-core`, so parity needs this one.
fn opencv_nms(
    found: &[(Detection, [f32; 4])],
    score_threshold: f32,
    nms_threshold: f32,
) -> Vec<usize> {
    let rects: Vec<[i64; 4]> = found.iter().map(|(_, r)| r.map(|v| v as i64)).collect();
    let mut order: Vec<usize> = (0..found.len())
        .filter(|&i| found[i].0.score > score_threshold)
        .collect();
    order.sort_by(|&a, &b| found[b].0.score.total_cmp(&found[a].0.score));
    order.truncate(TOP_K);
    let overlap = |a: [i64; 4], b: [i64; 4]| {
        let (area_a, area_b) = (a[2] * a[3], b[2] * b[3]);
        if area_a + area_b <= 0 {
            return 1.0f32;
        }
        let iw = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
        let ih = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
        let inter = if iw > 0 && ih > 0 {
            (iw * ih) as f64
        } else {
            0.0
        };
        let distance = 1.0 - inter / ((area_a + area_b) as f64 - inter);
        1.0 - distance as f32
    };
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep
            .iter()
            .all(|&k| overlap(rects[i], rects[k]) <= nms_threshold)
        {
            keep.push(i);
        }
    }
    keep
}
