use facekit_core::{Detection, MaxNumMetric, select_max_num};
use facekit_image::RgbImage;
use facekit_runtime::RuntimeError;

/// The sizes InsightFace 2.x detects at in auto mode, merged by one NMS.
pub const AUTO_DET_SIZES: [(u32, u32); 2] = [(128, 128), (640, 640)];

/// Which input sizes the detector runs at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DetSize {
    /// InsightFace 2.x's default: 128×128 and 640×640, merged (a single 640
    /// pass misses faces that fill the photo).
    #[default]
    Auto,
    /// One or more explicit `(width, height)` sizes, merged.
    Sizes(Vec<(u32, u32)>),
}

impl DetSize {
    /// A single fixed size.
    pub fn fixed(width: u32, height: u32) -> Self {
        Self::Sizes(vec![(width, height)])
    }

    pub(crate) fn sizes(&self) -> Vec<(u32, u32)> {
        match self {
            DetSize::Auto => AUTO_DET_SIZES.to_vec(),
            DetSize::Sizes(s) => s.clone(),
        }
    }

    /// These sizes for pictures of `width × height`: a square `S × S`
    /// becomes `S` on the picture's long side and the short side at the
    /// same scale, rounded up to a multiple of 32 (every detector's largest
    /// stride). Faces are seen at the same scale as in the padded square,
    /// without computing the padding: 40 % less work on 16:9 video, where
    /// every frame has the same size. Other sizes are kept.
    ///
    /// ```
    /// use facekit_detection::DetSize;
    /// assert_eq!(DetSize::fixed(640, 640).fitted(1280, 720), DetSize::fixed(640, 384));
    /// assert_eq!(DetSize::fixed(640, 640).fitted(720, 1280), DetSize::fixed(384, 640));
    /// ```
    pub fn fitted(&self, width: u32, height: u32) -> DetSize {
        let fit = |(w, h): (u32, u32)| {
            if w != h || width == 0 || height == 0 {
                return (w, h);
            }
            let short = |long: u32, a: u32, b: u32| {
                let scaled = (u64::from(long) * u64::from(a)).div_ceil(u64::from(b)) as u32;
                scaled.div_ceil(32).max(1) * 32
            };
            if width >= height {
                (w, short(w, height, width).min(h))
            } else {
                (short(h, width, height).min(w), h)
            }
        };
        DetSize::Sizes(self.sizes().into_iter().map(fit).collect())
    }
}

/// Detection settings, with InsightFace's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOptions {
    /// Input sizes (ignored by models with a fixed input size).
    pub det_size: DetSize,
    /// Minimum score; `None` takes the detector's own default (SCRFD and
    /// RetinaFace 0.5, YuNet 0.9).
    pub score_threshold: Option<f32>,
    /// NMS overlap threshold; `None` takes the detector's default (SCRFD and
    /// RetinaFace 0.4, YuNet 0.3).
    pub nms_threshold: Option<f32>,
    /// Keep at most this many faces; 0 keeps all.
    pub max_num: usize,
    /// Ranking used when `max_num` cuts.
    pub metric: MaxNumMetric,
    /// Detectors that run at the photo's own size (YuNet, dynamic RetinaFace)
    /// first shrink photos whose longer side exceeds this (default
    /// [`DEFAULT_MAX_SIDE`]); `None` never does.
    pub max_side: Option<u32>,
}

/// Longest side a detector that runs at the photo's own size sees unless
/// told otherwise: a 40 MP photo at full size is a ~480 MB input tensor;
/// at 4096 px it is at most 200 MB, and no face a detector can find at
/// full size is lost at 4096 px (faces under 10 px are below every
/// detector's reach anyway).
pub const DEFAULT_MAX_SIDE: u32 = 4096;

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            det_size: DetSize::Auto,
            score_threshold: None,
            nms_threshold: None,
            max_num: 0,
            metric: MaxNumMetric::Default,
            max_side: Some(DEFAULT_MAX_SIDE),
        }
    }
}

/// Why detection failed.
#[derive(Debug, thiserror::Error)]
pub enum DetectionError {
    /// The model's signature does not fit the detector it was given to.
    #[error("{path} is not a {detector} model: {reason}")]
    WrongModel {
        /// The model file.
        path: String,
        /// The detector family expected.
        detector: &'static str,
        /// What did not match.
        reason: String,
    },
    /// A detection size the model cannot take.
    #[error("detection size {width}×{height} is invalid: {reason}")]
    BadSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// Why.
        reason: &'static str,
    },
    /// ONNX Runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// The `max_num` cut every detector applies last.
pub(crate) fn finish(kept: Vec<Detection>, opts: &DetectOptions, img: &RgbImage) -> Vec<Detection> {
    select_max_num(kept, opts.max_num, opts.metric, img.width(), img.height())
}
