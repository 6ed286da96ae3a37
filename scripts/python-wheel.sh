#!/usr/bin/env bash
# Builds the facekit Python wheel (one abi3 wheel for CPython >= 3.9 on
# Linux x86_64, tagged manylinux_2_34 by the system toolchain: see the
# README for why not zig's 2_28) into target/wheels, with maturin from PyPI
# in a tool venv (.facekit/maturin-venv).
# Prints the wheel's path.
#
#   bash scripts/python-wheel.sh                  # build; prints the wheel
#   bash scripts/python-wheel.sh --install VENV   # build, then pip install it into VENV (created when missing)
#
# FACEKIT_WHEEL_PROFILE=release|dev picks the cargo profile (default
# release; the test suite builds with `dev`, which shares the test profile's settings).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools_venv=$root/.facekit/maturin-venv
tools="maturin==1.16.0"
bash "$root/scripts/tool-venv.sh" "$tools_venv" "$tools" >/dev/null
install_into=
if [ "${1:-}" = "--install" ]; then
  install_into=${2:?usage: python-wheel.sh --install VENV}
fi
profile=${FACEKIT_WHEEL_PROFILE:-release}
out=$root/target/wheels
rm -f "$out"/facekit-*.whl
PATH="$tools_venv/bin:$PATH" "$tools_venv/bin/maturin" build --quiet \
  --manifest-path "$root/crates/python/Cargo.toml" --profile "$profile" \
  --out "$out" >&2
wheel=$(ls "$out"/facekit-*.whl)
if [ -n "$install_into" ]; then
  [ -x "$install_into/bin/python" ] || python3 -m venv "$install_into"
  "$install_into/bin/pip" install -q --force-reinstall "$wheel" >&2
fi
echo "$wheel"
