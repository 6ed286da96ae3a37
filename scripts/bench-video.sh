#!/usr/bin/env bash
# Video redaction speed as users run it (whole processes: start-up and model
# loading included), facekit against the loop a user writes with InsightFace
# 2.1 (FaceAnalysis detection on every frame, OpenCV blur, cv2.VideoWriter),
# in one run on the same clip and model (det_500m, det size 640 for both).
#
#   bash scripts/bench-video.sh [SECONDS]     # a 720p 24 fps clip (default 20 s)
#   bash scripts/bench-video.sh --long        # also peak memory on a 10-minute 1080p clip
#
# The clip pans and zooms across real group photos of ../shared with a
# tone as audio. InsightFace runs from a throwaway venv (.facekit/bench-venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
seconds=20
long=false
for arg in "$@"; do
  case "$arg" in
    --long) long=true ;;
    *) seconds=$arg ;;
  esac
done
bash "$root/scripts/setup.sh" >/dev/null
python=$(bash "$root/scripts/bench-venv.sh")
cargo build -q --release -p facekit-cli --manifest-path "$root/Cargo.toml"
export ORT_DYLIB_PATH=$root/.facekit/runtime/libonnxruntime.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/pack"
ln -s "$shared/models/det_500m.onnx" "$work/pack/det_500m.onnx"

# A clip of W×H for SECS seconds: a slow pan and zoom over t1.jpg, then
# over a second group photo. Each photo is scaled once to a still first,
# so the filter only crops per frame (a 10-minute clip is quick to make).
make_clip() {
  local w=$1 h=$2 secs=$3 out=$4
  local half
  half=$(python3 -c "print($secs/2)")
  ffmpeg -v error -y -i "$shared/images/t1.jpg" -vf "scale=${w}*1.6:-2,setsar=1" "$work/a.png"
  ffmpeg -v error -y -i "$shared/identities/face_recognition_knn/test/obama_and_biden.jpg" \
    -vf "scale=${w}*1.3:-2,setsar=1" "$work/b.png"
  local n
  n=$(python3 -c "print(round($half*24))")
  # The loop filter repeats the decoded still in memory (-loop 1 would
  # decode the PNG again for every frame).
  local still="loop=loop=$((n - 1)):size=1:start=0,setpts=N/24/TB"
  ffmpeg -v error -y -framerate 24 -i "$work/a.png" -framerate 24 -i "$work/b.png" \
    -f lavfi -t "$secs" -i sine=frequency=440 \
    -filter_complex "[0:v]$still,crop=${w}:${h}:'(iw-ow)*t/$half':'(ih-oh)/2'[a];[1:v]$still,crop=${w}:${h}:'(iw-ow)*t/$half':'(ih-oh)/3'[b];[a][b]concat=n=2:v=1[v]" \
    -map "[v]" -map 2:a -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -c:a aac "$out"
}

peak_mb() { awk '/Maximum resident/ {printf "%.1f", $6/1024}' "$1"; }
wall_s() { python3 -c "import sys; p=sys.argv[1].split(':'); print(sum(float(x)*60**i for i,x in enumerate(reversed(p))))" "$(awk -F': ' '/Elapsed \(wall/ {print $2}' "$1")"; }

make_clip 1280 720 "$seconds" "$work/clip.mp4"
frames=$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$work/clip.mp4")
echo "clip: 1280x720, 24 fps, $seconds s, $frames frames, $(nproc) cores" >&2

/usr/bin/time -v "$root/target/release/facekit" video process "$work/clip.mp4" -o "$work/facekit.mp4" \
  --models "$work/pack" --det-size 640 --policy all 2> "$work/facekit.time" >/dev/null
/usr/bin/time -v "$python" "$root/scripts/insightface_video.py" "$work/pack" "$work/clip.mp4" "$work/insightface.mp4" \
  > "$work/insightface.json" 2> "$work/insightface.time"
f=$(wall_s "$work/facekit.time"); i=$(wall_s "$work/insightface.time")
python3 - "$seconds" "$f" "$i" "$(peak_mb "$work/facekit.time")" "$(peak_mb "$work/insightface.time")" <<'PY'
import sys
secs, f, i, fm, im = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"facekit video process: {f:.1f} s = {secs / f:.2f}x real time, peak {fm} MB")
print(f"InsightFace 2.1 loop:  {i:.1f} s = {secs / i:.2f}x real time, peak {im} MB")
print(f"facekit is {i / f:.2f}x faster")
PY

if $long; then
  make_clip 1920 1080 600 "$work/long.mp4"
  /usr/bin/time -v "$root/target/release/facekit" video process "$work/long.mp4" -o "$work/long.out.mp4" \
    --models "$work/pack" --det-size 640 --policy all 2> "$work/long.time" >/dev/null
  echo "10-minute 1080p: $(wall_s "$work/long.time") s, peak $(peak_mb "$work/long.time") MB"
fi
