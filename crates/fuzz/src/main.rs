//! `facekit-fuzz TARGET SECONDS [OUT]`: fuzzes one target (or `all`, the
//! time split between them) and prints one JSON line per target; exits 1
//! when anything was found.

use std::path::PathBuf;
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        anyhow::anyhow!(
            "usage: facekit-fuzz TARGET|all SECONDS [OUT_DIR]  (targets: {})",
            facekit_fuzz::TARGETS.join(", ")
        )
    };
    let target = args.first().ok_or_else(usage)?;
    let seconds: f64 = args
        .get(1)
        .ok_or_else(usage)?
        .parse()
        .map_err(|_| usage())?;
    let out = args.get(2).map(PathBuf::from);
    let targets: Vec<&str> = if target == "all" {
        facekit_fuzz::TARGETS.to_vec()
    } else {
        vec![target.as_str()]
    };
    let each = Duration::from_secs_f64(seconds / targets.len() as f64);
    let mut found = false;
    for name in targets {
        let report = facekit_fuzz::fuzz(name, each, out.as_deref())?;
        found |= !report.findings.is_empty();
        #[allow(clippy::print_stdout)]
        {
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    if found {
        std::process::exit(1);
    }
    Ok(())
}
