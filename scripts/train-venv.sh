#!/usr/bin/env bash
# The libtorch that facekit-train's `torch` feature builds on: PyPI's
# PyTorch 2.13.0 (the version tch 0.26 binds) in .facekit/train-venv, made
# once. Prints the LIBTORCH folder to build with:
#
#   export LIBTORCH=$(bash scripts/train-venv.sh)
#   export LD_LIBRARY_PATH=$LIBTORCH/lib
#   cargo build -p facekit-train --features torch
#
# The wheel is PyTorch's CUDA build (its NVIDIA libraries come with it,
# about 5 GB): the same libtorch trains on CPU here and on a GPU when
# there is one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$root/scripts/tool-venv.sh" "$root/.facekit/train-venv" "torch==2.13.0 numpy==2.4.6")
"$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))'
