#!/usr/bin/env bash
# Clustering at scale on face-like synthetic vectors (512-d, 10 per person):
# a full run over N faces and 1 % more added incrementally (time of each,
# the incremental share, BCubed/pairwise F), with peak memory. Defaults to
# 100,000 and 1,000,000 faces. With --gallery, the same through an embedded
# gallery collection as `facekit gallery cluster` runs it (faces enrolled
# without a person, full run, 1 % more, incremental run from a freshly
# opened gallery); defaults to 100,000 faces.
#
#   bash scripts/bench-cluster.sh [--gallery] [N ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=cluster_scale
defaults=(100000 1000000)
if [ "${1:-}" = --gallery ]; then
  name=gallery_cluster
  defaults=(100000)
  shift
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=("${defaults[@]}")
cargo bench --locked -q -p facekit-cluster --bench "$name" --no-run --manifest-path "$root/Cargo.toml" 2>/dev/null
bench=$(ls -t "$root"/target/release/deps/"$name"-* | grep -v '\.d$' | head -1)
for n in "${sizes[@]}"; do
  out=$(mktemp)
  /usr/bin/time -v "$bench" "$n" 2> "$out"
  echo "{\"faces\": $n, \"peak_mb\": $(awk '/Maximum resident/ {printf "%.1f", $6/1024}' "$out")}"
  rm -f "$out"
done
