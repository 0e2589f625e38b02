#!/usr/bin/env bash
# CI setup for the docker test tier: installs Debian's docker.io (and debootstrap), starts dockerd
# when no daemon answers, and builds the local test image (scripts/docker-test-image.sh). Safe to
# run again. Without a daemon or the image, npm test skips the docker tier and says why.
#
#   scripts/docker-setup.sh            (as root, e.g. from .ci/run before `npm test`)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log="${TMPDIR:-/tmp}/porter-dockerd.log"
  echo "docker-setup: starting dockerd (log: $log)" >&2
  nohup dockerd >"$log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 40 "$log" >&2; echo "docker-setup: dockerd did not come up" >&2; exit 1; }
fi

scripts/docker-test-image.sh porter-runner:test
