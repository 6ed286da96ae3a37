//! The JSON view of a face that the CLI prints and the server returns:
//! arrays rather than named corners, so it reads like InsightFace's output.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Face, FaceQuality, Liveness, Pose};

/// One face as JSON.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceRecord {
    /// `[left, top, right, bottom]`, pixels.
    pub bbox: [f32; 4],
    /// Left eye, right eye, nose, left and right mouth corner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kps: Option<[[f32; 2]; 5]>,
    /// Detector confidence.
    pub det_score: f32,
    /// L2 norm of the raw embedding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_norm: Option<f32>,
    /// Raw embedding (not normalised), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    /// 0 female, 1 male (InsightFace's numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<u8>,
    /// InsightFace's `Face.sex`: "M" or "F".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<&'static str>,
    /// Years.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
    /// 106 points from `2d106det.onnx`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmark_2d_106: Option<Vec<[f32; 2]>>,
    /// 68 `(x, y, z)` points from `1k3d68.onnx`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmark_3d_68: Option<Vec<[f32; 3]>>,
    /// Degrees: pitch, yaw, roll.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::HashMap<String, f32>>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pose: Option<Pose>,
    /// Outputs of other attribute models, by task.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<f32>>,
    /// How usable the face is (`--quality`, `quality=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<FaceQuality>,
    /// Whether the face is live, when the pack has liveness models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Liveness>,
    /// The written aligned crop (`facekit align`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop: Option<String>,
}

impl FaceRecord {
    /// The record of `face`, with its embedding only when asked.
    pub fn new(face: &Face, with_embedding: bool) -> Self {
        Self {
            bbox: face.bbox.to_array(),
            kps: face.kps.map(|k| k.map(|p| [p.x, p.y])),
            det_score: face.det_score,
            embedding_norm: face.embedding_norm,
            embedding: if with_embedding {
                face.embedding.clone()
            } else {
                None
            },
            gender: face.gender.map(|g| g.index()),
            sex: face.gender.map(|g| g.letter()),
            age: face.age,
            landmark_2d_106: face
                .landmark_2d_106
                .as_ref()
                .map(|l| l.iter().map(|p| [p.x, p.y]).collect()),
            landmark_3d_68: face.landmark_3d_68.clone(),
            pose: face.pose,
            attributes: face.attributes.clone(),
            quality: face.quality.clone(),
            liveness: face.liveness.clone(),
            crop: None,
        }
    }
}
