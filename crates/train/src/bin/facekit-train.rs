//! `facekit-train`: prepare a folder of identities, train, resume, export.
//! `facekit train …` runs this program (it is built with the `torch`
//! feature, which links libtorch; the main `facekit` binary does not).

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
use facekit_train::prepare::{identities, prepare_folder};
use facekit_train::trainer::{TrainConfig, Trainer, Verification, checkpoint_dir, load_backbone};

#[derive(Parser)]
#[command(
    name = "facekit train",
    about = "Train face recognizers (ArcFace/CosFace, Partial FC) and export them to ONNX"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect, align (norm_crop, 112×112) and pack a folder of identities
    /// (`person/*.jpg`) into RecordIO (`train.rec`, `train.idx`,
    /// `classes.txt`, `property`).
    Prepare {
        /// The folder of identities.
        #[arg(long)]
        images: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Model pack with the detector.
        #[arg(long, short, env = "FACEKIT_MODELS", default_value = "buffalo_l")]
        models: String,
        /// Skip people with fewer photos.
        #[arg(long, default_value_t = 2)]
        min_photos: usize,
        /// Leave out everyone named in these LFW-style pairs (held out for testing).
        #[arg(long)]
        exclude_pairs: Option<PathBuf>,
        /// Only the first this many pairs of `--exclude-pairs` (0: all).
        #[arg(long, default_value_t = 0)]
        first_pairs: usize,
    },
    /// Train as a JSON configuration says (see the README for its fields).
    Run {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Model pack with the detector for verification while training.
        #[arg(long, short, env = "FACEKIT_MODELS", default_value = "buffalo_l")]
        models: String,
        /// Stop after this many steps (a checkpoint is written; `resume` goes on).
        #[arg(long)]
        max_steps: Option<u64>,
    },
    /// Continue the run whose output folder this is.
    Resume {
        /// The run's output folder.
        output: PathBuf,
        /// Model pack with the detector for verification while training.
        #[arg(long, short, env = "FACEKIT_MODELS", default_value = "buffalo_l")]
        models: String,
        /// Stop after this many more steps.
        #[arg(long)]
        max_steps: Option<u64>,
    },
    /// Write a run's recognizer as ONNX (InsightFace's signature).
    Export {
        /// The run's output folder (its checkpoint is exported).
        output: PathBuf,
        /// The ONNX file to write.
        #[arg(long)]
        onnx: PathBuf,
    },
}

/// One line of output (the commands print JSON lines or a path).
fn print_line(line: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}

fn detector(models: &str) -> Result<FaceAnalyzer> {
    FaceAnalyzer::from_pack(models, AnalyzeOptions::default())
        .with_context(|| format!("cannot load the model pack {models}"))
}

/// People named in the first `first` pairs of an LFW `pairs.txt`.
fn people_in_pairs(path: &PathBuf, first: usize) -> Result<HashSet<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut people = HashSet::new();
    let lines = text.lines().skip(1).filter(|l| !l.trim().is_empty());
    for line in lines.take(if first == 0 { usize::MAX } else { first }) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.len() {
            3 => {
                people.insert(fields[0].to_string());
            }
            4 => {
                people.insert(fields[0].to_string());
                people.insert(fields[2].to_string());
            }
            _ => bail!("{}: {line:?} is not a pair line", path.display()),
        }
    }
    Ok(people)
}

fn train(mut trainer: Trainer, models: &str, max_steps: Option<u64>) -> Result<()> {
    let verification = match &trainer.config.verify {
        Some(v) => Some(Verification::prepare(v, &detector(models)?)?),
        None => None,
    };
    let lines = trainer.run(verification.as_ref(), max_steps)?;
    if let Some(last) = lines.last() {
        print_line(serde_json::to_string(last)?)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Prepare {
            images,
            out,
            models,
            min_photos,
            exclude_pairs,
            first_pairs,
        } => {
            let held_out = match &exclude_pairs {
                Some(p) => people_in_pairs(p, first_pairs)?,
                None => HashSet::new(),
            };
            let people = identities(&images, min_photos, &|name| !held_out.contains(name))?;
            let summary = prepare_folder(&detector(&models)?, &people, &out)?;
            print_line(serde_json::to_string(&summary)?)?;
        }
        Command::Run {
            config,
            models,
            max_steps,
        } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("cannot read {}", config.display()))?;
            let config: TrainConfig = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a training configuration", config.display()))?;
            train(Trainer::new(config)?, &models, max_steps)?;
        }
        Command::Resume {
            output,
            models,
            max_steps,
        } => {
            train(
                Trainer::resume(&checkpoint_dir(&output))?,
                &models,
                max_steps,
            )?;
        }
        Command::Export { output, onnx } => {
            let (_weights, net) = load_backbone(&checkpoint_dir(&output))?;
            facekit_train::export::write_onnx(&net, &onnx)?;
            print_line(onnx.display())?;
        }
    }
    Ok(())
}
