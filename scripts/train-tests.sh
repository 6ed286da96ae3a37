#!/usr/bin/env bash
# facekit-train's libtorch tests (the `torch` feature): makes the PyTorch
# venv (scripts/train-venv.sh), builds into target/torch (its own target
# folder, so that it can run from inside `cargo test`) and runs them.
# Extra arguments go to `cargo test`. `cargo test -p facekit-train` runs
# this (test `torch_suite`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LIBTORCH=$(bash "$root/scripts/train-venv.sh")
export LIBTORCH
export LD_LIBRARY_PATH=$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CARGO_TARGET_DIR=$root/target/torch
# libgomp threads that spin while waiting stall badly on a loaded machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$root"
exec cargo test -p facekit-train --features torch --locked "$@"
