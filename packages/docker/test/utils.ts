/**
 * For the tests: the dockerd they talk to (DOCKER_HOST, default the unix socket), a tiny test image built without
 * any registry — host binaries (`sh`, `sleep`, `env`) and their shared libraries (from `ldd`) in a tarball,
 * imported as `porter-test-idle:docker-<hash of what it runs>` — and a machine spec.
 */
import type { Ids, MachineProvisioner } from "@porter/core"
import { DockerEngine } from "@porter/docker"
import { Effect, Redacted } from "effect"
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"

/**
 * What the test containers run. MACHINE_MODE: idle (default) prints "ready" and runs until SIGTERM; `env` also
 * prints its environment; `exit` prints "bye" and exits with MACHINE_EXIT_CODE (default 3); `pid1` does what the
 * runner image's entrypoint does (exec with a minimal environment) and prints PID 1's environment.
 */
const SCRIPT = [
  "trap 'echo stopping; exit 0' TERM",
  "echo ready",
  "case \"$MACHINE_MODE\" in",
  "  env) env ;;",
  "  pid1) exec /usr/bin/env -i PATH=/bin:/usr/bin /bin/sh -c 'cat /proc/1/environ; echo; echo pid1 read; " +
  "trap \"exit 0\" TERM; while :; do sleep 1 & wait $!; done' ;;",
  "  exit) echo bye; exit \"${MACHINE_EXIT_CODE:-3}\" ;;",
  "esac",
  "while :; do sleep 1 & wait $!; done"
].join("\n")

const BINARIES = ["/bin/sh", "/bin/sleep", "/usr/bin/env", "/bin/cat"]

export const IMAGE_REPO = "porter-test-idle"
// The tag follows the script, so a changed script never meets a stale image (nor another suite's image).
export const IMAGE_TAG = `docker-${
  createHash("sha256").update(SCRIPT).update(BINARIES.join()).digest("hex").slice(0, 10)
}`
export const IMAGE = `${IMAGE_REPO}:${IMAGE_TAG}`

const run = (file: string, args: ReadonlyArray<string>) =>
  new Promise<Buffer>((resolve, reject) =>
    execFile(
      file,
      args,
      { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${file} ${args.join(" ")}: ${String(stderr) || error.message}`)) : resolve(stdout)
    )
  )

/** The binaries and the libraries they load, as paths relative to `/`. */
const rootfsFiles = async (): Promise<ReadonlyArray<string>> => {
  const files = new Set(BINARIES)
  for (const binary of BINARIES) {
    const out = String(await run("ldd", [binary]))
    for (const line of out.split("\n")) {
      const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
      if (match?.[1]) files.add(match[1])
    }
  }
  return [...files].map((f) => f.slice(1))
}

export const buildTestImage = Effect.gen(function*() {
  const engine = yield* DockerEngine.DockerEngine
  if (yield* engine.imageExists(IMAGE)) return
  const tarball = yield* Effect.tryPromise(async () => {
    const files = await rootfsFiles()
    // -h: store what symlinks point to (merged /usr, libc's versioned names).
    return new Uint8Array(await run("tar", ["-c", "-h", "-f", "-", "-C", "/", ...files]))
  })
  yield* engine.importImage(tarball, {
    repo: IMAGE_REPO,
    tag: IMAGE_TAG,
    changes: [`CMD ${JSON.stringify(["/bin/sh", "-c", SCRIPT])}`]
  })
})

export const host = process.env.DOCKER_HOST || "unix:///var/run/docker.sock"

export const SECRET = "s3cret-callback-token-value"

export const specOf = (
  taskId: Ids.TaskId,
  env: Record<string, string> = {},
  extra: Partial<MachineProvisioner.MachineSpec> = {}
): MachineProvisioner.MachineSpec => ({
  taskId,
  env: { TASK_ID: taskId, ...env },
  secretEnv: { CALLBACK_TOKEN: Redacted.make(SECRET) },
  guest: { cpuKind: "shared", cpus: 1, memoryMb: 256 },
  ...extra
})
