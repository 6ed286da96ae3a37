//! Mutation fuzzing of everything facekit parses from outside, on stable
//! Rust (`cargo fuzz` needs nightly): images, `.bin` pickles, ONNX graphs,
//! WIDER ground truth (text and `.mat`) and HTTP request bodies through the
//! real router. Each target starts from a seed corpus of real files in
//! `../shared`, mutates them (bit flips, interesting values, inserted,
//! deleted, duplicated and spliced ranges, truncation) and runs the parser
//! with panics caught. A finding is a panic, an input slower than
//! [`SLOW`], or (HTTP) a 5xx other than 503 on client input; each is saved
//! for reproduction. Aborts, stack overflows and out-of-memory kill the
//! process: `scripts/fuzz.sh` runs it under a 2 GiB address-space cap and
//! keeps the input that was running (`current.bin`) when it dies.
//!
//! ```no_run
//! let report = facekit_fuzz::fuzz("bin", std::time::Duration::from_secs(10), None)?;
//! assert!(report.findings.is_empty());
//! # Ok::<(), anyhow::Error>(())
//! ```

mod mutate;
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use mutate::Mutator;
pub use targets::{TARGETS, Target, target};

/// One input taking longer than this is a finding.
pub const SLOW: Duration = Duration::from_secs(10);

/// What a run found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The target.
    pub target: String,
    /// Inputs run.
    pub executions: u64,
    /// Seconds spent.
    pub seconds: f64,
    /// Slowest input, milliseconds.
    pub slowest_ms: f64,
    /// Findings: what happened, and the file holding the input (when an
    /// output folder was given).
    pub findings: Vec<String>,
}

/// Fuzzes `target` for `duration`; findings are written to `out` when given.
pub fn fuzz(target_name: &str, duration: Duration, out: Option<&Path>) -> anyhow::Result<Report> {
    let mut target = target(target_name)?;
    let seeds = target.seeds()?;
    anyhow::ensure!(
        !seeds.is_empty(),
        "no seed inputs for {target_name} in ../shared"
    );
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
    }
    // Panics are findings, reported here; the default hook would print
    // each one with a backtrace.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut mutator = Mutator::new(0x5eed_f00d ^ duration.as_nanos() as u64);
    let mut report = Report {
        target: target_name.to_string(),
        executions: 0,
        seconds: 0.0,
        slowest_ms: 0.0,
        findings: Vec::new(),
    };
    let started = Instant::now();
    // Every seed as it is first, then mutants.
    let mut queue: Vec<Vec<u8>> = seeds.clone();
    while started.elapsed() < duration {
        let input = queue.pop().unwrap_or_else(|| mutator.mutant(&seeds));
        if let Some(dir) = out {
            std::fs::write(dir.join("current.bin"), &input)?;
        }
        let run_started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        let took = run_started.elapsed();
        report.executions += 1;
        report.slowest_ms = report.slowest_ms.max(took.as_secs_f64() * 1000.0);
        let finding = match outcome {
            Err(panic) => Some(format!("panic: {}", panic_message(&panic))),
            Ok(Err(bug)) => Some(bug),
            Ok(Ok(())) if took > SLOW => Some(format!("slow: {:.1} s", took.as_secs_f64())),
            Ok(Ok(())) => None,
        };
        if let Some(what) = finding {
            let saved = save(out, target_name, report.findings.len(), &input)?;
            report.findings.push(match saved {
                Some(path) => format!("{what} ({})", path.display()),
                None => what,
            });
        }
    }
    std::panic::set_hook(previous_hook);
    if let Some(dir) = out {
        let _ = std::fs::remove_file(dir.join("current.bin"));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn save(
    out: Option<&Path>,
    target: &str,
    n: usize,
    input: &[u8],
) -> anyhow::Result<Option<PathBuf>> {
    let Some(dir) = out else { return Ok(None) };
    let path = dir.join(format!("{target}-finding-{n}.bin"));
    std::fs::write(&path, input)?;
    Ok(Some(path))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}
