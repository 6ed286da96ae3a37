#!/usr/bin/env bash
# Does `--far` deliver its false accept rate? Calibrates on LFW folds 1–5
# (`facekit eval calibrate`, detect mode, det_500m + SFace) for FAR 1e-2 and
# 1e-3, then runs `facekit compare --far` on every impostor pair of folds
# 6–10 and counts the false accepts. Passes when each measured FAR is within
# 0.5×–2× of its target. Prints one JSON line; exit 1 when a check fails.
#
# Usage: bash scripts/far-holdout.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
models=${FACEKIT_MODELS:-$shared/models}
bash "$root/scripts/setup.sh" >/dev/null
cargo build --release --locked -q -p facekit-cli --manifest-path "$root/Cargo.toml"
fk=$root/target/release/facekit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FACEKIT_HOME=$work/home
mkdir -p "$work/pack"
ln -sf "$models/det_500m.onnx" "$models/face_recognition_sface_2021dec_fp32.onnx" "$work/pack/"
python3 - "$shared/lfw/pairs.txt" "$work" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
folds, per = map(int, lines[0].split())
body = lines[1:]
size = 2 * per
open(f"{sys.argv[2]}/calibrate.txt", "w").write(f"5\t{per}\n" + "\n".join(body[: 5 * size]) + "\n")
open(f"{sys.argv[2]}/holdout.txt", "w").write("\n".join(body[5 * size :]) + "\n")
PY
"$fk" eval calibrate --pairs "$work/calibrate.txt" --images "$shared/lfw/lfw_crop90" \
  --models "$work/pack" --far 1e-2 --far 1e-3 > "$work/calibrated.jsonl"
python3 - "$work" "$fk" "$shared/lfw/lfw_crop90" <<'PY'
import json, subprocess, sys
work, fk, images = sys.argv[1:4]
thresholds = {e["far"]: e["threshold"] for e in map(json.loads, open(f"{work}/calibrated.jsonl"))}
def path(name, n):
    return f"{images}/{name}/{name}_{int(n):04d}.jpg"
impostors = [l.split("\t") for l in open(f"{work}/holdout.txt").read().splitlines() if len(l.split("\t")) == 4]
accepted = {far: 0 for far in thresholds}
compared = 0
skipped = 0
for a, na, b, nb in impostors:
    out = subprocess.run([fk, "compare", path(a, na), path(b, nb), "--models", f"{work}/pack", "--far", "1e-2"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        skipped += 1  # no face found in one of the photos
        continue
    result = json.loads(out.stdout)
    assert abs(result["threshold"] - thresholds[0.01]) < 1e-6, result
    compared += 1
    for far, t in thresholds.items():
        accepted[far] += result["similarity"] >= t
measured = {far: accepted[far] / compared for far in thresholds}
checks = {f"far_{far:g}_within_0.5x_2x": 0.5 * far <= measured[far] <= 2 * far for far in thresholds}
print(json.dumps({"impostor_pairs": len(impostors), "compared": compared, "no_face": skipped,
                  "thresholds": thresholds, "false_accepts": accepted, "measured_far": measured, "checks": checks}))
sys.exit(0 if all(checks.values()) else 1)
PY
