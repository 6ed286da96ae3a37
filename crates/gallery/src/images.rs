//! From photos to samples: the embedding contract of an analyzer's
//! recognizer, and the faces of a photo worth enrolling.

use std::path::Path;

use facekit_core::sha256_hex;
use facekit_image::{RgbImage, decode_bytes, read_file};
use facekit_pipeline::{Face, FaceAnalyzer, PipelineError};

use crate::{EmbeddingContract, GalleryError, NewSample};

/// The contract of the analyzer's recognizer: its file's SHA-256, its
/// embedding length and its alignment and normalisation.
pub fn contract_of(analyzer: &FaceAnalyzer) -> Result<EmbeddingContract, GalleryError> {
    let rec = analyzer.pack().recognizer().ok_or_else(|| {
        GalleryError::Invalid(format!(
            "the pack in {} has no recognition model",
            analyzer.pack().dir().display()
        ))
    })?;
    let path = rec.model().path();
    let bytes = std::fs::read(path).map_err(|source| GalleryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (mean, std) = rec.normalization();
    Ok(EmbeddingContract {
        model_sha256: sha256_hex(&bytes),
        dimension: rec.dimension(),
        preprocessing: format!(
            "arcface norm_crop {0}x{0}; RGB (x-{mean})/{std}",
            rec.input_size()
        ),
    })
}

/// Which faces of a photo are enrolled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnrollFilter {
    /// Every qualifying face, not just the largest.
    pub all_faces: bool,
    /// Minimum shorter box side, pixels.
    pub min_size: f32,
    /// Minimum detection score.
    pub min_score: f32,
}

impl EnrollFilter {
    /// What to say when a photo has no face this filter keeps.
    pub fn nothing_found(&self) -> String {
        format!(
            "no face of at least {} px with score ≥ {}",
            self.min_size, self.min_score
        )
    }
}

impl Default for EnrollFilter {
    fn default() -> Self {
        Self {
            all_faces: false,
            min_size: 32.0,
            min_score: 0.5,
        }
    }
}

/// A face of a photo that passed the enrollment filter: the sample to
/// store, and the face it came from (with its quality, and its liveness
/// when the pack checks it) for the enrollment review.
#[derive(Debug, Clone)]
pub struct EnrollCandidate {
    /// The analysed face.
    pub face: Face,
    /// What would be stored.
    pub sample: NewSample,
}

/// The candidates a photo file contributes (see [`enrollment_samples`]).
pub fn enrollment_faces(
    analyzer: &FaceAnalyzer,
    path: &Path,
    filter: &EnrollFilter,
) -> Result<Vec<EnrollCandidate>, GalleryError> {
    // Read once: the same bytes are hashed and decoded, within the limits.
    let bytes = read_file(path, &analyzer.options().limits).map_err(PipelineError::from)?;
    enrollment_samples(analyzer, &bytes, filter)
}

/// The candidates an encoded photo contributes: its faces that pass
/// `filter` (the largest only, unless `all_faces`), with the photo's hash
/// and each face's quality. An empty list means no usable face.
pub fn enrollment_samples(
    analyzer: &FaceAnalyzer,
    bytes: &[u8],
    filter: &EnrollFilter,
) -> Result<Vec<EnrollCandidate>, GalleryError> {
    let img = decode_bytes(bytes, &analyzer.options().limits).map_err(PipelineError::from)?;
    enrollment_candidates(analyzer, &img, &sha256_hex(bytes), filter)
}

/// The candidates of a decoded photo whose source hashes to `image_sha256`
/// (see [`enrollment_samples`]).
pub fn enrollment_candidates(
    analyzer: &FaceAnalyzer,
    img: &RgbImage,
    image_sha256: &str,
    filter: &EnrollFilter,
) -> Result<Vec<EnrollCandidate>, GalleryError> {
    let mut faces: Vec<Face> = analyzer
        .analyze_with(img, false)?
        .into_iter()
        .filter(|f| {
            f.embedding.is_some()
                && f.det_score >= filter.min_score
                && f.bbox.width().min(f.bbox.height()) >= filter.min_size
        })
        .collect();
    faces.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
    if !filter.all_faces {
        faces.truncate(1);
    }
    analyzer.assess_quality(img, &mut faces);
    Ok(faces
        .into_iter()
        .map(|f| EnrollCandidate {
            sample: NewSample {
                image_sha256: Some(image_sha256.to_string()),
                bbox: Some(f.bbox.to_array()),
                det_score: Some(f.det_score),
                embedding_norm: f.embedding_norm,
                embedding: f.embedding.clone().unwrap_or_default(),
            },
            face: f,
        })
        .collect())
}
