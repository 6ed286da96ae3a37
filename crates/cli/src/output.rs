//! The JSON-lines records `facekit` prints (schema in the README).

use std::path::Path;

use facekit_pipeline::Face;
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
            crop: None,
        }
    }
}
