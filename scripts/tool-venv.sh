#!/usr/bin/env bash
# A throwaway venv with pinned tools from PyPI, (re)made only when the pins
# change: `bash scripts/tool-venv.sh VENV "pkg==1 other==2"`. Prints VENV.
set -euo pipefail
venv=$1
pins=$2
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$pins" ]; then
  echo "tool-venv: installing $pins from PyPI into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $pins >&2
  echo "$pins" > "$venv/.installed"
fi
echo "$venv"
