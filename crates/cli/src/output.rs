//! The JSON-lines records `facekit` prints (schema in the README).

use std::path::Path;

use facekit_pipeline::FaceRecord;
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
