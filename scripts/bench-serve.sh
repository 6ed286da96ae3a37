#!/usr/bin/env bash
# Load benchmark of `facekit serve`: identify requests from wrk at a fixed
# concurrency against a collection of N persons (the real identities in
# ../shared plus synthetic persons), compared with `facekit gallery
# identify` on the same photos in the same run (images/s).
#
# Usage: bash scripts/bench-serve.sh [SECONDS=60] [CONCURRENCY=16] [PERSONS=10000]
# Needs wrk (installed from the system packages when run as root).
# Prints one JSON summary line at the end; details stay in $BENCH_KEEP if set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEKIT_SHARED:-$root/../shared}
models=${FACEKIT_MODELS:-$shared/models}
seconds=${1:-60}
concurrency=${2:-16}
persons=${3:-10000}

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
  else
    echo "bench-serve: wrk is missing; install it (e.g. 'sudo apt-get install wrk')" >&2
    exit 1
  fi
fi
bash "$root/scripts/setup.sh" >/dev/null
cargo build --release --locked -q -p facekit-cli --manifest-path "$root/Cargo.toml"
fk=$root/target/release/facekit

work=${BENCH_KEEP:-$(mktemp -d)}
mkdir -p "$work"
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
export FACEKIT_HOME=$work/home
db=$work/gallery.db
pack=$work/pack
mkdir -p "$pack"
ln -sf "$models/det_500m.onnx" "$models/face_recognition_sface_2021dec_fp32.onnx" "$pack/"

echo "bench-serve: building a collection of $persons persons" >&2
"$fk" gallery create bench --models "$pack" --db "$db" >/dev/null
"$fk" gallery enroll bench "$shared/identities/dlib_johns" "$shared/identities/face_recognition_knn/train" \
  --models "$pack" --db "$db" >/dev/null
"$fk" gallery export bench --db "$db" > "$work/real.jsonl"
head -1 "$work/real.jsonl" > "$work/synthetic.jsonl"
real=$("$fk" gallery stats bench --db "$db" | python3 -c 'import json,sys; print(json.load(sys.stdin)["persons"])')
python3 - "$work/synthetic.jsonl" $((persons - real)) <<'PY'
import json, random, sys
path, count = sys.argv[1], int(sys.argv[2])
dim = json.loads(open(path).readline())["contract"]["dimension"]
rng = random.Random(7)
with open(path, "a") as out:
    for i in range(count):
        key = f"synthetic_{i:05d}"
        vector = [rng.gauss(0, 1) for _ in range(dim)]
        out.write(json.dumps({"person": {"key": key, "name": key, "metadata": {}}, "embedding": vector}) + "\n")
PY
"$fk" gallery import bench "$work/synthetic.jsonl" --db "$db" >/dev/null 2>&1
stats=$("$fk" gallery stats bench --db "$db")

find "$shared/identities/dlib_johns" "$shared/identities/face_recognition_knn" -type f \
  \( -name '*.jpg' -o -name '*.jpeg' \) | sort > "$work/probes.txt"
probes=$(wc -l < "$work/probes.txt")

# The CLI on the same photos, repeated to about 600 images.
repeat=$(( (600 + probes - 1) / probes ))
mkdir -p "$work/cli-probes"
i=0
for r in $(seq "$repeat"); do
  while read -r probe; do
    i=$((i + 1)); ln -s "$probe" "$work/cli-probes/$i.jpg"
  done < "$work/probes.txt"
done
echo "bench-serve: CLI identify over $i images" >&2
start=$(date +%s.%N)
"$fk" gallery identify bench "$work/cli-probes" --models "$pack" --db "$db" > "$work/cli.jsonl" || true
end=$(date +%s.%N)
cli_ips=$(python3 -c "print(round($i / ($end - $start), 2))")

token=$("$fk" keys create --name bench --role reader | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$fk" serve --models "$pack" --db "$db" --bind 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$work/serve.out")

echo "bench-serve: wrk, ${seconds} s at concurrency $concurrency" >&2
BENCH_PROBES=$work/probes.txt BENCH_TOKEN=$token wrk -t2 -c"$concurrency" -d"${seconds}s" --timeout 30s \
  -s "$root/scripts/bench/identify.lua" "$url/v1/collections/bench/identify" > "$work/wrk.out"
curl -s "$url/metrics" > "$work/metrics.txt" 2>/dev/null || true
kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=

python3 - "$work/wrk.out" "$cli_ips" "$stats" "$probes" "$concurrency" <<'PY'
import json, sys
wrk_out, cli_ips, stats, probes, concurrency = sys.argv[1:]
line = next(l for l in open(wrk_out) if l.startswith("BENCH "))
run = json.loads(line[len("BENCH "):])
statuses = {int(k): v for k, v in run["statuses"].items()}
ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
server_ips = ok / run["seconds"]
stats = json.loads(stats)
print(json.dumps({
    "persons": stats["persons"], "samples": stats["samples"], "probe_photos": int(probes),
    "concurrency": int(concurrency), "seconds": run["seconds"],
    "statuses": run["statuses"], "socket_errors": run["socket_errors"],
    "server_5xx_not_503": sum(v for k, v in statuses.items() if k >= 500 and k != 503),
    "p50_ms": run["p50_ms"], "p90_ms": run["p90_ms"], "p99_ms": run["p99_ms"], "max_ms": run["max_ms"],
    "server_images_per_s": round(server_ips, 2), "cli_images_per_s": float(cli_ips),
    "server_vs_cli": round(server_ips / float(cli_ips), 3),
}))
PY
