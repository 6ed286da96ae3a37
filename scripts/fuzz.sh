#!/usr/bin/env bash
# Long fuzz runs: TARGET (image, bin, onnx, wider, http, or all) for MINUTES,
# under a 2 GiB address-space cap, findings in $FUZZ_OUT (default
# .facekit/fuzz/). One JSON line per target; exit 1 on any finding, and on
# an abort, stack overflow or out-of-memory the input that was running is
# kept as current.bin there.
#
# Usage: bash scripts/fuzz.sh TARGET MINUTES
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:?usage: scripts/fuzz.sh TARGET MINUTES}
minutes=${2:?usage: scripts/fuzz.sh TARGET MINUTES}
out=${FUZZ_OUT:-$root/.facekit/fuzz}
bash "$root/scripts/setup.sh" >/dev/null
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$root/.facekit/runtime/libonnxruntime.so}
cargo build --release --locked -q -p facekit-fuzz --manifest-path "$root/Cargo.toml"
mkdir -p "$out"
seconds=$(python3 -c "print(float('$minutes') * 60)")
status=0
prlimit --as=$((2 << 30)) -- "$root/target/release/facekit-fuzz" "$target" "$seconds" "$out" || status=$?
if [ "$status" -gt 1 ]; then
  echo "fuzz: facekit-fuzz died (status $status); the input it was running is $out/current.bin" >&2
fi
exit "$status"
