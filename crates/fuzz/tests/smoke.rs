//! The CI smoke run: every fuzz target for 12 s (60 s in all) from its
//! seeds in ../shared, with no panic, slow input or 5xx. Long runs:
//! `scripts/fuzz.sh TARGET MINUTES`.

use std::time::Duration;

#[test]
fn every_target_survives_a_short_run() {
    let mut failures = Vec::new();
    for target in facekit_fuzz::TARGETS {
        let report = facekit_fuzz::fuzz(target, Duration::from_secs(12), None).unwrap();
        eprintln!(
            "fuzz {target}: {} inputs in {:.1} s, slowest {:.0} ms",
            report.executions, report.seconds, report.slowest_ms
        );
        // Each target must really have run: its seeds and mutants of them.
        assert!(
            report.executions > 20,
            "{target} ran only {} inputs",
            report.executions
        );
        failures.extend(report.findings.iter().map(|f| format!("{target}: {f}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
