//! `facekit.eval.verify`: the verification protocol of `facekit eval
//! verify` on a `.bin` set, LFW pairs or CFP, as a report dict.

use std::path::PathBuf;

use facekit_eval::{SetSource, VerifyOptions};
use pyo3::prelude::*;

use crate::analysis::Analyzer;
use crate::errors::{self, EvalError};

/// Runs the protocol with `app`'s pack; the report is the JSON `facekit
/// eval verify --out` writes (`report.json`), parsed.
#[pyfunction]
#[pyo3(signature = (app, bin = None, pairs = None, images = None, cfp = None, protocol = "fp".to_string(),
    mode = None, flip = true, folds = 10, jobs = None, cache = None))]
#[allow(clippy::too_many_arguments)]
pub fn verify<'py>(
    py: Python<'py>,
    app: PyRef<'py, Analyzer>,
    bin: Option<PathBuf>,
    pairs: Option<PathBuf>,
    images: Option<PathBuf>,
    cfp: Option<PathBuf>,
    protocol: String,
    mode: Option<String>,
    flip: bool,
    folds: usize,
    jobs: Option<usize>,
    cache: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let source = SetSource {
        bin,
        pairs,
        images,
        cfp,
        protocol,
        mode,
    };
    let analyzer = app.analyzer();
    let report = py
        .detach(|| {
            let (set, mode) = source.read()?;
            let defaults = VerifyOptions::default();
            let options = VerifyOptions {
                mode,
                flip,
                folds,
                jobs: jobs.unwrap_or(defaults.jobs).max(1),
                cache_dir: cache,
                ..defaults
            };
            facekit_eval::verify(analyzer, &set, &options, &|| {})
        })
        .map_err(|e| EvalError::new_err(errors::message(e)))?;
    let text = serde_json::to_string(&report).map_err(|e| EvalError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}
