#!/usr/bin/env bash
# Encryption at rest against plaintext on N synthetic 512-d faces (default
# 100,000): enrollment rate, reopen time and identify latency for each index
# kind, alternating the two modes; the last line per kind is the ratio.
#   bash scripts/bench-encryption.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p facekit-gallery --bench encryption -- "${1:-100000}"
