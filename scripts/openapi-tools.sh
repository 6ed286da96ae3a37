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
bash "$root/scripts/tool-venv.sh" "$venv" "$tools" >/dev/null
echo "$venv/bin"
