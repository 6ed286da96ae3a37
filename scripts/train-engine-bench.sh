#!/usr/bin/env bash
# How the training engine was chosen (README, "Training"): IResNet-50
# forward + backward + SGD step on 112x112 faces on this machine's CPU with
# candle 0.11.1 (batch 16: batch 64 does not fit in 23 GiB), tch 0.26 over
# PyTorch 2.13.0's libtorch (batch 64) and PyTorch itself running
# arcface_torch's own IResNet-50 and MobileFaceNet (batch 64).
#
#   bash scripts/train-engine-bench.sh ARCFACE_TORCH_DIR
#
# ARCFACE_TORCH_DIR is insightface/recognition/arcface_torch (for its
# backbones). Each line is one step's seconds; /usr/bin/time gives peak
# memory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arcface_torch=$1
LIBTORCH=$(bash "$root/scripts/train-venv.sh")
export LIBTORCH LD_LIBRARY_PATH=$LIBTORCH/lib
for engine in candle tch; do
  (cd "$root/scripts/train-engine/$engine" && CARGO_TARGET_DIR=$root/target/train-engine cargo build -q --release)
done
/usr/bin/time -f "candle peak %M KiB" "$root/target/train-engine/release/train-engine-candle" 16
/usr/bin/time -f "tch peak %M KiB" "$root/target/train-engine/release/train-engine-tch"
/usr/bin/time -f "pytorch peak %M KiB" "$(dirname "$LIBTORCH")/../../../bin/python" "$root/scripts/train-engine/pytorch_bench.py" "$arcface_torch"
