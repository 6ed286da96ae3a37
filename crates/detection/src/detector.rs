use facekit_core::{Detection, Stage, timed};
use facekit_image::RgbImage;
use facekit_runtime::{ModelSignature, OnnxModel};

use crate::options::{DetectOptions, DetectionError};
use crate::retinaface::is_prior_box_layout;
use crate::{RetinaFace, Scrfd, YuNet};

/// Which detector family a model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// InsightFace SCRFD (and its per-stride RetinaFace layout).
    Scrfd,
    /// OpenCV zoo YuNet.
    YuNet,
    /// PyTorch prior-box RetinaFace.
    RetinaFace,
}

impl DetectorKind {
    /// The family a model's signature shows, as facekit routes detectors:
    /// YuNet's named `cls_/obj_/bbox_/kps_` outputs, then InsightFace's rule
    /// (five or more outputs: SCRFD), then the prior-box RetinaFace layout.
    pub fn of(sig: &ModelSignature) -> Option<Self> {
        let named = |n: &str| sig.outputs.iter().any(|o| o.name == n);
        if ["cls_8", "obj_8", "bbox_8", "kps_8"]
            .iter()
            .all(|n| named(n))
        {
            Some(DetectorKind::YuNet)
        } else if sig.outputs.len() >= 5 {
            Some(DetectorKind::Scrfd)
        } else if is_prior_box_layout(sig) {
            Some(DetectorKind::RetinaFace)
        } else {
            None
        }
    }

    /// The name users pick it by (`scrfd`, `yunet`, `retinaface`).
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::Scrfd => "scrfd",
            DetectorKind::YuNet => "yunet",
            DetectorKind::RetinaFace => "retinaface",
        }
    }
}

/// Any supported face detector, behind one `detect`.
#[derive(Debug)]
pub enum FaceDetector {
    /// SCRFD.
    Scrfd(Scrfd),
    /// YuNet.
    YuNet(YuNet),
    /// RetinaFace.
    RetinaFace(RetinaFace),
}

impl FaceDetector {
    /// Wraps a loaded model as the given kind of detector.
    pub fn new(kind: DetectorKind, model: OnnxModel) -> Result<Self, DetectionError> {
        Ok(match kind {
            DetectorKind::Scrfd => Self::Scrfd(Scrfd::new(model)?),
            DetectorKind::YuNet => Self::YuNet(YuNet::new(model)?),
            DetectorKind::RetinaFace => Self::RetinaFace(RetinaFace::new(model)?),
        })
    }

    /// Which family it is.
    pub fn kind(&self) -> DetectorKind {
        match self {
            Self::Scrfd(_) => DetectorKind::Scrfd,
            Self::YuNet(_) => DetectorKind::YuNet,
            Self::RetinaFace(_) => DetectorKind::RetinaFace,
        }
    }

    /// The underlying model.
    pub fn model(&self) -> &OnnxModel {
        match self {
            Self::Scrfd(d) => d.model(),
            Self::YuNet(d) => d.model(),
            Self::RetinaFace(d) => d.model(),
        }
    }

    /// Detects faces, best first (boxes, scores, five landmarks in photo pixels).
    pub fn detect(
        &self,
        img: &RgbImage,
        opts: &DetectOptions,
    ) -> Result<Vec<Detection>, DetectionError> {
        timed(Stage::Detect, || match self {
            Self::Scrfd(d) => d.detect(img, opts),
            Self::YuNet(d) => d.detect(img, opts),
            Self::RetinaFace(d) => d.detect(img, opts),
        })
    }
}
