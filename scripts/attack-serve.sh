#!/usr/bin/env bash
# Hostile-load checks of `facekit serve` on 127.0.0.1 (see
# scripts/attack_serve.py for what each mode sends and checks).
#
# Usage: bash scripts/attack-serve.sh attack
#        bash scripts/attack-serve.sh soak [MINUTES=10]
# Prints one JSON line of figures; exits 1 when a check fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
models=${FACEKIT_MODELS:-$shared/models}
mode=${1:-attack}
minutes=${2:-10}
bash "$root/scripts/setup.sh" >/dev/null
cargo build --release --locked -q -p facekit-cli --manifest-path "$root/Cargo.toml"
fk=$root/target/release/facekit
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export FACEKIT_HOME=$work/home
mkdir -p "$work/pack"
ln -sf "$models/det_500m.onnx" "$models/face_recognition_sface_2021dec_fp32.onnx" "$work/pack/"
token=$("$fk" keys --keys "$work/keys.db" create --name attack --role admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$fk" serve --bind 127.0.0.1:0 --models "$work/pack" --db "$work/gallery.db" --keys "$work/keys.db" \
  > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
addr=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"].split("//")[1])' "$work/serve.out")
python3 "$root/scripts/attack_serve.py" "$addr" "$server_pid" "$token" "$shared/images/t1.jpg" "$mode" "$minutes"
