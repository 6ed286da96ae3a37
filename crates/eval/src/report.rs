//! The evaluation runs and their reports: a JSON result carrying every
//! setting behind the numbers, and a Markdown page with SVG charts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use facekit_pipeline::FaceAnalyzer;
use plotters::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::EvalError;
use crate::calibration::Calibration;
use crate::embed::{EmbedSettings, ImageMode, embed_images, file_sha256, pair_scores, recognizer};
use crate::metrics::{
    FoldedAccuracy, OperatingPoint, RocPoint, STANDARD_FARS, Unmeasurable, at_far, auc, eer,
    folded_accuracy, roc,
};
use crate::sets::PairSet;
use crate::wider::{GroundTruthImage, Prediction, SettingAp, average_precision};

/// Settings of [`verify`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// How images become face crops.
    pub mode: ImageMode,
    /// Flip test: embed each crop and its mirror image, summed.
    pub flip: bool,
    /// Images embedded at once (each with its own model session); give the
    /// analyzer about `cores / jobs` ONNX Runtime threads, or they contend.
    pub jobs: usize,
    /// Number of folds.
    pub folds: usize,
    /// FARs at which TAR is reported.
    pub fars: Vec<f64>,
    /// Where embeddings are cached between runs.
    pub cache_dir: Option<PathBuf>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            mode: ImageMode::Detect,
            flip: true,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            folds: 10,
            fars: STANDARD_FARS.to_vec(),
            cache_dir: None,
        }
    }
}

/// TAR at one FAR, or why it cannot be measured on this set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FarResult {
    /// Measured.
    Measured(OperatingPoint),
    /// Too few impostor pairs.
    Unmeasurable(Unmeasurable),
}

/// Everything behind a verification result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifySettings {
    /// Crop mode, flip, model hashes, detector settings.
    #[serde(flatten)]
    pub embedding: EmbedSettings,
    /// The recognition model file.
    pub recognizer_file: PathBuf,
    /// The detector family and file (detect mode).
    pub detector: Option<String>,
    /// How crops are made from images.
    pub alignment: String,
    /// How pairs are split into folds.
    pub folds: String,
    /// The decision rule of the accuracy protocol.
    pub distance: String,
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationReport {
    /// The set.
    pub set: String,
    /// Distinct images.
    pub images: usize,
    /// Pairs.
    pub pairs: usize,
    /// Same-person pairs.
    pub genuine_pairs: usize,
    /// Different-person pairs.
    pub impostor_pairs: usize,
    /// Every setting that affects the numbers.
    pub settings: VerifySettings,
    /// Detect mode: images where no face was found (whole image used).
    pub no_face_images: Vec<String>,
    /// k-fold accuracy as InsightFace computes it.
    pub accuracy: FoldedAccuracy,
    /// Area under the ROC.
    pub auc: f64,
    /// Equal error rate.
    pub eer: f64,
    /// TAR at each requested FAR.
    pub tar_at_far: Vec<FarResult>,
    /// Seconds spent embedding (0 when all came from the cache).
    pub embed_seconds: f64,
    /// Pair scores (cosine), in pair order; in the JSON for re-analysis.
    pub scores: Vec<f32>,
    /// Pair labels, in pair order.
    pub same: Vec<bool>,
}

/// Embeds the set's images and computes the verification metrics.
/// `progress` is called once per image.
pub fn verify(
    analyzer: &FaceAnalyzer,
    set: &PairSet,
    options: &VerifyOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<VerificationReport, EvalError> {
    if set.pairs.is_empty() {
        return Err(EvalError::Invalid(format!("{} has no pairs", set.source)));
    }
    // Each fold needs pairs, and the other folds to choose its threshold on.
    if options.folds < 2 || options.folds > set.pairs.len() {
        return Err(EvalError::Invalid(format!(
            "{} folds: give 2 to {} (the pairs of {})",
            options.folds,
            set.pairs.len(),
            set.source
        )));
    }
    let settings = EmbedSettings::of(analyzer, options.mode, options.flip)?;
    let start = Instant::now();
    let embeddings = embed_images(
        analyzer,
        &set.images,
        &settings,
        options.jobs,
        options.cache_dir.as_deref(),
        progress,
    )?;
    let embed_seconds = start.elapsed().as_secs_f64();
    let scores = pair_scores(&embeddings, &set.pairs);
    let same: Vec<bool> = set.pairs.iter().map(|p| p.same).collect();
    let curve = roc(&scores, &same);
    let (genuine_pairs, impostor_pairs) = set.counts();
    let rec = recognizer(analyzer)?;
    let side = rec.input_size();
    let detect = options.mode == ImageMode::Detect;
    Ok(VerificationReport {
        set: set.source.clone(),
        images: set.images.len(),
        pairs: set.pairs.len(),
        genuine_pairs,
        impostor_pairs,
        settings: VerifySettings {
            recognizer_file: rec.model().path().to_path_buf(),
            detector: detect.then(|| {
                let d = analyzer.pack().detector();
                format!("{} {}", d.kind().name(), d.model().path().display())
            }),
            alignment: if detect {
                format!("largest face (box area), norm_crop to the ArcFace {side}×{side} template; whole image resized when no face")
            } else {
                format!("image resized to {side}×{side} (bilinear)")
            },
            folds: format!(
                "{} consecutive folds in the set's pair order (KFold, no shuffle)",
                options.folds
            ),
            distance: "squared L2 between unit embeddings (flip: sum of both views' raw embeddings, then normalised); thresholds 0:0.01:3.99, same when below".into(),
            embedding: settings,
        },
        no_face_images: set
            .images
            .iter()
            .zip(&embeddings)
            .filter(|(_, e)| e.fallback)
            .map(|(i, _)| i.describe())
            .collect(),
        accuracy: folded_accuracy(&scores, &same, options.folds),
        auc: auc(&curve),
        eer: eer(&curve),
        tar_at_far: options
            .fars
            .iter()
            .map(|&f| match at_far(&scores, &same, f) {
                Ok(p) => FarResult::Measured(p),
                Err(u) => FarResult::Unmeasurable(u),
            })
            .collect(),
        embed_seconds,
        scores,
        same,
    })
}

/// The threshold for `far` measured by a verification run.
pub fn calibrate(report: &VerificationReport, far: f64) -> Result<Calibration, EvalError> {
    let point = at_far(&report.scores, &report.same, far).map_err(|u| {
        EvalError::Invalid(format!(
            "cannot calibrate FAR {far:e} on {}: {}",
            report.set, u.reason
        ))
    })?;
    Ok(Calibration {
        model_sha256: report.settings.embedding.recognizer_sha256.clone(),
        far,
        threshold: point.threshold,
        measured_far: point.far,
        tar: point.tar,
        impostor_pairs: point.impostor_pairs,
        genuine_pairs: point.genuine_pairs,
        measured_on: format!(
            "{} ({} mode, flip {})",
            report.set, report.settings.embedding.mode, report.settings.embedding.flip
        ),
        procedure: crate::calibration::procedure(
            report.settings.embedding.mode,
            report.settings.embedding.flip,
        ),
    })
}

fn chart_error(e: impl std::fmt::Display) -> EvalError {
    EvalError::Invalid(format!("cannot draw the chart: {e}"))
}

/// The ROC on a log FAR axis, as SVG.
fn roc_svg(curve: &[RocPoint]) -> Result<String, EvalError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("ROC", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((1e-6f64..1.0f64).log_scale(), 0.0f64..1.0f64)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("false accept rate")
            .y_desc("true accept rate")
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series(LineSeries::new(
                curve.iter().filter(|p| p.far > 0.0).map(|p| (p.far, p.tar)),
                &BLUE,
            ))
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// Genuine and impostor score histograms (share of pairs per 0.02 bin), as SVG.
fn histogram_svg(scores: &[f32], same: &[bool]) -> Result<String, EvalError> {
    const BINS: usize = 100;
    let bin_of = |s: f32| (((s + 1.0) / 2.0 * BINS as f32) as usize).min(BINS - 1);
    let shares = |want: bool| {
        let mut counts = vec![0usize; BINS];
        let mut n = 0;
        for (&s, &t) in scores.iter().zip(same) {
            if t == want {
                counts[bin_of(s)] += 1;
                n += 1;
            }
        }
        counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    -1.0 + (i as f64 + 0.5) * 2.0 / BINS as f64,
                    c as f64 / n.max(1) as f64,
                )
            })
            .collect::<Vec<_>>()
    };
    let (genuine, impostor) = (shares(true), shares(false));
    let top = genuine
        .iter()
        .chain(&impostor)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Pair scores (cosine)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-1.0f64..1.0f64, 0.0f64..top * 1.05)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("cosine similarity")
            .y_desc("share of pairs")
            .draw()
            .map_err(chart_error)?;
        for (points, color, label) in [
            (genuine, BLUE, "same person"),
            (impostor, RED, "different persons"),
        ] {
            chart
                .draw_series(LineSeries::new(points, &color))
                .map_err(chart_error)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

fn write(path: &Path, text: &str) -> Result<(), EvalError> {
    crate::write_atomic(path, text.as_bytes())
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Writes `report.json`, `report.md`, `roc.svg` and `scores.svg` into `dir`.
pub fn write_verification_report(report: &VerificationReport, dir: &Path) -> Result<(), EvalError> {
    write(&dir.join("report.json"), &json(report))?;
    write(
        &dir.join("roc.svg"),
        &roc_svg(&roc(&report.scores, &report.same))?,
    )?;
    write(
        &dir.join("scores.svg"),
        &histogram_svg(&report.scores, &report.same)?,
    )?;
    let s = &report.settings;
    let mut md = format!(
        "# Verification: {}\n\n**Accuracy {:.2} % ± {:.2}** ({} folds) · AUC {:.4} · EER {:.2} %\n\n",
        report.set,
        100.0 * report.accuracy.mean,
        100.0 * report.accuracy.std,
        report.accuracy.folds.len(),
        report.auc,
        100.0 * report.eer
    );
    md += "| setting | value |\n|---|---|\n";
    for (k, v) in [
        (
            "pairs",
            format!(
                "{} ({} same, {} different)",
                report.pairs, report.genuine_pairs, report.impostor_pairs
            ),
        ),
        ("images", report.images.to_string()),
        ("mode", s.embedding.mode.to_string()),
        ("alignment", s.alignment.clone()),
        ("flip test", s.embedding.flip.to_string()),
        (
            "recognizer",
            format!(
                "{} (sha256 {})",
                s.recognizer_file.display(),
                s.embedding.recognizer_sha256
            ),
        ),
        (
            "detector",
            s.detector.clone().unwrap_or_else(|| "none".into()),
        ),
        (
            "detector settings",
            s.embedding
                .detector_settings
                .clone()
                .unwrap_or_else(|| "none".into()),
        ),
        (
            "images without a face",
            report.no_face_images.len().to_string(),
        ),
        ("folds", s.folds.clone()),
        ("decision", s.distance.clone()),
        (
            "best threshold (all pairs)",
            format!(
                "cosine {:.3} → {:.2} %",
                report.accuracy.best_threshold_cosine,
                100.0 * report.accuracy.best_accuracy
            ),
        ),
    ] {
        md += &format!("| {k} | {v} |\n");
    }
    md += "\n## Folds\n\n| fold | pairs | threshold (cosine) | accuracy |\n|---|---|---|---|\n";
    for (i, f) in report.accuracy.folds.iter().enumerate() {
        md += &format!(
            "| {} | {}–{} | {:.3} | {:.2} % |\n",
            i + 1,
            f.pairs.start + 1,
            f.pairs.end,
            f.threshold_cosine,
            100.0 * f.accuracy
        );
    }
    md +=
        "\n## TAR at FAR\n\n| FAR | threshold (cosine) | TAR | measured FAR |\n|---|---|---|---|\n";
    for r in &report.tar_at_far {
        md += &match r {
            FarResult::Measured(p) => format!(
                "| {:e} | {:.4} | {:.2} % | {:.2e} |\n",
                p.target_far,
                p.threshold,
                100.0 * p.tar,
                p.far
            ),
            FarResult::Unmeasurable(u) => {
                format!("| {:e} | — | {} | — |\n", u.target_far, u.reason)
            }
        };
    }
    md += "\n![ROC](roc.svg)\n\n![Scores](scores.svg)\n";
    if !report.no_face_images.is_empty() {
        md += "\n## Images without a detected face\n\n";
        for i in report.no_face_images.iter().take(50) {
            md += &format!("- {i}\n");
        }
    }
    write(&dir.join("report.md"), &md)
}

/// Settings of [`detect_wider`].
#[derive(Debug, Clone)]
pub struct WiderOptions {
    /// Images run at once.
    pub jobs: usize,
}

/// The result of [`detect_wider`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionReport {
    /// Ground-truth folder.
    pub ground_truth: PathBuf,
    /// Images folder.
    pub images_dir: PathBuf,
    /// Ground-truth images found in the images folder and evaluated.
    pub images: usize,
    /// Ground-truth images not found (not evaluated).
    pub images_missing: usize,
    /// Faces predicted over the evaluated images.
    pub predictions: usize,
    /// Detector family, file and hash.
    pub detector: String,
    /// Detector settings (sizes, thresholds).
    pub detector_settings: String,
    /// How AP is computed.
    pub protocol: String,
    /// AP per setting.
    pub ap: Vec<SettingAp>,
}

/// Runs the analyzer's detector over the ground-truth images found under
/// `images_dir` (by `event/name.jpg` or by file name alone) and computes
/// WIDER FACE AP. `progress` is called once per image.
pub fn detect_wider(
    analyzer: &FaceAnalyzer,
    ground_truth_dir: &Path,
    gt: &[GroundTruthImage],
    images_dir: &Path,
    options: &WiderOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<DetectionReport, EvalError> {
    let found: Vec<(&GroundTruthImage, PathBuf)> = gt
        .iter()
        .filter_map(|g| {
            let nested = images_dir.join(&g.name);
            let flat = images_dir.join(Path::new(&g.name).file_name()?);
            [nested, flat]
                .into_iter()
                .find(|p| p.is_file())
                .map(|p| (g, p))
        })
        .collect();
    if found.is_empty() {
        return Err(EvalError::Invalid(format!(
            "none of the {} ground-truth images is in {}",
            gt.len(),
            images_dir.display()
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
        .map_err(|e| EvalError::Invalid(format!("cannot start worker threads: {e}")))?;
    let limits = &analyzer.options().limits;
    let predictions: BTreeMap<String, Vec<Prediction>> = pool.install(|| {
        found
            .par_iter()
            .map(|(g, path)| {
                let img =
                    facekit_image::decode_file(path, limits).map_err(|e| EvalError::Image {
                        image: path.display().to_string(),
                        source: e,
                    })?;
                let mut preds: Vec<Prediction> = analyzer
                    .detect(&img)?
                    .into_iter()
                    .map(|f| {
                        let b = f.bbox;
                        [
                            f64::from(b.x1),
                            f64::from(b.y1),
                            f64::from(b.x2 - b.x1),
                            f64::from(b.y2 - b.y1),
                            f64::from(f.det_score),
                        ]
                    })
                    .collect();
                preds.sort_by(|a, b| b[4].total_cmp(&a[4]));
                progress();
                Ok((g.name.clone(), preds))
            })
            .collect::<Result<_, EvalError>>()
    })?;
    let detector = analyzer.pack().detector();
    Ok(DetectionReport {
        ground_truth: ground_truth_dir.to_path_buf(),
        images_dir: images_dir.to_path_buf(),
        images: found.len(),
        images_missing: gt.len() - found.len(),
        predictions: predictions.values().map(Vec::len).sum(),
        detector: format!(
            "{} {} (sha256 {})",
            detector.kind().name(),
            detector.model().path().display(),
            file_sha256(detector.model().path())?
        ),
        detector_settings: format!("{:?}", analyzer.options().detect),
        protocol: "WIDER FACE eval_tools: scores min-max normalised over all images, IoU ≥ 0.5 (+1 pixel convention), faces outside the setting ignored, 1,000 thresholds, VOC AP".into(),
        ap: average_precision(gt, &predictions),
    })
}

/// Writes `report.json` and `report.md` into `dir`.
pub fn write_detection_report(report: &DetectionReport, dir: &Path) -> Result<(), EvalError> {
    write(&dir.join("report.json"), &json(report))?;
    let mut md = format!(
        "# WIDER FACE detection\n\n| setting | AP | faces |\n|---|---|---|\n{}\n",
        report
            .ap
            .iter()
            .map(|a| format!("| {} | {:.4} | {} |", a.setting, a.ap, a.faces))
            .collect::<Vec<_>>()
            .join("\n")
    );
    md += "\n| | |\n|---|---|\n";
    for (k, v) in [
        ("ground truth", report.ground_truth.display().to_string()),
        (
            "images",
            format!(
                "{} evaluated, {} not found",
                report.images, report.images_missing
            ),
        ),
        ("predictions", report.predictions.to_string()),
        ("detector", report.detector.clone()),
        ("detector settings", report.detector_settings.clone()),
        ("protocol", report.protocol.clone()),
    ] {
        md += &format!("| {k} | {v} |\n");
    }
    write(&dir.join("report.md"), &md)
}
