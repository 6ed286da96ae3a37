//! Evaluation on the papers' protocols: verification accuracy (InsightFace
//! `.bin` sets, LFW `pairs.txt`, CFP), ROC, AUC, EER and TAR@FAR, threshold
//! calibration for a target FAR, and WIDER FACE detection AP — each with a
//! report that records every setting behind its numbers.
//!
//! Depends on the pipeline (to embed and detect) and nothing above it; the
//! CLI's `facekit eval` is a thin layer over [`verify`], [`calibrate`] and
//! [`detect_wider`].
//!
//! ```no_run
//! use facekit_eval::{ImageMode, VerifyOptions, read_lfw_pairs, verify};
//! use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
//! let analyzer = FaceAnalyzer::from_pack("buffalo_l", AnalyzeOptions::default())?;
//! let set = read_lfw_pairs("lfw/pairs.txt".as_ref(), "lfw/images".as_ref())?;
//! let options = VerifyOptions { mode: ImageMode::Detect, ..VerifyOptions::default() };
//! let report = verify(&analyzer, &set, &options, &|| {})?;
//! println!("{:.2} % ± {:.2}", 100.0 * report.accuracy.mean, 100.0 * report.accuracy.std);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod calibration;
mod embed;
mod matlab;
mod metrics;
mod pickle;
mod report;
mod sets;
mod wider;

use std::path::{Path, PathBuf};

pub use calibration::{Calibration, CalibrationBook, applied_procedure, procedure};
pub use embed::{
    EmbedSettings, ImageEmbedding, ImageMode, PhotoFace, embed_faces, embed_images, face_crop,
    file_sha256, pair_scores,
};
pub use metrics::{
    FoldedAccuracy, OperatingPoint, RocPoint, STANDARD_FARS, Unmeasurable, at_far, auc, eer,
    folded_accuracy, kfold, roc,
};
pub use pickle::{PickleError, Value as PickleValue, load as load_pickle};
pub use report::{
    DetectionReport, FarResult, VerificationReport, VerifyOptions, VerifySettings, WiderOptions,
    calibrate, detect_wider, verify, write_detection_report, write_verification_report,
};
pub use sets::{
    CfpProtocol, ImageSource, Pair, PairSet, SetSource, read_bin, read_cfp, read_lfw_pairs,
};
pub use wider::{GroundTruthImage, Prediction, SettingAp, average_precision, read_ground_truth};

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A set or ground-truth file is not in the expected layout.
    #[error("{path}: {reason}")]
    InvalidSet {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image of the set could not be decoded.
    #[error("{image}: {source}")]
    Image {
        /// Which image.
        image: String,
        /// Why.
        source: facekit_image::DecodeError,
    },
    /// Detection or embedding failed.
    #[error(transparent)]
    Pipeline(#[from] facekit_pipeline::PipelineError),
    /// The pack cannot embed.
    #[error("the pack in {0} has no recognition model")]
    NoRecognizer(PathBuf),
    /// Anything else the caller asked for that cannot be done.
    #[error("{0}")]
    Invalid(String),
}

impl EvalError {
    /// A file that is not in the expected layout.
    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        Self::InvalidSet {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// The error-mapper for an I/O failure on `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { path, source }
    }
}

/// Reads a text file.
pub(crate) fn read_text(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(EvalError::io(path))
}

/// Writes `bytes` to `path` through a temporary file and a rename (creating
/// the folder), so a reader never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(EvalError::io(dir))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(EvalError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(EvalError::io(path))
}
