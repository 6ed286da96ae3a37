//! Runs the libtorch half of this crate's tests (`--features torch`,
//! through `scripts/train-tests.sh`, which installs PyTorch's libtorch
//! from PyPI) from a plain `cargo test`, and fails unless they all ran
//! and passed.
#![cfg(not(feature = "torch"))]

use std::path::Path;
use std::process::Command;

/// Tests of the torch feature that must have run (name fragments).
const EXPECTED: &[&str] = &[
    "backbones_match_arcface_torch_on_real_aligned_faces",
    "exported_networks_route_and_run_as_recognizers_with_the_trainers_embeddings",
    "lfw_people_train_verify_and_resume_bit_for_bit",
    "margin_logits_loss_and_gradients_match_arcface_torch",
    "partial_fc_loss_and_gradients_match_arcface_torch_with_the_same_sampled_classes",
];

#[test]
fn the_libtorch_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/train-tests.sh"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = stderr.len().saturating_sub(8000);
    assert!(
        out.status.success(),
        "the torch tests failed:\n{stdout}\n{}",
        &stderr[stderr.ceil_char_boundary(tail)..]
    );
    for name in EXPECTED {
        assert!(
            stdout.contains(&format!("test {name} ... ok")),
            "{name} did not pass:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
}
