#!/usr/bin/env bash
# Installs what facekit needs beyond crates, into project-local folders:
#  - nasm (assembler for libjpeg-turbo's SIMD decoder), strace (the
#    crash-safety test traces syncs) and ffmpeg (video in and out, with
#    ffprobe), from the system packages;
#  - libonnxruntime.so from PyPI's onnxruntime wheel, into .facekit/runtime/.
# Idempotent: does nothing that is already done. Prints the ORT_DYLIB_PATH to use.
set -euo pipefail
ORT_VERSION=1.32.0
root=$(cd "$(dirname "$0")/.." && pwd)
runtime_dir="$root/.facekit/runtime"

# nasm builds libjpeg-turbo's SIMD decoder; strace lets the crash-safety
# test check that every acknowledged write was synced to disk first;
# ffmpeg (Debian's, with ffprobe) carries video frames over pipes.
for tool in nasm strace ffmpeg; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing $tool" >&2
      apt-get install -y -q "$tool" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$tool" >/dev/null; }
    else
      echo "setup: $tool is missing; install it (e.g. 'sudo apt-get install $tool') and run again" >&2
      exit 1
    fi
  fi
done

if [ ! -f "$runtime_dir/libonnxruntime.so" ] || [ "$(cat "$runtime_dir/VERSION" 2>/dev/null)" != "$ORT_VERSION" ]; then
  echo "setup: installing libonnxruntime $ORT_VERSION from PyPI into $runtime_dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 \
    "onnxruntime==$ORT_VERSION" -d "$tmp"
  wheel=$(ls "$tmp"/onnxruntime-*.whl)
  python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if "/capi/libonnxruntime" in n:
            z.extract(n, sys.argv[2])
PY
  mkdir -p "$runtime_dir"
  lib=$(ls "$tmp"/x/onnxruntime/capi/libonnxruntime.so.* | head -1)
  cp "$lib" "$runtime_dir/"
  cp "$tmp"/x/onnxruntime/capi/libonnxruntime_providers_shared.so "$runtime_dir/" 2>/dev/null || true
  ln -sf "$(basename "$lib")" "$runtime_dir/libonnxruntime.so"
  echo "$ORT_VERSION" > "$runtime_dir/VERSION"
fi
echo "ORT_DYLIB_PATH=$runtime_dir/libonnxruntime.so"
