#!/usr/bin/env bash
# The Python package against InsightFace 2.1, in one run, same images, same
# models, same Python and OpenCV: `get` in a Python loop and `get_batch`,
# each a fresh process (import and model loading reported apart from the
# loop), and the time to pip-install each into a fresh venv.
#
#   bash scripts/bench-python.sh [IMAGES] [sface|full] [ROUNDS]
#
# IMAGES (default 200) photos from ../shared/images and identities, reused
# in turn; pack `full` (default) is det_500m with the synthetic buffalo_l
# models (recognition, gender/age, 106 and 68 landmarks), `sface` det_500m
# with SFace. ROUNDS (default 5) alternations of the three processes; the
# ratios are the medians of each round's (a shared 2-core VM's speed
# drifts by a third between minutes, so one round proves little). The
# wheel is a release build (scripts/python-wheel.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
count=${1:-200}
pack_kind=${2:-full}
rounds=${3:-5}
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
for ((round = 1; round <= rounds; round++)); do
  for impl in insightface facekit facekit-batch; do
    start=$(date +%s.%N)
    line=$("$python" "$root/scripts/bench_python.py" "$impl" "$work/pack" "${images[@]}")
    wall=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
    echo "${line%\}}, \"round\": $round, \"process_s\": $wall}" | tee -a "$work/runs.jsonl"
  done
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
python3 - "$work/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
by_round = {}
for r in runs:
    by_round.setdefault(r["round"], {})[r["impl"]] = r
for impl in ["insightface", "facekit", "facekit-batch"]:
    rs = [r for r in runs if r["impl"] == impl]
    ratios = [rd[impl]["images_per_s"] / rd["insightface"]["images_per_s"] for rd in by_round.values()]
    med = lambda key: statistics.median(r[key] for r in rs)
    print(f"{impl:14s} {med('images_per_s'):7.1f} images/s  ({statistics.median(ratios):.2f}× InsightFace, "
          f"median of {len(ratios)} rounds, {min(ratios):.2f}-{max(ratios):.2f})  faces {rs[0]['faces']}  "
          f"import {med('import_s'):.2f} s  load {med('load_s'):.2f} s  whole process {med('process_s'):.1f} s")
PY
