//! The JSON-lines records `facekit` prints (schema in the README).

use std::collections::BTreeMap;
use std::path::Path;

use facekit_pipeline::{Face, Pose};
use serde::Serialize;

/// One image: its size and faces, or the reason it could not be analysed.
#[derive(Debug, Serialize)]
pub struct ImageRecord {
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<FaceRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ImageRecord {
    pub fn faces(path: &Path, width: u32, height: u32, faces: Vec<FaceRecord>) -> Self {
        Self {
            image: path.display().to_string(),
            width: Some(width),
            height: Some(height),
            faces: Some(faces),
            error: None,
        }
    }

    pub fn error(path: &Path, err: &anyhow::Error) -> Self {
        Self {
            image: path.display().to_string(),
            width: None,
            height: None,
            faces: None,
            error: Some(format!("{err:#}")),
        }
    }
}

/// One face, with arrays rather than named corners so it reads like InsightFace's output.
#[derive(Debug, Serialize)]
pub struct FaceRecord {
    pub bbox: [f32; 4],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kps: Option<[[f32; 2]; 5]>,
    pub det_score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_norm: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<u8>,
    /// InsightFace's `Face.sex`: "M" or "F".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmark_2d_106: Option<Vec<[f32; 2]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmark_3d_68: Option<Vec<[f32; 3]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pose: Option<Pose>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop: Option<String>,
}

impl FaceRecord {
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
            crop: None,
        }
    }
}
