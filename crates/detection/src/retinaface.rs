use facekit_core::{BBox, Detection, Point, nms};
use facekit_image::{RgbImage, letterbox, with_nchw_bgr};
use facekit_runtime::{ModelSignature, OnnxModel, TensorSpec};

use crate::options::{DetectOptions, DetectionError, finish};

const SCORE_THRESHOLD: f32 = 0.5;
const NMS_THRESHOLD: f32 = 0.4;
/// The MobileNet-0.25 configuration (`cfg_mnet` in `data/config.py`).
const MIN_SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
const STEPS: [u32; 3] = [8, 16, 32];
const VARIANCES: [f32; 2] = [0.1, 0.2];
/// The BGR means the network was trained with.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];

/// Whether the outputs are RetinaFace's prior-box layout: three `[1, N, k]`
/// tensors of widths 4 (boxes), 2 (scores) and 10 (landmarks).
pub(crate) fn is_prior_box_layout(sig: &ModelSignature) -> bool {
    let widths: Vec<i64> = sig
        .outputs
        .iter()
        .map(|o| o.shape.last().copied().unwrap_or(0))
        .collect();
    sig.outputs.iter().all(|o| o.shape.len() == 3) && widths == [4, 2, 10]
}

/// One prior (anchor) box: centre and size, as fractions of the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// Centre x / input width.
    pub cx: f32,
    /// Centre y / input height.
    pub cy: f32,
    /// Width / input width.
    pub w: f32,
    /// Height / input height.
    pub h: f32,
}

/// The prior boxes of biubug6's `PriorBox` for an input of `width × height`:
/// per step, feature map `ceil(size / step)`, row-major cells, two sizes per
/// cell. 16,800 for 640×640.
pub fn prior_boxes(width: u32, height: u32) -> Vec<Prior> {
    let (fw, fh) = (width as f32, height as f32);
    let mut priors = Vec::new();
    for (sizes, step) in MIN_SIZES.iter().zip(STEPS) {
        let (rows, cols) = (height.div_ceil(step), width.div_ceil(step));
        for i in 0..rows {
            for j in 0..cols {
                for &size in sizes {
                    priors.push(Prior {
                        cx: (j as f32 + 0.5) * step as f32 / fw,
                        cy: (i as f32 + 0.5) * step as f32 / fh,
                        w: size / fw,
                        h: size / fh,
                    });
                }
            }
        }
    }
    priors
}

/// biubug6's `decode`: a box regression `loc` against `prior`, as
/// `[x1, y1, x2, y2]` fractions of the input.
pub fn decode_box(loc: &[f32], prior: &Prior) -> [f32; 4] {
    let cx = prior.cx + loc[0] * VARIANCES[0] * prior.w;
    let cy = prior.cy + loc[1] * VARIANCES[0] * prior.h;
    let w = prior.w * (loc[2] * VARIANCES[1]).exp();
    let h = prior.h * (loc[3] * VARIANCES[1]).exp();
    let (x1, y1) = (cx - w / 2.0, cy - h / 2.0);
    [x1, y1, x1 + w, y1 + h]
}

/// biubug6's `decode_landm`: five landmark offsets against `prior`, as
/// fractions of the input.
pub fn decode_landmarks(pre: &[f32], prior: &Prior) -> [(f32, f32); 5] {
    std::array::from_fn(|n| {
        (
            prior.cx + pre[2 * n] * VARIANCES[0] * prior.w,
            prior.cy + pre[2 * n + 1] * VARIANCES[0] * prior.h,
        )
    })
}

/// The PyTorch RetinaFace (biubug6/Pytorch_Retinaface, MobileNet-0.25 or
/// ResNet-50 exports): `loc [1,N,4]`, `conf [1,N,2]` (softmaxed),
/// `landms [1,N,10]` over prior boxes, BGR input minus (104, 117, 123).
/// Fixed-size exports get the photo letterboxed (top-left, zero padding) to
/// their size; dynamic ones run at the photo's size.
#[derive(Debug)]
pub struct RetinaFace {
    model: OnnxModel,
    fixed_size: Option<(u32, u32)>,
}

impl RetinaFace {
    /// Wraps a loaded model after checking its outputs are the prior-box layout.
    pub fn new(model: OnnxModel) -> Result<Self, DetectionError> {
        let sig = model.signature();
        let input = sig.inputs.first();
        if !is_prior_box_layout(sig) || input.is_none_or(|i| i.shape.len() != 4) {
            let shapes: Vec<&[i64]> = sig.outputs.iter().map(|o| o.shape.as_slice()).collect();
            return Err(DetectionError::WrongModel {
                path: model.path().display().to_string(),
                detector: "RetinaFace",
                reason: format!(
                    "outputs {shapes:?}, expected three [1, N, 4|2|10] (boxes, scores, landmarks)"
                ),
            });
        }
        let fixed_size = input.and_then(TensorSpec::fixed_size);
        Ok(Self { model, fixed_size })
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
        let (width, height) = match (self.fixed_size, opts.max_side) {
            (Some(size), _) => size,
            (None, Some(m)) if img.width().max(img.height()) > m => (m, m),
            (None, _) => (img.width(), img.height()),
        };
        let lb = letterbox(img, width, height);
        let out = with_nchw_bgr(&lb.canvas, MEAN_BGR, |blob| {
            self.model
                .run(blob, &[1, 3, height as usize, width as usize])
        })?;
        let priors = prior_boxes(width, height);
        let (loc, conf, landms) = (&out[0].data, &out[1].data, &out[2].data);
        if [loc.len() / 4, conf.len() / 2, landms.len() / 10] != [priors.len(); 3] {
            return Err(DetectionError::WrongModel {
                path: self.model.path().display().to_string(),
                detector: "RetinaFace",
                reason: format!(
                    "outputs do not cover the {} prior boxes of a {width}×{height} input",
                    priors.len()
                ),
            });
        }
        let threshold = opts.score_threshold.unwrap_or(SCORE_THRESHOLD);
        // Fractions of the input → input pixels → photo pixels.
        let (sx, sy) = (width as f32 / lb.scale, height as f32 / lb.scale);
        let mut found: Vec<Detection> = Vec::new();
        for (i, prior) in priors.iter().enumerate() {
            let score = conf[2 * i + 1];
            if score <= threshold {
                continue;
            }
            let [x1, y1, x2, y2] = decode_box(&loc[4 * i..4 * i + 4], prior);
            let kps = decode_landmarks(&landms[10 * i..10 * i + 10], prior)
                .map(|(x, y)| Point::new(x * sx, y * sy));
            found.push(Detection::new(
                BBox::new(x1 * sx, y1 * sy, x2 * sx, y2 * sy),
                score,
                Some(kps),
            ));
        }
        let keep = nms(&found, opts.nms_threshold.unwrap_or(NMS_THRESHOLD));
        let kept = keep.into_iter().map(|i| found[i].clone()).collect();
        Ok(finish(kept, opts, img))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_follow_the_mobilenet_config() {
        let p = prior_boxes(640, 640);
        assert_eq!(p.len(), 16_800);
        // First cell of stride 8: centre (0.5 · 8) / 640, sizes 16 and 32.
        assert_eq!(
            p[0],
            Prior {
                cx: 0.00625,
                cy: 0.00625,
                w: 0.025,
                h: 0.025
            }
        );
        assert_eq!(
            p[1],
            Prior {
                cx: 0.00625,
                cy: 0.00625,
                w: 0.05,
                h: 0.05
            }
        );
        // Next column.
        assert_eq!(p[2].cx, 1.5 * 8.0 / 640.0);
        // Stride 16 starts after 80 × 80 × 2 priors; stride 32 after 40 × 40 × 2 more.
        assert_eq!(
            p[12_800],
            Prior {
                cx: 0.0125,
                cy: 0.0125,
                w: 0.1,
                h: 0.1
            }
        );
        assert_eq!(
            p[16_000],
            Prior {
                cx: 0.025,
                cy: 0.025,
                w: 0.4,
                h: 0.4
            }
        );
        // Non-square inputs round the feature maps up: 100 × 60 → 13 × 8 cells at stride 8.
        assert_eq!(prior_boxes(100, 60).len(), (13 * 8 + 7 * 4 + 4 * 2) * 2);
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert!(
            got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{got:?} vs {want:?}"
        );
    }

    #[test]
    fn decode_applies_variances_by_hand() {
        let prior = Prior {
            cx: 0.5,
            cy: 0.25,
            w: 0.1,
            h: 0.2,
        };
        // Zero regression: the prior itself.
        assert_close(&decode_box(&[0.0; 4], &prior), &[0.45, 0.15, 0.55, 0.35]);
        // cx = 0.5 + 1 · 0.1 · 0.1 = 0.51, cy = 0.25 − 2 · 0.1 · 0.2 = 0.21;
        // w = 0.1 · e^(0.2 · ln2 / 0.2) = 0.2, h = 0.2.
        let b = decode_box(&[1.0, -2.0, std::f32::consts::LN_2 / 0.2, 0.0], &prior);
        assert_close(&b, &[0.41, 0.11, 0.61, 0.31]);
        // Landmarks: centre + offset · 0.1 · prior size.
        let l = decode_landmarks(
            &[1.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0, -1.0, 2.0, 2.0],
            &prior,
        );
        let flat: Vec<f32> = l.iter().flat_map(|&(x, y)| [x, y]).collect();
        assert_close(
            &flat,
            &[0.51, 0.27, 0.5, 0.25, 0.49, 0.25, 0.5, 0.23, 0.52, 0.29],
        );
    }
}
