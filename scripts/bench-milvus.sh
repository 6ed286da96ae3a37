#!/usr/bin/env bash
# Milvus against the embedded gallery on the same N face-like 512-d vectors
# (crates/gallery-milvus/benches/milvus_vs_embedded.rs): builds the
# benchmark, starts Milvus 2.3.5 in a private network namespace
# (scripts/milvus.sh, needs root), runs it there, and stops Milvus.
#
# Usage: bash scripts/bench-milvus.sh [N=100000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
export FACEKIT_MILVUS_NS=${FACEKIT_MILVUS_NS:-fk-milvus-bench}
cargo bench --locked -q -p facekit-gallery-milvus --bench milvus_vs_embedded --no-run --manifest-path "$root/Cargo.toml"
trap 'bash "$root/scripts/milvus.sh" stop' EXIT
bash "$root/scripts/milvus.sh" start
# Inside the namespace there is no network: the build above is reused.
bash "$root/scripts/milvus.sh" exec cargo bench --offline --locked -q -p facekit-gallery-milvus \
  --bench milvus_vs_embedded --manifest-path "$root/Cargo.toml" -- "$n"
