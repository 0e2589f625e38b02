#!/usr/bin/env bash
# CI setup for the postgres test tier: installs Debian's postgresql package (its binaries only: the tests start their
# own server per test file, initdb in a temporary directory, so the cluster the package may create is not used) and
# util-linux's setpriv (as root the tests run the server as the postgres user through it). Safe to run again.
# Without the binaries, npm test skips the postgres tier and says why.
#
#   scripts/postgres-setup.sh            (as root, e.g. from .ci/run before `npm test`)
set -euo pipefail
cd "$(dirname "$0")/.."

have_binaries() {
  [ -n "${PORTER_PG_BIN:-}" ] && [ -x "$PORTER_PG_BIN/initdb" ] && return 0
  command -v initdb >/dev/null && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if ! have_binaries || ! command -v setpriv >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's own cluster is neither needed nor started (policy-rc.d may forbid it in containers anyway).
  apt-get install -y -qq --no-install-recommends postgresql util-linux >/dev/null
fi

have_binaries || { echo "postgres-setup: no initdb after installing postgresql" >&2; exit 1; }
bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")"
echo "postgres-setup: $("${PORTER_PG_BIN:-$bin}/postgres" --version)" >&2
