//! Calibrated thresholds: for a recognition model (by file hash) and a
//! target FAR, the cosine threshold measured on a labelled set, kept in one
//! JSON file so `compare` and the gallery can take `--far` instead of a
//! guessed threshold.

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

    /// The threshold for `model_sha256` at `far`, or an error that says
    /// which FARs are calibrated and how to add one.
    pub fn threshold(&self, model_sha256: &str, far: f64) -> Result<&Calibration, EvalError> {
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.model_sha256 == model_sha256 && same_far(e.far, far))
        {
            return Ok(e);
        }
        let known: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.model_sha256 == model_sha256)
            .map(|e| format!("{:e}", e.far))
            .collect();
        Err(EvalError::Invalid(format!(
            "no threshold calibrated for FAR {far:e} with model {}…{}; run `facekit eval calibrate --far {far:e}` on a labelled set",
            &model_sha256[..model_sha256.len().min(12)],
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
        assert_eq!(
            book.threshold(&"ab".repeat(32), 1e-3).unwrap().threshold,
            0.35
        );
        let err = book
            .threshold(&"ab".repeat(32), 1e-5)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1e-5") && err.contains("1e-3") && err.contains("eval calibrate"),
            "{err}"
        );
    }
}
