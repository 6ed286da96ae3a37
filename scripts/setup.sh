#!/usr/bin/env bash
# Installs what facekit needs beyond crates, into project-local folders:
#  - nasm (assembler for libjpeg-turbo's SIMD decoder), strace (the
#    crash-safety test traces syncs) and ffmpeg (video in and out, with
#    ffprobe), from the system packages;
#  - libonnxruntime.so from PyPI's onnxruntime wheel, into .facekit/runtime/.
# Idempotent: does nothing that is already done. Prints the ORT_DYLIB_PATH to use.
#
#   bash scripts/setup.sh [--provider cpu|cuda|tensorrt]
#
# --provider cuda or tensorrt installs PyPI's onnxruntime-gpu instead (its
# CUDA and TensorRT provider libraries beside libonnxruntime.so); CUDA 12,
# cuDNN 9 (and TensorRT's libraries for tensorrt) must be on the machine.
set -euo pipefail
ORT_VERSION=1.32.0
root=$(cd "$(dirname "$0")/.." && pwd)
runtime_dir="$root/.facekit/runtime"

provider=cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --provider) provider=${2:?--provider needs a value}; shift 2 ;;
    --provider=*) provider=${1#*=}; shift ;;
    *) echo "usage: setup.sh [--provider cpu|cuda|tensorrt]" >&2; exit 2 ;;
  esac
done
case "$provider" in
  cpu) package=onnxruntime; version=$ORT_VERSION ;;
  # PyPI's newest GPU build; it has the 1.31 API facekit is built against.
  cuda | tensorrt) package=onnxruntime-gpu; version=1.31.1 ;;
  openvino)
    echo "setup: PyPI's newest onnxruntime-openvino (1.24.1) predates the ONNX Runtime 1.31 API facekit is built against; build ONNX Runtime >= 1.31 with OpenVINO and set ORT_DYLIB_PATH to its libonnxruntime.so" >&2
    exit 1 ;;
  coreml) echo "setup: Core ML is in ONNX Runtime's macOS builds only" >&2; exit 1 ;;
  *) echo "setup: unknown provider '$provider' (cpu, cuda or tensorrt)" >&2; exit 2 ;;
esac

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

if [ ! -f "$runtime_dir/libonnxruntime.so" ] || [ "$(cat "$runtime_dir/VERSION" 2>/dev/null)" != "$package $version" ]; then
  echo "setup: installing libonnxruntime from PyPI's $package $version into $runtime_dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 \
    "$package==$version" -d "$tmp"
  wheel=$(ls "$tmp"/onnxruntime*.whl)
  python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if "/capi/libonnxruntime" in n:
            z.extract(n, sys.argv[2])
PY
  rm -rf "$runtime_dir" && mkdir -p "$runtime_dir"
  lib=$(ls "$tmp"/x/onnxruntime/capi/libonnxruntime.so.* | head -1)
  cp "$lib" "$runtime_dir/"
  # The provider libraries (shared, and CUDA/TensorRT in the GPU build) load from beside it.
  cp "$tmp"/x/onnxruntime/capi/libonnxruntime_providers_*.so "$runtime_dir/" 2>/dev/null || true
  ln -sf "$(basename "$lib")" "$runtime_dir/libonnxruntime.so"
  echo "$package $version" > "$runtime_dir/VERSION"
fi
echo "ORT_DYLIB_PATH=$runtime_dir/libonnxruntime.so"
