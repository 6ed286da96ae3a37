#!/usr/bin/env bash
# Clustering quality on the full LFW (13,233 photos of 5,749 people) with
# det_500m + SFace: facekit's graph method and InsightFace's GUI method
# (DBSCAN, min samples 2, no constraints) on the same cached embeddings,
# over a sweep of thresholds, so each method is also seen at its best.
#
#   bash scripts/cluster-lfw.sh            # the first run embeds (≈ 7 min on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
bash "$root/scripts/setup.sh" >/dev/null
cargo build -q --release --locked -p facekit-cli --manifest-path "$root/Cargo.toml"
export ORT_DYLIB_PATH=$root/.facekit/runtime/libonnxruntime.so
pack=$(mktemp -d)
trap 'rm -rf "$pack"' EXIT
ln -s "$shared/models/det_500m.onnx" "$shared/models/face_recognition_sface_2021dec_fp32.onnx" "$pack/"
cache=${FACEKIT_HOME:-$HOME/.facekit}/eval-cache
run() { "$root/target/release/facekit" eval cluster --images "$shared/lfw/lfw_crop90" --models "$pack" --cache "$cache" "$@" 2>/dev/null; }
echo "method threshold pairwise_f pairwise_p pairwise_r bcubed_f bcubed_p bcubed_r clusters unclustered same_photo_clusters"
row() {
  python3 -c '
import json, sys
r = json.loads(sys.stdin.read())[sys.argv[1]]
s = r["scores"]
print(sys.argv[2], r["settings"]["threshold"].__round__(2), *("%.4f" % s[m][k] for m in ("pairwise", "bcubed") for k in ("f", "precision", "recall")),
      s["clusters"], "%.3f" % s["unclustered"], r["clusters_with_two_faces_of_one_photo"])' "$1" "$2"
}
for t in 0.45 0.5 0.55 0.6; do
  run --threshold "$t" | row facekit graph
done
# The GUI's method at its own 0.48, and at higher thresholds.
run | row insightface_gui dbscan-gui
for t in 0.55 0.6 0.65 0.7 0.75; do
  run --method dbscan --threshold "$t" --neighbours 1000 --allow-same-photo | row facekit dbscan-gui
done
