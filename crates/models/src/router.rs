use facekit_detection::DetectorKind;
use facekit_runtime::OnnxModel;

/// What a model file is, as far as its signature tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A face detector: SCRFD-style (6/9/10/15 outputs), YuNet
    /// (`cls_/obj_/bbox_/kps_` outputs) or prior-box RetinaFace.
    Detector(DetectorKind),
    /// ArcFace-family recognizer (square input ≥ 112, one output).
    ArcFace,
    /// 192×192 landmark model with this many points (2-D or 3-D).
    Landmark {
        /// Number of points.
        points: usize,
        /// Whether points carry depth (the 68-point 3-D model).
        three_d: bool,
    },
    /// 96×96 attribute model with this many outputs (3 = gender/age).
    Attribute {
        /// Output length.
        outputs: usize,
    },
    /// InsightFace's face swapper (two inputs, 128×128).
    Swapper,
    /// A MiniFASNet liveness model (80×80, 3 logits) whose crop scale, in
    /// tenths, its file name gives (`2.7_80x80_…` → 27); `None` when the
    /// name has none.
    Liveness {
        /// Crop scale × 10.
        scale_tenths: Option<u32>,
    },
}

impl ModelKind {
    /// InsightFace's `taskname` for this kind; one model per task is used.
    pub fn task(&self) -> String {
        match self {
            ModelKind::Detector(_) => "detection".into(),
            ModelKind::ArcFace => "recognition".into(),
            ModelKind::Landmark { points, three_d } => {
                format!("landmark_{}d_{points}", if *three_d { 3 } else { 2 })
            }
            ModelKind::Attribute { outputs: 3 } => "genderage".into(),
            ModelKind::Attribute { outputs } => format!("attribute_{outputs}"),
            ModelKind::Swapper => "inswapper".into(),
            ModelKind::Liveness { scale_tenths } => match scale_tenths {
                Some(s) => format!("liveness_{}.{}", s / 10, s % 10),
                None => "liveness".into(),
            },
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelKind::Detector(kind) => f.write_str(kind.name()),
            ModelKind::ArcFace => f.write_str("arcface"),
            ModelKind::Landmark { .. } => f.write_str("landmark"),
            ModelKind::Attribute { .. } => f.write_str("attribute"),
            ModelKind::Swapper => f.write_str("swapper"),
            ModelKind::Liveness { .. } => f.write_str("liveness"),
        }
    }
}

/// A routing decision: the model's kind, input size and pixel normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    /// What the model is.
    pub kind: ModelKind,
    /// `(width, height)` of the input when fixed.
    pub input_size: Option<(u32, u32)>,
    /// Value subtracted from each 0–255 pixel.
    pub mean: f32,
    /// Value the difference is divided by.
    pub std: f32,
}

/// InsightFace's rule for a model's input normalisation, from the names of
/// its first eight graph nodes: a node named `Sub…`/`_minus…` and one named
/// `Mul…`/`_mul…` (or, for landmark and attribute models, `bn_data` among the
/// first three) means the graph normalises itself and gets raw 0–255 pixels.
/// Otherwise recognition models get `(x − 127.5) / 127.5` and landmark and
/// attribute models `(x − 127.5) / 128`. Kept verbatim, hazards included:
/// parity with InsightFace's numbers depends on it.
pub fn insightface_normalization(leading_node_names: &[String], kind: ModelKind) -> (f32, f32) {
    let (mut sub, mut mul) = (false, false);
    let checks_bn_data = matches!(
        kind,
        ModelKind::Landmark { .. } | ModelKind::Attribute { .. }
    );
    for (i, name) in leading_node_names.iter().take(8).enumerate() {
        sub |= name.starts_with("Sub") || name.starts_with("_minus");
        mul |= name.starts_with("Mul") || name.starts_with("_mul");
        if checks_bn_data && i < 3 && name == "bn_data" {
            (sub, mul) = (true, true);
        }
    }
    match (sub && mul, kind) {
        (true, _) => (0.0, 1.0),
        (false, ModelKind::ArcFace) => (127.5, 127.5),
        (false, ModelKind::Detector(DetectorKind::Scrfd)) => (127.5, 128.0),
        (false, ModelKind::Landmark { .. } | ModelKind::Attribute { .. }) => (127.5, 128.0),
        (false, _) => (0.0, 1.0),
    }
}

/// Decides what a loaded model is, following InsightFace's `ModelRouter`
/// order (≥ 5 outputs → detector; 192×192 → landmarks; 96×96 → attributes;
/// two inputs at 128×128 → swapper; square ≥ 112 and a multiple of 16 →
/// recognition), except that YuNet and prior-box RetinaFace files are
/// recognised as the detectors they are instead of being misrouted, and
/// MiniFASNet liveness models (80×80 in, 3 logits out) are recognised.
/// `None` when nothing matches.
pub fn route(model: &OnnxModel) -> Option<Route> {
    let sig = model.signature();
    let input = sig.inputs.first()?;
    let input_size = input.fixed_size();
    let (w, h) = input_size.unwrap_or((0, 0));
    let out_len = |i: usize| {
        sig.outputs
            .get(i)
            .and_then(|o| o.shape.last().copied())
            .unwrap_or(0)
    };
    let kind = if let Some(detector) = DetectorKind::of(sig) {
        ModelKind::Detector(detector)
    } else if (w, h) == (192, 192) {
        let n = out_len(0).max(0) as usize;
        let three_d = n >= 3000;
        let points = if three_d { 68 } else { n / 2 };
        ModelKind::Landmark { points, three_d }
    } else if (w, h) == (96, 96) {
        ModelKind::Attribute {
            outputs: out_len(0).max(0) as usize,
        }
    } else if facekit_liveness::is_minifasnet(model) {
        let name = model
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        ModelKind::Liveness {
            scale_tenths: name
                .as_deref()
                .and_then(facekit_liveness::scale_from_file_name)
                .map(|s| (s * 10.0).round() as u32),
        }
    } else if sig.inputs.len() == 2 && (w, h) == (128, 128) {
        ModelKind::Swapper
    } else if w == h && w >= 112 && w % 16 == 0 && sig.outputs.len() == 1 {
        ModelKind::ArcFace
    } else {
        return None;
    };
    let (mean, std) = insightface_normalization(&model.graph().leading_node_names, kind);
    Some(Route {
        kind,
        input_size,
        mean,
        std,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn normalization_rule_matches_insightface() {
        let mx = names(&["_minusscalar0", "_mulscalar0", "conv0"]);
        assert_eq!(
            insightface_normalization(&mx, ModelKind::ArcFace),
            (0.0, 1.0)
        );
        let pt = names(&["Conv_0", "Relu_1"]);
        assert_eq!(
            insightface_normalization(&pt, ModelKind::ArcFace),
            (127.5, 127.5)
        );
        let lm = ModelKind::Landmark {
            points: 106,
            three_d: false,
        };
        assert_eq!(insightface_normalization(&pt, lm), (127.5, 128.0));
        let bn = names(&["x", "bn_data", "conv"]);
        assert_eq!(insightface_normalization(&bn, lm), (0.0, 1.0));
        // bn_data counts only for landmark/attribute models, and only in the first three.
        assert_eq!(
            insightface_normalization(&bn, ModelKind::ArcFace),
            (127.5, 127.5)
        );
        let late = names(&["a", "b", "c", "bn_data"]);
        assert_eq!(insightface_normalization(&late, lm), (127.5, 128.0));
        // Sub/Mul beyond the first eight nodes are not seen (the documented hazard).
        let mut far = names(&["n"; 8]);
        far.extend(names(&["Sub_9", "Mul_10"]));
        assert_eq!(
            insightface_normalization(&far, ModelKind::ArcFace),
            (127.5, 127.5)
        );
    }

    #[test]
    fn task_names_follow_insightface() {
        assert_eq!(
            ModelKind::Landmark {
                points: 106,
                three_d: false
            }
            .task(),
            "landmark_2d_106"
        );
        assert_eq!(
            ModelKind::Landmark {
                points: 68,
                three_d: true
            }
            .task(),
            "landmark_3d_68"
        );
        assert_eq!(ModelKind::Attribute { outputs: 3 }.task(), "genderage");
        assert_eq!(ModelKind::Detector(DetectorKind::YuNet).task(), "detection");
        let liveness = ModelKind::Liveness {
            scale_tenths: Some(27),
        };
        assert_eq!(liveness.task(), "liveness_2.7");
    }
}
