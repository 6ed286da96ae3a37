//! `facekit`: face detection, alignment and embedding from the command line,
//! with InsightFace 2.1's numbers.
//!
//! Run `facekit --help`. Output is JSON lines on stdout (one object per
//! image); diagnostics and progress go to stderr. Exit status: 0 when every
//! image was read and analysed, 1 when some could not be (each reported with
//! its path and reason, the others still processed), 2 for usage errors.

mod args;
mod cluster;
mod draw;
mod eval;
mod gallery;
mod output;
mod serve;
mod video;

/// mimalloc instead of glibc's malloc: the server allocates request
/// bodies of megabytes on many threads, and glibc's per-thread arenas keep
/// such freed blocks (its mmap threshold rises after the first free), so
/// resident memory ratchets up under load; measured with
/// `scripts/attack-serve.sh` (see the README's HTTP section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use facekit_core::{Stage, cosine_similarity, stage_totals};
use facekit_fetch::{FetchOptions, OFFICIAL_PACKS, fetch_pack, official_pack};
use facekit_gallery::contract_of;
use facekit_image::{DecodeLimits, RgbImage, decode_file};
use facekit_models::{ModelPack, models_home, resolve_pack};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer, FaceRecord};
use facekit_runtime::{Runtime, RuntimeOptions, inference_nanos};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::args::{Cli, Command, Common, Decision, Inputs, ModelsCommand};
use crate::output::ImageRecord;

const IMAGE_EXTENSIONS: [&str; 9] = [
    "jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif", "ico",
];

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FACEKIT_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(err) => {
            eprintln!("facekit: {err:#}");
            std::process::exit(1);
        }
    }
}

/// Runs a command; `Ok(false)` when some inputs failed but the run finished.
fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Analyze {
            input,
            embeddings,
            quality,
            common,
        } => {
            let batch = Batch::resolve(&input);
            let stages = Stages {
                quality,
                ..Stages::ALL
            };
            print_faces(&batch, &analyzer(&common, batch.jobs, stages)?, embeddings)
        }
        Command::Detect { input, common } => {
            let batch = Batch::resolve(&input);
            print_faces(
                &batch,
                &analyzer(&common, batch.jobs, Stages::DETECT)?,
                false,
            )
        }
        Command::Embed { input, common } => {
            let batch = Batch::resolve(&input);
            let analyzer = analyzer(&common, batch.jobs, Stages::EMBED)?;
            require_recognizer(&analyzer)?;
            print_faces(&batch, &analyzer, true)
        }
        Command::Align { input, out, common } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let batch = Batch::resolve(&input);
            let analyzer = analyzer(&common, batch.jobs, Stages::DETECT)?;
            for_each_image(
                &batch,
                |path| {
                    let img = decode_file(path, &analyzer.options().limits)?;
                    let stem = path
                        .file_stem()
                        .map_or("image".into(), |s| s.to_string_lossy().into_owned());
                    let mut records = Vec::new();
                    for (i, (face, crop)) in analyzer.align(&img)?.into_iter().enumerate() {
                        let file = out.join(format!("{stem}.face{i}.png"));
                        save(&crop, &file)?;
                        let mut record = FaceRecord::new(&face, false);
                        record.crop = Some(file.display().to_string());
                        records.push(record);
                    }
                    Ok(ImageRecord::faces(path, img.width(), img.height(), records))
                },
                print_record,
            )
        }
        Command::Compare {
            a,
            b,
            decision,
            common,
        } => compare(&a, &b, &decision, &common),
        Command::Draw {
            input,
            output,
            common,
        } => {
            let analyzer = analyzer(&common, 1, Stages::DESCRIBE)?;
            let mut img = decode_file(&input, &analyzer.options().limits)
                .with_context(|| format!("{}", input.display()))?;
            let faces = analyzer.analyze(&img)?;
            draw::annotate(&mut img, &faces);
            save(&img, &output)?;
            eprintln!(
                "facekit: {} faces drawn into {}",
                faces.len(),
                output.display()
            );
            Ok(true)
        }
        Command::Models {
            command: ModelsCommand::List { pack, ort_lib },
        } => list_models(pack.as_deref().unwrap_or("buffalo_l"), ort_lib),
        Command::Models {
            command: ModelsCommand::Fetch { pack, force, url },
        } => fetch(&pack, force, url.as_deref()),
        Command::Gallery { db, command } => gallery::run(&db, command),
        Command::Audit { db, command } => gallery::audit(db.as_deref(), command),
        Command::Cluster {
            input,
            thumbnails,
            sheet,
            cluster,
            common,
        } => cluster::run(
            &input,
            thumbnails.as_deref(),
            sheet.as_deref(),
            &cluster,
            &common,
        ),
        Command::Video { command } => video::run(command),
        Command::Eval { command } => eval::run(command),
        Command::Serve { serve, common } => serve::serve(&serve, &common),
        Command::Keys { keys, command } => serve::keys(keys.as_deref(), &command),
        Command::Bench {
            input,
            repeat,
            json,
            common,
        } => bench(&input, repeat, json, &common),
        Command::Train { args } => train(&args),
    }
}

/// `facekit train …`: runs `facekit-train` (beside this binary, else on
/// the PATH) with the same arguments and exits with its status. Training
/// links libtorch, which the main binary never needs.
fn train(args: &[std::ffi::OsString]) -> Result<bool> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("facekit-train")))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| "facekit-train".into());
    let status = match std::process::Command::new(&program).args(args).status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "facekit-train is not installed: it is built apart, with libtorch \
             (export LIBTORCH=$(bash scripts/train-venv.sh) LD_LIBRARY_PATH=$LIBTORCH/lib; \
             cargo build --release -p facekit-train --features torch), and found beside facekit or on the PATH"
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot run {}", program.display())),
    };
    std::process::exit(status.code().unwrap_or(1));
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Which models after the detector a command runs, and whether it
/// measures quality.
#[derive(Debug, Clone, Copy)]
struct Stages {
    embeddings: bool,
    attributes: bool,
    liveness: bool,
    quality: bool,
    /// Other processes (FFmpeg) work beside the models: ONNX Runtime's
    /// idle threads sleep rather than spin.
    shares_cores: bool,
}

impl Stages {
    const ALL: Self = Self {
        embeddings: true,
        attributes: true,
        liveness: true,
        quality: false,
        shares_cores: false,
    };
    const DETECT: Self = Self {
        embeddings: false,
        attributes: false,
        liveness: false,
        quality: false,
        shares_cores: false,
    };
    const EMBED: Self = Self {
        embeddings: true,
        attributes: false,
        liveness: true,
        quality: false,
        shares_cores: false,
    };
    const DESCRIBE: Self = Self {
        embeddings: false,
        attributes: true,
        liveness: false,
        quality: false,
        shares_cores: false,
    };
    /// Video detects on frames; only each track's best faces are embedded
    /// and described.
    const VIDEO: Self = Self {
        embeddings: true,
        attributes: true,
        liveness: false,
        quality: false,
        shares_cores: true,
    };
}

fn analyzer(common: &Common, jobs: usize, stages: Stages) -> Result<FaceAnalyzer> {
    let mut options = AnalyzeOptions::default();
    options.detect.det_size = common.det_size().map_err(anyhow::Error::msg)?;
    options.detect.score_threshold = common.det_thresh;
    options.detect.nms_threshold = common.nms_thresh;
    options.detect.max_side = (common.max_side > 0).then_some(common.max_side);
    options.detector = common.detector();
    options.detect.max_num = common.max_faces;
    options.limits = DecodeLimits {
        max_pixels: common.max_pixels,
        max_file_bytes: common.max_file_bytes,
    };
    options.runtime = RuntimeOptions {
        library: common.ort_lib.clone(),
        intra_threads: Some(common.threads.unwrap_or((cores() / jobs).max(1))),
        no_spinning: stages.shares_cores,
        providers: common.providers.clone(),
    };
    options.skip_embeddings = !stages.embeddings;
    options.skip_attributes = !stages.attributes;
    options.skip_liveness = !stages.liveness;
    options.quality = stages.quality;
    Ok(FaceAnalyzer::from_pack(&common.models, options)?)
}

/// The resolved inputs of an image command, walked once.
struct Batch {
    files: Vec<PathBuf>,
    any_folder: bool,
    /// `--jobs`, or one per core but no more than there are images.
    jobs: usize,
}

impl Batch {
    fn resolve(input: &Inputs) -> Self {
        let (files, any_folder) = expand(&input.paths);
        Self::of(files, any_folder, input.jobs)
    }

    fn of(files: Vec<PathBuf>, any_folder: bool, jobs: Option<usize>) -> Self {
        let jobs = jobs.unwrap_or_else(|| cores().min(files.len())).max(1);
        Self {
            files,
            any_folder,
            jobs,
        }
    }
}

/// Analyses every image and prints its faces, with or without embeddings.
fn print_faces(batch: &Batch, analyzer: &FaceAnalyzer, embeddings: bool) -> Result<bool> {
    for_each_image(
        batch,
        |path| {
            let faces = analyzer.analyze_file(path)?;
            let records = faces
                .faces
                .iter()
                .map(|f| FaceRecord::new(f, embeddings))
                .collect();
            Ok(ImageRecord::faces(path, faces.width, faces.height, records))
        },
        print_record,
    )
}

fn require_recognizer(analyzer: &FaceAnalyzer) -> Result<()> {
    if analyzer.pack().recognizer().is_none() {
        bail!(
            "the pack in {} has no recognition model",
            analyzer.pack().dir().display()
        );
    }
    Ok(())
}

/// Files named directly, plus image files found under named folders, sorted.
fn expand(paths: &[PathBuf]) -> (Vec<PathBuf>, bool) {
    let mut files = Vec::new();
    let mut any_folder = false;
    for p in paths {
        if p.is_dir() {
            any_folder = true;
            // Photo libraries are often links into other folders: follow them
            // (walkdir reports link loops as errors, skipped here).
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(p)
                .follow_links(true)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .filter(|f| {
                    f.extension().is_some_and(|x| {
                        IMAGE_EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str())
                    })
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    (files, any_folder)
}

/// Images a worker may run ahead of the oldest not yet printed: bounds the
/// results held for printing in order when one photo is slow.
const RUN_AHEAD: usize = 256;

/// Processes every input image: `work` runs `jobs` at a time, then `commit`
/// takes each result in input order and returns the JSON line to print.
/// Failures of either become error lines and stderr messages and never stop
/// the run.
///
/// Each worker takes the next image as soon as it is free, and lines are
/// printed as soon as every earlier image is done: no worker waits at a
/// batch boundary for the slowest photo of a batch (the earlier chunks of
/// `jobs × 4` left cores idle at every chunk's tail).
fn for_each_image<T: Send>(
    batch: &Batch,
    work: impl Fn(&Path) -> Result<T> + Sync,
    mut commit: impl FnMut(&Path, T) -> Result<String>,
) -> Result<bool> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};
    let (files, any_folder, jobs) = (&batch.files, batch.any_folder, batch.jobs);
    if files.is_empty() {
        bail!(
            "no image files found (looked for .{} in the folders given)",
            IMAGE_EXTENSIONS.join(", .")
        );
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    let progress = if any_folder {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images {per_sec} eta {eta}")
            .expect("valid template"),
    );
    // The next image to take, and how many are printed (workers wait when
    // they would run more than RUN_AHEAD ahead of the printing).
    let next = AtomicUsize::new(0);
    let printed = (Mutex::new(0usize), Condvar::new());
    let (done, results) = std::sync::mpsc::channel::<(usize, Result<T>)>();
    let stdout = std::io::stdout();
    let mut all_ok = true;
    std::thread::scope(|scope| -> Result<()> {
        let (next, printed, work, progress) = (&next, &printed, &work, &progress);
        scope.spawn(move || {
            // Workers of the pool, so a photo's faces can still be shared
            // among idle workers (`run_batch`).
            pool.broadcast(|_| {
                let done = done.clone();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files.len() {
                        return;
                    }
                    let mut count = printed.0.lock().unwrap_or_else(|e| e.into_inner());
                    while i >= *count + RUN_AHEAD {
                        count = printed.1.wait(count).unwrap_or_else(|e| e.into_inner());
                    }
                    drop(count);
                    let result = work(&files[i]);
                    progress.inc(1);
                    if done.send((i, result)).is_err() {
                        return;
                    }
                }
            });
            drop(done);
        });
        // However printing ends (a write error too), no worker may be left
        // waiting for it.
        struct Release<'a> {
            printed: &'a (Mutex<usize>, Condvar),
            next: &'a AtomicUsize,
            end: usize,
        }
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.next.store(self.end, Ordering::Relaxed);
                *self.printed.0.lock().unwrap_or_else(|e| e.into_inner()) = self.end;
                self.printed.1.notify_all();
            }
        }
        let _release = Release {
            printed,
            next,
            end: files.len(),
        };
        let mut waiting = std::collections::BTreeMap::new();
        let mut committed = 0;
        let mut out = stdout.lock();
        for (i, result) in results {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&committed) {
                let path = &files[committed];
                let line = match result.and_then(|r| commit(path, r)) {
                    Ok(line) => line,
                    Err(err) => {
                        all_ok = false;
                        progress.suspend(|| eprintln!("facekit: {}: {err:#}", path.display()));
                        serde_json::to_string(&ImageRecord::error(path, &err))?
                    }
                };
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
                committed += 1;
            }
            out.flush()?;
            *printed.0.lock().unwrap_or_else(|e| e.into_inner()) = committed;
            printed.1.notify_all();
        }
        Ok(())
    })?;
    progress.finish_and_clear();
    Ok(all_ok)
}

/// `commit` for commands whose work already made the record.
fn print_record(_: &Path, record: ImageRecord) -> Result<String> {
    Ok(serde_json::to_string(&record)?)
}

fn save(img: &RgbImage, path: &Path) -> Result<()> {
    let buffer = image::RgbImage::from_raw(img.width(), img.height(), img.as_raw().to_vec())
        .context("image buffer")?;
    buffer
        .save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn compare(a: &Path, b: &Path, decision: &Decision, common: &Common) -> Result<bool> {
    let analyzer = analyzer(common, 1, Stages::EMBED)?;
    require_recognizer(&analyzer)?;
    let threshold = decision.threshold(|| Ok(contract_of(&analyzer)?.model_sha256))?;
    let embed = |p: &Path| -> Result<Vec<f32>> {
        let faces = analyzer
            .analyze_file(p)
            .with_context(|| format!("{}", p.display()))?;
        let face = faces
            .largest()
            .with_context(|| format!("{}: no face found", p.display()))?;
        face.embedding
            .with_context(|| format!("{}: the face has no landmarks to align", p.display()))
    };
    let similarity = cosine_similarity(&embed(a)?, &embed(b)?);
    let result = serde_json::json!({
        "a": a.display().to_string(),
        "b": b.display().to_string(),
        "similarity": similarity,
        "threshold": threshold,
        "same_person": similarity >= threshold,
    });
    writeln!(std::io::stdout(), "{result}")?;
    Ok(true)
}

fn list_models(pack: &str, ort_lib: Option<PathBuf>) -> Result<bool> {
    let runtime = Runtime::new(&RuntimeOptions {
        library: ort_lib,
        intra_threads: Some(1),
        ..RuntimeOptions::default()
    })?;
    let dir = resolve_pack(pack)?;
    let pack = ModelPack::load(&runtime, &dir)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "pack: {}", dir.display())?;
    writeln!(
        out,
        "{:<44} {:<16} {:<12} {:<10} {:<14} status",
        "file", "task", "kind", "input", "mean/std"
    )?;
    for e in pack.entries() {
        let name = e
            .file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let (task, kind, input, norm) = match &e.route {
            Some(r) => (
                r.kind.task(),
                r.kind.to_string(),
                r.input_size
                    .map_or("dynamic".into(), |(w, h)| format!("{w}x{h}")),
                format!("{}/{}", r.mean, r.std),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        writeln!(
            out,
            "{name:<44} {task:<16} {kind:<12} {input:<10} {norm:<14} {}",
            e.status
        )?;
    }
    Ok(true)
}

fn bench(input: &Inputs, repeat: usize, json: bool, common: &Common) -> Result<bool> {
    let started = Instant::now();
    let batch = Batch::resolve(input);
    let analyzer = analyzer(common, batch.jobs, Stages::ALL)?;
    let load = started.elapsed().as_secs_f64();
    let images: Vec<&PathBuf> = batch
        .files
        .iter()
        .filter(|f| decode_file(f, &analyzer.options().limits).is_ok())
        .collect();
    if images.is_empty() {
        bail!("no readable images among the inputs");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(batch.jobs)
        .build()?;
    let pass = || -> usize {
        pool.install(|| {
            images
                .par_iter()
                .map(|p| analyzer.analyze_file(p).map_or(0, |r| r.faces.len()))
                .sum()
        })
    };
    let warm_up = Instant::now();
    pass(); // session creation, allocator growth
    let warm_up = warm_up.elapsed().as_secs_f64();
    let ort_before = inference_nanos();
    let stages_before = stage_totals();
    let start = Instant::now();
    let faces: usize = (0..repeat.max(1)).map(|_| pass()).sum();
    let wall = start.elapsed().as_secs_f64();
    let stages = stage_totals().since(&stages_before);
    let ort = (inference_nanos() - ort_before) as f64 / 1e9;
    let n = images.len() * repeat.max(1);
    // The cores' time in no stage: waiting for work, the pass's tail, the
    // glue between stages.
    let core_seconds = wall * batch.jobs as f64;
    let busy = stages.sum().as_secs_f64();
    let idle = (core_seconds - busy).max(0.0);
    let breakdown: Vec<(&str, f64)> = Stage::ALL
        .iter()
        .map(|&stage| (stage.name(), stages.of(stage).as_secs_f64()))
        .chain([("idle", idle)])
        .collect();
    let result = serde_json::json!({
        "images": n,
        "faces": faces,
        "seconds": wall,
        "images_per_second": n as f64 / wall,
        "jobs": batch.jobs,
        "intra_threads": analyzer.options().runtime.intra_threads,
        "load_seconds": load,
        "warm_up_seconds": warm_up,
        "stage_seconds": breakdown.iter().map(|&(stage, seconds)| (stage.to_string(), seconds.into())).collect::<serde_json::Map<_, _>>(),
        "onnxruntime_seconds": ort,
        "outside_onnxruntime_fraction": (busy - ort).max(0.0) / busy,
    });
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{result}")?;
        return Ok(true);
    }
    writeln!(
        out,
        "{n} images ({} passes, {} jobs): {:.1} images/s, {faces} faces; \
         models loaded in {load:.2} s, warm-up pass {warm_up:.2} s",
        repeat.max(1),
        batch.jobs,
        n as f64 / wall
    )?;
    writeln!(out, "{:<12} {:>9} {:>7}", "stage", "seconds", "share")?;
    for (stage, seconds) in breakdown {
        let share = 100.0 * seconds / core_seconds;
        writeln!(out, "{stage:<12} {seconds:>9.3} {share:>6.1}%")?;
    }
    writeln!(
        out,
        "inside ONNX Runtime: {ort:.3} s ({:.1}% of busy time)",
        100.0 * ort / busy
    )?;
    Ok(true)
}

fn fetch(name: &str, force: bool, url: Option<&str>) -> Result<bool> {
    let Some(spec) = official_pack(name) else {
        let known: Vec<&str> = OFFICIAL_PACKS.iter().map(|p| p.name).collect();
        bail!(
            "unknown pack '{name}'; official packs: {}",
            known.join(", ")
        );
    };
    let home = models_home().context("no home folder: set FACEKIT_HOME")?;
    let bar = ProgressBar::new(spec.size.unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template"),
    );
    let progress = |got: u64, total: Option<u64>| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(got);
    };
    let url = url.unwrap_or(spec.url);
    let options = FetchOptions {
        force,
        progress: Some(&progress),
    };
    let fetched = fetch_pack(spec, url, &home, &options)
        .with_context(|| format!("fetching {name} from {url}"))?;
    bar.finish_and_clear();
    if fetched.downloaded {
        eprintln!(
            "facekit: {name} verified and installed in {}",
            fetched.dir.display()
        );
    } else {
        eprintln!(
            "facekit: {name} is already in {} (--force downloads it again)",
            fetched.dir.display()
        );
    }
    Ok(true)
}
