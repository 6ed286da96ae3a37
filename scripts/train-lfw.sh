#!/usr/bin/env bash
# A CPU training run on ../shared's LFW, start to finish, as the README's
# "Training" section reports it:
#
#   bash scripts/train-lfw.sh [EPOCHS] [OUT]
#
# 1. The first two LFW folds (1,200 pairs) are held out: everyone named in
#    them is left out of training.
# 2. `facekit-train prepare` aligns every other person with at least two
#    photos (det_500m, norm_crop 112) into RecordIO.
# 3. `facekit-train run` trains MobileFaceNet + CosFace (64, 1, 0, 0.35),
#    batch 64, SGD lr 0.1 with half an epoch of warm-up, verifying on the
#    held-out pairs before the first step (the untrained network: chance)
#    and after every epoch.
# 4. `facekit-train export` writes the ONNX recognizer and
#    `facekit eval verify` measures it on the same pairs.
#
# EPOCHS defaults to 4 (about 20 minutes on this 2-core machine). OUT
# defaults to target/train-lfw.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
epochs=${1:-4}
out=${2:-$root/target/train-lfw}
LIBTORCH=$(bash "$root/scripts/train-venv.sh")
export LIBTORCH LD_LIBRARY_PATH=$LIBTORCH/lib
# The dev profile is optimised (opt-level 2, dependencies 3); the heavy
# lifting is libtorch's either way.
(cd "$root" && CARGO_TARGET_DIR=$root/target/torch cargo build -q -p facekit-train --features torch \
  && cargo build -q --release -p facekit-cli)
train=$root/target/torch/debug/facekit-train
facekit=$root/target/release/facekit
rm -rf "$out" && mkdir -p "$out/pack"
ln -s "$shared/models/det_500m.onnx" "$out/pack/det_500m.onnx"
{ printf '2\t300\n'; sed -n '2,1201p' "$shared/lfw/pairs.txt"; } > "$out/heldout-pairs.txt"
images=$shared/lfw/lfw_crop90
start=$(date +%s)
"$train" prepare --images "$images" --out "$out/data" --models "$out/pack" \
  --exclude-pairs "$out/heldout-pairs.txt" | tee "$out/prepare.json"
cat > "$out/config.json" <<JSON
{
  "data": "$out/data",
  "output": "$out/run",
  "network": "mbf",
  "margin": [64.0, 1.0, 0.0, 0.35],
  "batch_size": 64,
  "lr": 0.1,
  "epochs": $epochs,
  "warmup_epochs": 0.5,
  "log_every": 10,
  "seed": 2026,
  "threads": $(nproc),
  "verify": {"pairs": "$out/heldout-pairs.txt", "images": "$images", "first_pairs": 0, "every": 114}
}
JSON
"$train" run --config "$out/config.json" --models "$out/pack"
"$train" export "$out/run" --onnx "$out/pack/mbf-lfw.onnx"
"$facekit" eval verify --pairs "$out/heldout-pairs.txt" --images "$images" --models "$out/pack" \
  --no-cache --out "$out/eval" | tee "$out/eval.txt"
echo "train-lfw: $(( $(date +%s) - start )) s in all; loss curve and accuracy in $out/run/report.svg and metrics.jsonl" >&2
