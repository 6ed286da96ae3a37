#!/usr/bin/env bash
# The throwaway venv with InsightFace 2.1 (and its ONNX Runtime and OpenCV)
# that the benchmark scripts run the anchor from: .facekit/bench-venv.
# Nothing of it is a facekit dependency. Prints the venv's python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.facekit/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q insightface==2.1 onnxruntime==1.32.0 opencv-python-headless==5.0.0.93 >&2
fi
echo "$venv/bin/python"
