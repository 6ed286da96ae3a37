//! The training loop: a backbone and Partial FC trained on a RecordIO set
//! as arcface_torch's `train_v2.py` does (one process): SGD or AdamW over
//! both, the polynomial schedule with warm-up, the backbone's gradient
//! clipped at norm 5, a JSON-lines log, checkpoints a run resumes from bit
//! for bit on the CPU, and verification on LFW-style pairs with facekit's
//! own evaluation (the same crops and 10-fold protocol as `facekit eval
//! verify`, flip test included).

use std::io::Write;
use std::path::{Path, PathBuf};

use facekit_pipeline::FaceAnalyzer;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

use crate::backbone::{Architecture, Backbone};
use crate::data::{DataError, TrainingSet, splitmix64, to_input};
use crate::margin::CombinedMargin;
use crate::optim::{Optimizer, Rule};
use crate::partial_fc::PartialFc;
use crate::schedule::PolynomialWarmup;

/// Everything a run needs; stored in its checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The prepared set (`train.rec`, `train.idx`, `classes.txt`).
    pub data: PathBuf,
    /// Output folder: `metrics.jsonl`, `report.svg`, `checkpoint/`.
    pub output: PathBuf,
    /// `r18`, `r34`, `r50`, `r100` or `mbf`.
    pub network: String,
    /// Embedding size.
    pub embedding_size: i64,
    /// `(s, m1, m2, m3)`: ArcFace `(64, 1, 0.5, 0)`, CosFace `(64, 1, 0, 0.4)`.
    pub margin: [f64; 4],
    /// Share of negative class centres sampled each step (Partial FC).
    pub sample_rate: f64,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Passes over the set.
    pub epochs: f64,
    /// Warm-up, in epochs.
    pub warmup_epochs: f64,
    /// The update rule.
    pub optimizer: Rule,
    /// Largest L2 norm of the backbone's gradient (0: no clipping).
    pub clip_grad_norm: f64,
    /// Dropout before the backbone's FC layer (IResNet).
    pub dropout: f64,
    /// Shuffles, flips and class sampling all follow from it.
    pub seed: u64,
    /// Log a line every this many steps.
    pub log_every: u64,
    /// Save a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Pairs to verify on while training.
    pub verify: Option<VerifyConfig>,
    /// libtorch threads (0: its default).
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::new(),
            output: PathBuf::new(),
            network: "mbf".into(),
            embedding_size: 512,
            margin: [64.0, 1.0, 0.5, 0.0],
            sample_rate: 1.0,
            batch_size: 64,
            lr: 0.1,
            epochs: 1.0,
            warmup_epochs: 0.0,
            optimizer: Rule::Sgd {
                momentum: 0.9,
                weight_decay: 5e-4,
            },
            clip_grad_norm: 5.0,
            dropout: 0.0,
            seed: 0,
            log_every: 10,
            checkpoint_every: 0,
            verify: None,
            threads: 0,
        }
    }
}

/// A verification set checked while training: an InsightFace `.bin`, LFW
/// `pairs.txt` + images, or CFP, as `facekit eval verify` takes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyConfig {
    /// An InsightFace `.bin` set (aligned crops).
    pub bin: Option<PathBuf>,
    /// LFW `pairs.txt`.
    pub pairs: Option<PathBuf>,
    /// The image folder `pairs` refers to.
    pub images: Option<PathBuf>,
    /// A CFP folder (holding `Protocol/`).
    pub cfp: Option<PathBuf>,
    /// CFP protocol, `fp` or `ff` (default `fp`).
    pub protocol: Option<String>,
    /// Only the first this many pairs (whole folds: 600 per LFW fold); 0: all.
    pub first_pairs: usize,
    /// Verify every this many steps (and at step 0 and the end).
    pub every: u64,
}

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Verification data or its faces.
    #[error("verification: {0}")]
    Verify(#[from] facekit_eval::EvalError),
    /// A file of the run.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The configuration.
    #[error("configuration: {0}")]
    Config(String),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |e| TrainError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Updates done.
    pub step: u64,
    /// Epoch (fractional).
    pub epoch: f64,
    /// Mean loss since the last line.
    pub loss: Option<f64>,
    /// Learning rate of the last update.
    pub lr: Option<f64>,
    /// Images per second since the last line.
    pub samples_per_s: Option<f64>,
    /// 10-fold verification accuracy, when verified at this step.
    pub accuracy: Option<f64>,
    /// Its standard deviation over the folds.
    pub accuracy_std: Option<f64>,
}

/// Pairs with their faces ready: crops and labels.
pub struct Verification {
    crops: Vec<Vec<u8>>,
    pairs: Vec<(usize, usize, bool)>,
}

impl Verification {
    /// Reads the set and makes each image's crop as `facekit eval verify`
    /// does (a `.bin` is crops already, resized to 112; LFW and CFP photos
    /// get their largest face `norm_crop`ped, or are resized whole when
    /// none is found).
    pub fn prepare(config: &VerifyConfig, analyzer: &FaceAnalyzer) -> Result<Self, TrainError> {
        let source = facekit_eval::SetSource {
            bin: config.bin.clone(),
            pairs: config.pairs.clone(),
            images: config.images.clone(),
            cfp: config.cfp.clone(),
            protocol: config.protocol.clone().unwrap_or_else(|| "fp".into()),
            mode: None,
        };
        let (set, mode) = source.read()?;
        let set = set.first_pairs(config.first_pairs);
        let limits = &analyzer.options().limits;
        use rayon::prelude::*;
        let crops: Vec<Vec<u8>> =
            set.images
                .par_iter()
                .map(|source| {
                    let img = facekit_image::decode_bytes(&source.bytes(limits)?, limits).map_err(
                        |e| facekit_eval::EvalError::Image {
                            image: source.describe(),
                            source: e,
                        },
                    )?;
                    Ok(facekit_eval::face_crop(analyzer, &img, 112, mode)?
                        .0
                        .into_raw())
                })
                .collect::<Result<_, facekit_eval::EvalError>>()?;
        let pairs = set.pairs.iter().map(|p| (p.a, p.b, p.same)).collect();
        Ok(Self { crops, pairs })
    }

    /// The images' unit embeddings (crop + mirror, summed, normalised).
    pub fn embeddings(&self, net: &Backbone) -> Tensor {
        tch::no_grad(|| {
            let chunks: Vec<Tensor> = self
                .crops
                .chunks(64)
                .map(|chunk| {
                    let pixels: Vec<u8> = chunk.concat();
                    let x = to_input(&pixels, chunk.len() as i64);
                    net.forward_t(&x, false) + net.forward_t(&x.flip([3]), false)
                })
                .collect();
            let all = Tensor::cat(&chunks, 0).to_kind(Kind::Float);
            &all / all.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12)
        })
    }

    /// InsightFace's 10-fold accuracy of `net` on the pairs.
    pub fn accuracy(&self, net: &Backbone) -> facekit_eval::FoldedAccuracy {
        let e = self.embeddings(net);
        let scores: Vec<f32> = self
            .pairs
            .iter()
            .map(|&(a, b, _)| e.get(a as i64).dot(&e.get(b as i64)).double_value(&[]) as f32)
            .collect();
        let same: Vec<bool> = self.pairs.iter().map(|p| p.2).collect();
        facekit_eval::folded_accuracy(&scores, &same, 10)
    }
}

/// A run: the networks, the optimizer and where it stands.
pub struct Trainer {
    /// The configuration.
    pub config: TrainConfig,
    backbone_store: nn::VarStore,
    pfc_store: nn::VarStore,
    /// The recognizer being trained.
    pub backbone: Backbone,
    pfc: PartialFc,
    optimizer: Optimizer,
    set: TrainingSet,
    /// Updates done.
    pub step: u64,
}

/// The checkpoint folder of a run's output.
pub fn checkpoint_dir(output: &Path) -> PathBuf {
    output.join("checkpoint")
}

/// The number of classes of a prepared set (`classes.txt`).
pub fn class_count(data: &Path) -> Result<i64, TrainError> {
    let path = data.join("classes.txt");
    let text = std::fs::read_to_string(&path).map_err(file_error(&path))?;
    Ok(text.lines().filter(|l| !l.is_empty()).count() as i64)
}

impl Trainer {
    /// A fresh run (libtorch's generator seeded from `config.seed`).
    pub fn new(config: TrainConfig) -> Result<Self, TrainError> {
        if config.threads > 0 {
            tch::set_num_threads(config.threads as i32);
        }
        tch::manual_seed(config.seed as i64);
        let architecture: Architecture = config.network.parse().map_err(TrainError::Config)?;
        if config.batch_size == 0 || !(config.sample_rate > 0.0 && config.sample_rate <= 1.0) {
            return Err(TrainError::Config(
                "batch_size ≥ 1 and 0 < sample_rate ≤ 1".into(),
            ));
        }
        let set = TrainingSet::open(&config.data)?;
        if set.batches_per_epoch(config.batch_size) == 0 {
            return Err(TrainError::Config(format!(
                "{} images make no batch of {}",
                set.len(),
                config.batch_size
            )));
        }
        let classes = class_count(&config.data)?;
        let backbone_store = nn::VarStore::new(Device::Cpu);
        let backbone = Backbone::new(
            &backbone_store.root(),
            architecture,
            config.embedding_size,
            config.dropout,
        );
        let pfc_store = nn::VarStore::new(Device::Cpu);
        let [s, m1, m2, m3] = config.margin;
        let pfc = PartialFc::new(
            &pfc_store.root(),
            CombinedMargin::new(s, m1, m2, m3),
            config.embedding_size,
            classes,
            config.sample_rate,
            0,
            1,
        );
        let mut params = std::collections::BTreeMap::new();
        for (prefix, store) in [("backbone", &backbone_store), ("pfc", &pfc_store)] {
            for (name, tensor) in store.variables() {
                if tensor.requires_grad() {
                    params.insert(format!("{prefix}.{name}"), tensor);
                }
            }
        }
        let optimizer = Optimizer::new(config.optimizer, params);
        Ok(Self {
            config,
            backbone_store,
            pfc_store,
            backbone,
            pfc,
            optimizer,
            set,
            step: 0,
        })
    }

    /// Continues the run saved in `dir` (its configuration, weights,
    /// optimizer state and step).
    pub fn resume(dir: &Path) -> Result<Self, TrainError> {
        let state = read_state(dir)?;
        let mut trainer = Self::new(state.config)?;
        trainer
            .backbone_store
            .load(dir.join("backbone.safetensors"))?;
        trainer.pfc_store.load(dir.join("pfc.safetensors"))?;
        let buffers = Tensor::read_safetensors(dir.join("optimizer.safetensors"))?;
        trainer.optimizer.restore(buffers, state.optimizer_steps);
        trainer.step = state.step;
        Ok(trainer)
    }

    /// Saves everything a resumed run needs into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        std::fs::create_dir_all(dir).map_err(file_error(dir))?;
        self.backbone_store.save(dir.join("backbone.safetensors"))?;
        self.pfc_store.save(dir.join("pfc.safetensors"))?;
        let (buffers, optimizer_steps) = self.optimizer.state();
        if buffers.is_empty() {
            // safetensors needs one tensor; an untouched optimizer has none.
            Tensor::write_safetensors(
                &[("steps", Tensor::from(optimizer_steps))],
                dir.join("optimizer.safetensors"),
            )?;
        } else {
            Tensor::write_safetensors(&buffers, dir.join("optimizer.safetensors"))?;
        }
        let state = CheckpointState {
            config: self.config.clone(),
            step: self.step,
            optimizer_steps,
        };
        let path = dir.join("state.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&state).expect("serialisable"),
        )
        .map_err(file_error(&path))
    }

    /// Total updates of the run.
    pub fn total_steps(&self) -> u64 {
        (self.config.epochs * self.set.batches_per_epoch(self.config.batch_size) as f64).ceil()
            as u64
    }

    /// The schedule.
    pub fn schedule(&self) -> PolynomialWarmup {
        let per_epoch = self.set.batches_per_epoch(self.config.batch_size) as f64;
        PolynomialWarmup {
            base: self.config.lr,
            warmup: (self.config.warmup_epochs * per_epoch).round() as u64,
            total: self.total_steps(),
            power: 2.0,
        }
    }

    /// One update; returns its loss.
    pub fn train_step(&mut self) -> Result<f64, TrainError> {
        let per_epoch = self.set.batches_per_epoch(self.config.batch_size) as u64;
        let (epoch, index) = (self.step / per_epoch, (self.step % per_epoch) as usize);
        let (x, labels) = self
            .set
            .batch(self.config.seed, epoch, index, self.config.batch_size)?;
        // Partial FC's sampling draws from libtorch's generator: seeded per
        // step so that a resumed run draws the same centres.
        tch::manual_seed(splitmix64(self.config.seed ^ splitmix64(self.step)) as i64);
        let embeddings = self.backbone.forward_t(&x, true);
        let loss = self.pfc.forward(&embeddings, &labels);
        self.optimizer.zero_grad();
        loss.backward();
        if self.config.clip_grad_norm > 0.0 {
            self.optimizer.clip_grad_norm(
                |name| name.starts_with("backbone."),
                self.config.clip_grad_norm,
            );
        }
        let lr = self.schedule().rate(self.step);
        self.optimizer.step(lr);
        self.step += 1;
        Ok(loss.double_value(&[]))
    }

    /// Runs to the end: logs to `metrics.jsonl`, verifies with `verification`
    /// every `verify.every` steps and at the end, checkpoints as configured
    /// and at the end, writes `report.svg`. `stop_after` ends early after
    /// that many steps of this call (for tests and time-boxed runs).
    pub fn run(
        &mut self,
        verification: Option<&Verification>,
        stop_after: Option<u64>,
    ) -> Result<Vec<Metrics>, TrainError> {
        let output = self.config.output.clone();
        std::fs::create_dir_all(&output).map_err(file_error(&output))?;
        let log_path = output.join("metrics.jsonl");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(file_error(&log_path))?;
        let per_epoch = self.set.batches_per_epoch(self.config.batch_size) as f64;
        let total = self.total_steps();
        let end = stop_after.map_or(total, |n| total.min(self.step + n));
        let every = self.config.verify.as_ref().map_or(0, |v| v.every);
        let mut lines = Vec::new();
        let mut record = |line: Metrics, lines: &mut Vec<Metrics>| -> Result<(), TrainError> {
            let text = serde_json::to_string(&line).expect("serialisable");
            writeln!(log, "{text}").map_err(file_error(&log_path))?;
            lines.push(line);
            Ok(())
        };
        let verified = |line: Metrics, v: &Verification, net: &Backbone| {
            let folded = v.accuracy(net);
            Metrics {
                accuracy: Some(folded.mean),
                accuracy_std: Some(folded.std),
                ..line
            }
        };
        if let (0, Some(v)) = (self.step, verification) {
            // The untrained network's accuracy: where training starts from.
            record(verified(Metrics::default(), v, &self.backbone), &mut lines)?;
        }
        let (mut losses, mut clock, mut since) = (Vec::new(), std::time::Instant::now(), self.step);
        while self.step < end {
            losses.push(self.train_step()?);
            let last = self.step == end;
            let verify_now =
                verification.is_some() && ((every > 0 && self.step.is_multiple_of(every)) || last);
            if self.step.is_multiple_of(self.config.log_every.max(1)) || last || verify_now {
                let seconds = clock.elapsed().as_secs_f64();
                let line = Metrics {
                    step: self.step,
                    epoch: self.step as f64 / per_epoch,
                    loss: Some(losses.iter().sum::<f64>() / losses.len().max(1) as f64),
                    lr: Some(self.schedule().rate(self.step - 1)),
                    samples_per_s: Some(
                        (self.step - since) as f64 * self.config.batch_size as f64 / seconds,
                    ),
                    ..Metrics::default()
                };
                let line = match (verify_now, verification) {
                    (true, Some(v)) => verified(line, v, &self.backbone),
                    _ => line,
                };
                record(line, &mut lines)?;
                (losses, clock, since) = (Vec::new(), std::time::Instant::now(), self.step);
            }
            let checkpoint_now = self.config.checkpoint_every > 0
                && self.step.is_multiple_of(self.config.checkpoint_every);
            if checkpoint_now || last {
                self.save(&checkpoint_dir(&output))?;
            }
        }
        write_report(&log_path, &output.join("report.svg"))?;
        Ok(lines)
    }
}

/// The recognizer of a checkpoint alone (for export: the training data
/// need not be there). The store owns the weights the backbone uses.
pub fn load_backbone(dir: &Path) -> Result<(nn::VarStore, Backbone), TrainError> {
    let state = read_state(dir)?;
    let architecture: Architecture = state.config.network.parse().map_err(TrainError::Config)?;
    let mut store = nn::VarStore::new(Device::Cpu);
    let backbone = Backbone::new(
        &store.root(),
        architecture,
        state.config.embedding_size,
        0.0,
    );
    store.load(dir.join("backbone.safetensors"))?;
    Ok((store, backbone))
}

fn read_state(dir: &Path) -> Result<CheckpointState, TrainError> {
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path).map_err(file_error(&state_path))?;
    serde_json::from_str(&text).map_err(|e| TrainError::File {
        path: state_path.clone(),
        problem: e.to_string(),
    })
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    config: TrainConfig,
    step: u64,
    optimizer_steps: i64,
}

/// The loss curve (and accuracy points) of a `metrics.jsonl` as an SVG.
pub fn write_report(log: &Path, out: &Path) -> Result<(), TrainError> {
    let text = std::fs::read_to_string(log).map_err(file_error(log))?;
    let lines: Vec<Metrics> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let (w, h, pad) = (640.0, 360.0, 40.0);
    let last_step = lines.iter().map(|m| m.step).max().unwrap_or(1).max(1) as f64;
    let max_loss = lines.iter().filter_map(|m| m.loss).fold(1e-9f64, f64::max);
    let x = |step: u64| pad + (w - 2.0 * pad) * step as f64 / last_step;
    let y = |v: f64, max: f64| h - pad - (h - 2.0 * pad) * v / max;
    let loss: Vec<String> = lines
        .iter()
        .filter_map(|m| {
            m.loss
                .map(|l| format!("{:.1},{:.1}", x(m.step), y(l, max_loss)))
        })
        .collect();
    let accuracy: Vec<String> = lines
        .iter()
        .filter_map(|m| {
            m.accuracy.map(|a| {
                format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#c0392b\"/>",
                    x(m.step),
                    y(a, 1.0)
                )
            })
        })
        .collect();
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{pad}\" y=\"20\">loss (blue, 0–{max_loss:.2}) and verification accuracy (red, 0–1) over {last_step} steps</text>\
         <line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/>\
         <line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{b}\" stroke=\"black\"/>\
         <polyline fill=\"none\" stroke=\"#2c6fbb\" stroke-width=\"1.5\" points=\"{}\"/>{}</svg>\n",
        loss.join(" "),
        accuracy.concat(),
        b = h - pad,
        r = w - pad,
    );
    std::fs::write(out, svg).map_err(file_error(out))
}
