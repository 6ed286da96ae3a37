//! `facekit eval …` and the `--far` decision threshold.

use std::path::PathBuf;

use anyhow::{Context, Result};
use facekit_eval::{
    CalibrationBook, FarResult, ImageMode, PairSet, SetSource, VerificationReport, VerifyOptions,
    WiderOptions, applied_procedure, calibrate, detect_wider, read_ground_truth, verify,
    write_detection_report, write_verification_report,
};
use facekit_models::facekit_home;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{Common, Decision, EvalCommand, PairSource};
use crate::gallery::print;
use crate::{Stages, analyzer, cores};

/// WIDER FACE evaluations keep low-scoring boxes: AP integrates the whole
/// precision-recall curve (the published SCRFD figures use 0.02).
const WIDER_SCORE_THRESHOLD: f32 = 0.02;

pub fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what} {{per_sec}} eta {{eta}}"
        ))
        .expect("valid template"),
    );
    bar
}

fn read_set(set: &PairSource) -> Result<(PairSet, ImageMode)> {
    Ok(SetSource {
        bin: set.bin.clone(),
        pairs: set.pairs.clone(),
        images: set.images.clone(),
        cfp: set.cfp.clone(),
        protocol: set.protocol.clone(),
        mode: set.mode.clone(),
    }
    .read()?)
}

/// The embedding cache folder: `cache`, or `$FACEKIT_HOME/eval-cache`;
/// none with `no_cache`.
pub fn cache_dir(no_cache: bool, cache: &Option<PathBuf>) -> Option<PathBuf> {
    if no_cache {
        return None;
    }
    cache
        .clone()
        .or_else(|| facekit_home().map(|h| h.join("eval-cache")))
}

/// Reads the set and runs the verification protocol with a progress bar.
fn run_verify(set: &PairSource, common: &Common) -> Result<VerificationReport> {
    let (pairs, mode) = read_set(set)?;
    let jobs = set.jobs.unwrap_or_else(cores).max(1);
    let analyzer = analyzer(common, jobs, Stages::EMBED)?;
    let cache_dir = cache_dir(set.no_cache, &set.cache);
    let options = VerifyOptions {
        mode,
        flip: !set.no_flip,
        jobs,
        folds: set.folds,
        cache_dir,
        ..VerifyOptions::default()
    };
    let progress = bar(pairs.images.len(), "images");
    let report = verify(&analyzer, &pairs, &options, &|| progress.inc(1))?;
    progress.finish_and_clear();
    Ok(report)
}

fn summary(report: &VerificationReport) -> serde_json::Value {
    let tar: Vec<serde_json::Value> = report
        .tar_at_far
        .iter()
        .map(|r| match r {
            FarResult::Measured(p) => {
                json!({"far": p.target_far, "tar": p.tar, "threshold": p.threshold})
            }
            FarResult::Unmeasurable(u) => json!({"far": u.target_far, "unmeasurable": u.reason}),
        })
        .collect();
    json!({
        "set": report.set,
        "pairs": report.pairs,
        "mode": report.settings.embedding.mode,
        "flip": report.settings.embedding.flip,
        "accuracy": report.accuracy.mean,
        "accuracy_std": report.accuracy.std,
        "best_threshold": report.accuracy.best_threshold_cosine,
        "auc": report.auc,
        "eer": report.eer,
        "tar_at_far": tar,
        "no_face_images": report.no_face_images.len(),
        "embed_seconds": report.embed_seconds,
    })
}

pub fn run(command: EvalCommand) -> Result<bool> {
    match command {
        EvalCommand::Cluster {
            images,
            jobs,
            cluster,
            common,
        } => crate::cluster::evaluate(&images, jobs, &cluster, &common)?,
        EvalCommand::Verify { set, out, common } => {
            let report = run_verify(&set, &common)?;
            let mut line = summary(&report);
            if let Some(dir) = &out {
                write_verification_report(&report, dir)?;
                line["report"] = json!(dir.join("report.md").display().to_string());
            }
            print(&line)?;
        }
        EvalCommand::Calibrate {
            set,
            far,
            book,
            common,
        } => {
            // Scored as compare, identify and serve score: no flip test.
            let report = run_verify(
                &PairSource {
                    no_flip: true,
                    ..set
                },
                &common,
            )?;
            if report.settings.embedding.mode != ImageMode::Detect {
                eprintln!(
                    "facekit: warning: calibrated in {} mode; compare, identify and serve detect faces, so --far will not use these thresholds",
                    report.settings.embedding.mode
                );
            }
            let path = book
                .or_else(CalibrationBook::default_path)
                .context("no home folder: pass --book or set FACEKIT_HOME")?;
            let mut calibrations = CalibrationBook::load(&path)?;
            for f in far {
                let entry = calibrate(&report, f)?;
                print(&json!({
                    "far": entry.far, "threshold": entry.threshold, "tar": entry.tar,
                    "measured_far": entry.measured_far, "impostor_pairs": entry.impostor_pairs,
                    "genuine_pairs": entry.genuine_pairs, "model_sha256": entry.model_sha256,
                    "book": path.display().to_string(),
                }))?;
                calibrations.add(entry);
            }
            calibrations.save(&path)?;
        }
        EvalCommand::Detect {
            gt,
            images,
            out,
            jobs,
            mut common,
        } => {
            common.det_thresh.get_or_insert(WIDER_SCORE_THRESHOLD);
            let jobs = jobs.unwrap_or_else(cores).max(1);
            let analyzer = analyzer(&common, jobs, Stages::DETECT)?;
            let truth = read_ground_truth(&gt)?;
            let progress = bar(truth.len(), "images");
            let report = detect_wider(
                &analyzer,
                &gt,
                &truth,
                &images,
                &WiderOptions { jobs },
                &|| progress.inc(1),
            )?;
            progress.finish_and_clear();
            let mut line = json!({
                "images": report.images, "images_missing": report.images_missing,
                "predictions": report.predictions, "ap": report.ap,
            });
            if let Some(dir) = &out {
                write_detection_report(&report, dir)?;
                line["report"] = json!(dir.join("report.md").display().to_string());
            }
            print(&line)?;
        }
    }
    Ok(true)
}

impl Decision {
    /// `--threshold`, or the threshold calibrated for `--far` with the
    /// recognition model whose SHA-256 `model_sha256` gives (asked only then:
    /// hashing a model file takes a while).
    pub fn threshold(&self, model_sha256: impl FnOnce() -> Result<String>) -> Result<f32> {
        match self.far {
            Some(far) => calibrated_threshold(far, &model_sha256()?),
            None => Ok(self.threshold),
        }
    }
}

/// The threshold `facekit eval calibrate` stored for this false accept rate
/// and recognition model.
pub fn calibrated_threshold(far: f64, model_sha256: &str) -> Result<f32> {
    let path: PathBuf =
        CalibrationBook::default_path().context("no home folder: set FACEKIT_HOME")?;
    Ok(CalibrationBook::load(&path)?
        .threshold(model_sha256, far, &applied_procedure())
        .with_context(|| format!("calibration file {}", path.display()))?
        .threshold)
}
