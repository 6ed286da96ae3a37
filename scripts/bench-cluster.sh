#!/usr/bin/env bash
# Clustering at scale on face-like synthetic vectors (512-d, 10 per person):
# a full run over N faces and 1 % more added incrementally (time of each,
# the incremental share, BCubed/pairwise F), with peak memory. Defaults to
# 100,000 and 1,000,000 faces.
#
#   bash scripts/bench-cluster.sh [N ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
cargo bench --locked -q -p facekit-cluster --bench cluster_scale --no-run --manifest-path "$root/Cargo.toml" 2>/dev/null
bench=$(ls -t "$root"/target/release/deps/cluster_scale-* | grep -v '\.d$' | head -1)
for n in "${sizes[@]}"; do
  out=$(mktemp)
  /usr/bin/time -v "$bench" "$n" 2> "$out"
  echo "{\"faces\": $n, \"peak_mb\": $(awk '/Maximum resident/ {printf "%.1f", $6/1024}' "$out")}"
  rm -f "$out"
done
