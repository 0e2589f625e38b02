#!/bin/sh
# Porter worker entrypoint (PID 1 of the container): runs the runner for the task described by
# the environment.
#
# The environment (secrets included) is moved into a private file, then this process execs tini
# and the runner with a minimal environment that only names that file (PORTER_ENV_FILE); the
# runner reads it and deletes it before the agent starts. So no process the agent can inspect —
# same user, /proc/<pid>/environ — holds the secrets in its environment, PID 1 included (this is
# why the image does not use `docker run --init` or tini as ENTRYPOINT). The runner also keeps
# CALLBACK_TOKEN (the task token, the machine's only Porter credential: it holds no GitHub token) out
# of the agent's own environment.
set -eu
umask 077
dir="$(mktemp -d "${TMPDIR:-/tmp}/porter-env.XXXXXX")"
env -0 > "$dir/env"
init=""
# tini reaps the processes an agent leaves behind and forwards signals to the runner.
if command -v tini >/dev/null 2>&1; then init="tini --"; fi
exec env -i \
  PATH="${PATH:-/usr/local/bin:/usr/bin:/bin}" \
  HOME="${HOME:-/home/porter}" \
  LANG="${LANG:-C.UTF-8}" \
  ${NODE_COMPILE_CACHE:+NODE_COMPILE_CACHE="$NODE_COMPILE_CACHE"} \
  PORTER_ENV_FILE="$dir/env" \
  $init node /opt/porter/runner.mjs "$@"
