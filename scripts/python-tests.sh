#!/usr/bin/env bash
# The Python package's test suite: builds the wheel (scripts/python-wheel.sh),
# installs it into a test venv (.facekit/python-test-venv) beside pinned test
# tools — pytest, OpenCV (cv2.imread, as InsightFace users read images) and
# InsightFace 2.1 itself (the drop-in script runs under both) — and runs
# pytest on crates/python/tests. Extra arguments go to pytest.
# Reads ../shared (or FACEKIT_SHARED); `cargo test -p facekit-python` runs it
# on the extension cargo built (FACEKIT_PYTHON_EXTENSION names it), or on the
# maturin wheel with FACEKIT_PYTHON_WHEEL=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.facekit/python-test-venv
pins="pytest==9.2.0 numpy==2.4.6 onnxruntime==1.32.0 opencv-python-headless==5.0.0.93 insightface==2.1"
bash "$root/scripts/tool-venv.sh" "$venv" "$pins" >/dev/null
if [ -n "${FACEKIT_PYTHON_EXTENSION:-}" ]; then
  # The extension `cargo test` already built: the package's Python files and
  # that library laid out as the wheel lays them out.
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  rm -rf "$site"/facekit "$site"/facekit-*.dist-info
  cp -r "$root/crates/python/python/facekit" "$site/facekit"
  cp "$FACEKIT_PYTHON_EXTENSION" "$site/facekit/_facekit.abi3.so"
else
  wheel=$(FACEKIT_WHEEL_PROFILE=${FACEKIT_WHEEL_PROFILE:-dev} bash "$root/scripts/python-wheel.sh")
  "$venv/bin/pip" install -q --force-reinstall --no-deps "$wheel" >&2
fi
cd "$root/crates/python/tests"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
