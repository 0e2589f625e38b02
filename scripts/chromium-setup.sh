#!/usr/bin/env bash
# CI setup for the browser test tier: installs Debian's chromium (no browser download: playwright-core drives the
# system's binary). Safe to run again. Without it, npm test skips the browser tier and says why.
#
#   scripts/chromium-setup.sh            (as root, e.g. from .ci/run before `npm test`)
set -euo pipefail

if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
chromium --headless=new --no-sandbox --version 2>/dev/null || chromium --version
