//! Calibrated thresholds: for a recognition model (by file hash), a
//! scoring procedure and a target FAR, the cosine threshold measured on a
//! labelled set, kept in one JSON file so `compare` and the gallery can take
//! `--far` instead of a guessed threshold.
//!
//! A threshold only delivers its FAR when pairs are scored the way they
//! were scored when it was measured: a flip-summed or pre-aligned
//! calibration is stricter or looser than the single detected-face
//! embeddings that `compare`, `identify` and `serve` score. Each entry
//! records its [`procedure`] and is applied only to the same one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EvalError;

/// One calibrated threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// SHA-256 of the recognition model file it holds for.
    pub model_sha256: String,
    /// The target false accept rate.
    pub far: f64,
    /// Accept when cosine ≥ this.
    pub threshold: f32,
    /// FAR measured at the threshold on the set.
    pub measured_far: f64,
    /// TAR measured at the threshold on the set.
    pub tar: f64,
    /// Impostor pairs behind it.
    pub impostor_pairs: usize,
    /// Genuine pairs behind it.
    pub genuine_pairs: usize,
    /// The set and settings it was measured on.
    pub measured_on: String,
    /// How each pair was scored ([`procedure`]); entries from before it was
    /// recorded have none and match no procedure.
    #[serde(default)]
    pub procedure: String,
}

/// How a calibration scored its pairs: the crop mode and whether the
/// mirrored image's embedding was added.
pub fn procedure(mode: crate::ImageMode, flip: bool) -> String {
    format!(
        "{mode}; {}; cosine",
        if flip {
            "flip-summed"
        } else {
            "single embedding"
        }
    )
}

/// The procedure of `compare`, `gallery identify|verify` and `serve`: the
/// largest detected face, aligned, one embedding, cosine.
pub fn applied_procedure() -> String {
    procedure(crate::ImageMode::Detect, false)
}

/// Every calibration of this installation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBook {
    /// The entries, one per (model, FAR).
    pub entries: Vec<Calibration>,
}

impl CalibrationBook {
    /// `$FACEKIT_HOME/calibration.json` (default `~/.facekit`).
    pub fn default_path() -> Option<PathBuf> {
        facekit_models::facekit_home().map(|h| h.join("calibration.json"))
    }

    /// Reads the book; a missing file is an empty book.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| EvalError::invalid(path, format!("not a calibration file: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(EvalError::io(path)(e)),
        }
    }

    /// Adds an entry, replacing the one for the same model and FAR.
    pub fn add(&mut self, entry: Calibration) {
        self.entries
            .retain(|e| !(e.model_sha256 == entry.model_sha256 && same_far(e.far, entry.far)));
        self.entries.push(entry);
    }

    /// Writes the book (through a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), EvalError> {
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| EvalError::Invalid(e.to_string()))?;
        crate::write_atomic(path, &json)
    }

    /// The threshold for `model_sha256` at `far` measured with the
    /// scoring `procedure` it will be applied with, or an error that says
    /// which FARs (and procedures) are calibrated and how to add one.
    pub fn threshold(
        &self,
        model_sha256: &str,
        far: f64,
        procedure: &str,
    ) -> Result<&Calibration, EvalError> {
        let of_model = || {
            self.entries
                .iter()
                .filter(|e| e.model_sha256 == model_sha256)
        };
        if let Some(e) = of_model().find(|e| same_far(e.far, far) && e.procedure == procedure) {
            return Ok(e);
        }
        let known: Vec<String> = of_model()
            .map(|e| {
                let how = if e.procedure.is_empty() {
                    "procedure not recorded"
                } else {
                    &e.procedure
                };
                format!("{:e} ({how})", e.far)
            })
            .collect();
        let model: String = model_sha256.chars().take(12).collect();
        Err(EvalError::Invalid(format!(
            "no threshold calibrated for FAR {far:e} with model {model}… scored as '{procedure}'{}; run `facekit eval calibrate --far {far:e}` on a labelled set with detect mode (the default for --pairs and --cfp)",
            if known.is_empty() {
                String::new()
            } else {
                format!(" (calibrated: {})", known.join(", "))
            }
        )))
    }
}

fn same_far(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(far: f64, threshold: f32) -> Calibration {
        Calibration {
            model_sha256: "ab".repeat(32),
            far,
            threshold,
            measured_far: far,
            tar: 0.9,
            impostor_pairs: 10_000,
            genuine_pairs: 3_000,
            measured_on: "test".into(),
            procedure: applied_procedure(),
        }
    }

    #[test]
    fn a_book_round_trips_and_replaces_entries_per_far() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/calibration.json");
        assert_eq!(
            CalibrationBook::load(&path).unwrap(),
            CalibrationBook::default()
        );
        let mut book = CalibrationBook::default();
        book.add(entry(1e-3, 0.3));
        book.add(entry(1e-4, 0.4));
        book.add(entry(1e-3, 0.35));
        book.save(&path).unwrap();
        let book = CalibrationBook::load(&path).unwrap();
        assert_eq!(book.entries.len(), 2);
        let applied = applied_procedure();
        assert_eq!(
            book.threshold(&"ab".repeat(32), 1e-3, &applied)
                .unwrap()
                .threshold,
            0.35
        );
        let err = book
            .threshold(&"ab".repeat(32), 1e-5, &applied)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1e-5") && err.contains("1e-3") && err.contains("eval calibrate"),
            "{err}"
        );
        // Measured with another procedure: never applied.
        let flipped = procedure(crate::ImageMode::Aligned, true);
        let err = book
            .threshold(&"ab".repeat(32), 1e-3, &flipped)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("flip-summed") && err.contains("single embedding"),
            "{err}"
        );
    }
}
