#!/usr/bin/env bash
# Soak run of the live cameras: MONITORS monitors at FPS analysed frames
# per second for MINUTES minutes against ffmpeg publishers on 127.0.0.1
# (each looping a video made from ../shared photos, MJPEG over HTTP, in
# real time), with every monitor's Server-Sent Events read throughout.
# Samples the server's memory and each monitor's lag every 10 s and, at
# the end, compares the events received live with those stored.
#
# Usage: bash scripts/soak-monitors.sh [MINUTES=10] [MONITORS=4] [FPS=5]
# Prints one JSON summary line; details stay in $SOAK_KEEP if set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
models=${FACEKIT_MODELS:-$shared/models}
minutes=${1:-10}
monitors=${2:-4}
fps=${3:-5}

bash "$root/scripts/setup.sh" >/dev/null
cargo build --release --locked -q -p facekit-cli --manifest-path "$root/Cargo.toml"
fk=$root/target/release/facekit

work=${SOAK_KEEP:-$(mktemp -d)}
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${SOAK_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
export FACEKIT_HOME=$work/home
db=$work/gallery.db
pack=$work/pack
mkdir -p "$pack"
ln -sf "$models/det_500m.onnx" "$models/face_recognition_sface_2021dec_fp32.onnx" "$pack/"

train=$shared/identities/face_recognition_knn/train
"$fk" gallery create staff --models "$pack" --db "$db" >/dev/null
"$fk" gallery enroll staff "$train/obama/obama2.jpg" --person obama --models "$pack" --db "$db" >/dev/null
"$fk" gallery enroll staff "$train/biden/biden.jpg" --person biden --models "$pack" --db "$db" >/dev/null

# One 20 s loop: nobody 2 s, Obama 5 s, nobody 5 s, a stranger 5 s, nobody 3 s.
fit="scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=10,format=yuv420p"
ffmpeg -v error -y \
  -loop 1 -t 2 -i "$shared/images/no_face_pilatus800.jpg" \
  -loop 1 -t 5 -i "$train/obama/obama.jpg" \
  -loop 1 -t 5 -i "$shared/images/no_face_pilatus800.jpg" \
  -loop 1 -t 5 -i "$train/alex_lacamoire/img1.jpg" \
  -loop 1 -t 3 -i "$shared/images/no_face_pilatus800.jpg" \
  -filter_complex "[0]$fit[a];[1]$fit[b];[2]$fit[c];[3]$fit[d];[4]$fit[e];[a][b][c][d][e]concat=n=5:v=1:a=0" \
  -c:v libx264 -g 10 "$work/door.mp4"

ports=()
for i in $(seq "$monitors"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ports+=("$port")
  ffmpeg -v error -stream_loop -1 -re -i "$work/door.mp4" -c:v mjpeg -q:v 4 \
    -f mpjpeg -listen 1 "http://127.0.0.1:$port/cam" 2>"$work/publisher-$i.err" &
  pids+=($!)
done

token=$("$fk" keys create --name soak --role admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$fk" serve --models "$pack" --db "$db" --bind 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$work/serve.out")

echo "soak: $monitors monitors at $fps frames/s for $minutes min against $url" >&2
python3 "$root/scripts/soak_monitors.py" "$url" "$token" "$server_pid" "$minutes" "$fps" "${ports[@]}"
