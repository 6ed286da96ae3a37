#!/usr/bin/env bash
# Installs what the web console's browser test drives: Debian's headless
# Chromium and its WebDriver (chromium, chromium-driver), from the system
# packages, when they are missing. Idempotent; prints chromedriver's path.
#
#   bash scripts/browser.sh
set -euo pipefail
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser: installing chromium and chromium-driver" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }
  else
    echo "browser: chromium and chromium-driver are missing; install them (e.g. 'sudo apt-get install chromium chromium-driver') and run again" >&2
    exit 1
  fi
fi
command -v chromedriver
