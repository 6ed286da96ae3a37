#!/usr/bin/env bash
# Throughput of facekit vs InsightFace 2.1 in one run, same images, same models
# (SCRFD 500m + SFace fp32, det size 640), same machine. InsightFace runs from a
# throwaway venv under .facekit/bench-venv; nothing of it is a facekit dependency.
# Usage: scripts/bench_vs_insightface.sh [IMAGE_DIR] [REPEAT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
images_dir=${1:-$shared/images}
repeat=${2:-3}
bash "$root/scripts/setup.sh" >/dev/null
python=$(bash "$root/scripts/bench-venv.sh")
cargo build -q --release -p facekit-cli --manifest-path "$root/Cargo.toml"

pack=$(mktemp -d)
trap 'rm -rf "$pack"' EXIT
ln -s "$shared/models/det_500m.onnx" "$pack/det_500m.onnx"
ln -s "$shared/models/face_recognition_sface_2021dec_fp32.onnx" "$pack/sface.onnx"
mapfile -t images < <(find "$images_dir" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' -o -iname '*.bmp' -o -iname '*.tif*' -o -iname '*.gif' \) | sort)

echo "images: ${#images[@]} files under $images_dir, $repeat passes, $(nproc) cores" >&2
insightface=$("$python" "$root/scripts/insightface_bench.py" "$pack" 640 "$repeat" "${images[@]}" 2>/dev/null | tail -1)
echo "insightface: $insightface"
for jobs in 1 2; do
  facekit=$("$root/target/release/facekit" bench --json --models "$pack" --det-size 640 640 --jobs "$jobs" --repeat "$repeat" "${images[@]}")
  echo "facekit --jobs $jobs: $facekit"
  python3 - "$insightface" "$facekit" "$jobs" <<'PY'
import json, sys
i, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"ratio (facekit --jobs {sys.argv[3]} / insightface images/s): {f['images_per_second'] / i['images_per_second']:.2f}x; "
      f"facekit time outside ONNX Runtime: {100 * f['outside_onnxruntime_fraction']:.1f} %")
PY
done
