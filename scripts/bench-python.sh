#!/usr/bin/env bash
# The Python package against InsightFace 2.1, in one run, same images, same
# models, same Python and OpenCV: `get` in a Python loop and `get_batch`,
# each a fresh process (import and model loading reported apart from the
# loop), and the time to pip-install each into a fresh venv.
#
#   bash scripts/bench-python.sh [IMAGES] [sface|full]
#
# IMAGES (default 200) photos from ../shared/images and identities, reused
# in turn; pack `full` (default) is det_500m with the synthetic buffalo_l
# models (recognition, gender/age, 106 and 68 landmarks), `sface` det_500m
# with SFace. The wheel is a release build (scripts/python-wheel.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
count=${1:-200}
pack_kind=${2:-full}
python=$(bash "$root/scripts/bench-venv.sh")
wheel=$(bash "$root/scripts/python-wheel.sh")
"$python" -m pip install -q --force-reinstall --no-deps "$wheel"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/pack"
ln -s "$shared/models/det_500m.onnx" "$work/pack/0_det.onnx"
if [ "$pack_kind" = sface ]; then
  ln -s "$shared/models/face_recognition_sface_2021dec_fp32.onnx" "$work/pack/sface.onnx"
else
  for m in w600k genderage 2d106det 1k3d68; do
    ln -s "$shared/models/synthetic/synthetic_$m.onnx" "$work/pack/$m.onnx"
  done
fi
mapfile -t photos < <(find "$shared/images" "$shared/identities" -maxdepth 3 -type f \( -name '*.jpg' -o -name '*.png' \) \
  -not -path '*format_edge_cases*' -size -3M | sort)
images=()
for ((i = 0; i < count; i++)); do images+=("${photos[i % ${#photos[@]}]}"); done
echo "bench-python: ${#images[@]} images (${#photos[@]} distinct), pack $pack_kind, $(nproc) cores" >&2
declare -A wall
for impl in insightface facekit facekit-batch; do
  start=$(date +%s.%N)
  "$python" "$root/scripts/bench_python.py" "$impl" "$work/pack" "${images[@]}" | tee "$work/$impl.json"
  wall[$impl]=$(python3 -c "print($(date +%s.%N) - $start)")
done
for what in insightface facekit; do
  rm -rf "$work/venv" && python3 -m venv "$work/venv"
  if [ "$what" = insightface ]; then packages=(insightface==2.1 onnxruntime==1.32.0); else packages=("$wheel"); fi
  start=$(date +%s.%N)
  "$work/venv/bin/pip" install -q "${packages[@]}"
  installed=$(date +%s.%N)
  "$work/venv/bin/python" -c "import ${what/insightface/insightface.app}" 2>/dev/null
  echo "{\"install\": \"$what\", \"pip_install_s\": $(python3 -c "print(round($installed - $start, 1))"), \"first_import_s\": $(python3 -c "print(round($(date +%s.%N) - $installed, 2))")}"
done
python3 - "$work" "${wall[insightface]}" "${wall[facekit]}" "${wall[facekit-batch]}" <<'PY'
import json, sys
work, walls = sys.argv[1], dict(zip(["insightface", "facekit", "facekit-batch"], map(float, sys.argv[2:])))
r = {k: json.load(open(f"{work}/{k}.json")) for k in walls}
base = r["insightface"]["images_per_s"]
for k, v in r.items():
    print(f"{k:14s} {v['images_per_s']:7.1f} images/s  ({v['images_per_s'] / base:.2f}× InsightFace)  "
          f"faces {v['faces']}  import {v['import_s']:.2f} s  load {v['load_s']:.2f} s  whole process {walls[k]:.1f} s")
PY
