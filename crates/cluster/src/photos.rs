//! Photos into people: every face of every photo detected and embedded
//! (through the evaluation's embedding cache), filtered by size and score,
//! then clustered; what the CLI's `facekit cluster` and `facekit eval
//! cluster` both run.

use std::path::PathBuf;

use facekit_eval::{EvalError, ImageSource, PhotoFace, embed_faces};
use facekit_pipeline::FaceAnalyzer;
use serde::{Deserialize, Serialize};

use crate::{ClusterError, ClusterOptions, Clustering, FaceVector, cluster};

/// Which detected faces are clustered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceFilters {
    /// Shorter box side, pixels (default 50, PhotoPrism's minimum face
    /// size): smaller faces embed too poorly to be grouped reliably.
    pub min_size: f32,
    /// Detector score (default 0.7, Immich's minimum detection score).
    pub min_score: f32,
}

impl Default for FaceFilters {
    fn default() -> Self {
        Self {
            min_size: 50.0,
            min_score: 0.7,
        }
    }
}

/// One face found in a photo.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundFace {
    /// The photo's file.
    pub image: PathBuf,
    /// The photo's index among the inputs.
    pub photo: usize,
    /// The face.
    pub face: PhotoFace,
}

/// A photo that gave no face to cluster, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// The file.
    pub image: PathBuf,
    /// Why (unreadable, no face, every face filtered out).
    pub reason: String,
}

/// The faces of `images` passing `filters`, and the photos that gave none;
/// a bad file is listed, never fatal.
pub fn photo_faces(
    analyzer: &FaceAnalyzer,
    images: &[PathBuf],
    filters: &FaceFilters,
    jobs: usize,
    cache_dir: Option<&std::path::Path>,
    progress: &(dyn Fn() + Sync),
) -> Result<(Vec<FoundFace>, Vec<Skipped>), EvalError> {
    let sources: Vec<ImageSource> = images.iter().cloned().map(ImageSource::File).collect();
    let results = embed_faces(analyzer, &sources, jobs, cache_dir, progress)?;
    let (mut found, mut skipped) = (Vec::new(), Vec::new());
    for (photo, (image, result)) in images.iter().zip(results).enumerate() {
        let faces = match result {
            Ok(faces) => faces,
            Err(e) => {
                skipped.push(Skipped {
                    image: image.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let detected = faces.len();
        let kept: Vec<PhotoFace> = faces
            .into_iter()
            .filter(|f| {
                let [x1, y1, x2, y2] = f.bbox;
                (x2 - x1).min(y2 - y1) >= filters.min_size && f.det_score >= filters.min_score
            })
            .collect();
        if kept.is_empty() {
            skipped.push(Skipped {
                image: image.clone(),
                reason: if detected == 0 {
                    "no face found".into()
                } else {
                    format!(
                        "{detected} face(s), none of {} px or more with a score of {} or more",
                        filters.min_size, filters.min_score
                    )
                },
            });
        }
        found.extend(kept.into_iter().map(|face| FoundFace {
            image: image.clone(),
            photo,
            face,
        }));
    }
    Ok((found, skipped))
}

/// Clusters found faces (two faces of one photo never together with
/// `options.cannot_link`).
pub fn group_faces(
    faces: &[FoundFace],
    options: &ClusterOptions,
) -> Result<Clustering, ClusterError> {
    let vectors: Vec<FaceVector> = faces
        .iter()
        .map(|f| FaceVector {
            embedding: f.face.embedding.clone(),
            photo: f.photo as u64,
        })
        .collect();
    cluster(&vectors, options)
}

/// The member closest to its cluster's mean embedding: the face shown for
/// the person.
pub fn representative(faces: &[FoundFace], members: &[usize]) -> usize {
    crate::most_central(|i| &faces[i].face.embedding, members, members)
}
