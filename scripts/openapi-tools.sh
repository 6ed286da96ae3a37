#!/usr/bin/env bash
# The OpenAPI tools a client developer uses, pinned, in a throwaway venv
# (.facekit/openapi-venv) for the server's contract tests and for
# generating a client by hand:
#
#   bash scripts/openapi-tools.sh            # installs them (once); prints the venv's bin folder
#   "$(bash scripts/openapi-tools.sh)/openapi-spec-validator" doc.json
#   "$(bash scripts/openapi-tools.sh)/openapi-python-client" generate --path doc.json \
#       --config crates/server/clients/openapi-python-client.yaml --output-path client
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.facekit/openapi-venv
tools="openapi-spec-validator==0.9.0 openapi-python-client==0.29.1"
stamp=$venv/.installed
if [ "$(cat "$stamp" 2>/dev/null)" != "$tools" ]; then
  echo "openapi-tools: installing $tools from PyPI into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $tools >&2
  echo "$tools" > "$stamp"
fi
echo "$venv/bin"
