//! Runs the Python package's pytest suite (`scripts/python-tests.sh`) on
//! the extension this `cargo test` built (`lib_facekit.so` beside this
//! test binary), or with `FACEKIT_PYTHON_WHEEL=1` on the maturin wheel
//! built from scratch: checked against InsightFace's goldens, InsightFace
//! itself and the library. Fails on any failed, skipped or missing test.

use std::path::Path;
use std::process::Command;

#[test]
fn python_package_passes_its_pytest_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = Command::new("bash");
    if std::env::var_os("FACEKIT_PYTHON_WHEEL").is_none() {
        let built = std::env::current_exe()
            .expect("test binary path")
            .with_file_name("lib_facekit.so");
        assert!(built.is_file(), "{} was not built", built.display());
        command.env("FACEKIT_PYTHON_EXTENSION", built);
    }
    let out = command
        .arg(root.join("scripts/python-tests.sh"))
        .args(["-q", "-rfEs"])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pytest failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    eprintln!("{summary}");
    let passed: usize = summary
        .split(" passed")
        .next()
        .and_then(|s| s.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pytest summary in:\n{stdout}"));
    assert!(passed >= 20, "only {passed} tests ran:\n{stdout}");
    assert!(
        !summary.contains("skipped") && !summary.contains("deselected"),
        "{summary}"
    );
}
