/**
 * Running a child process to completion: stdout and stderr read line by line (each line handed
 * to `onLine` as it arrives and kept), the exit code awaited. The child gets its own process
 * group (the platform spawner's default), so interrupting the run — a deadline, a cancel — ends
 * the whole group: `killSignal`, then SIGKILL after `forceKillAfter`.
 */
import { Duration, Effect, Fiber, type Redacted, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { ChildProcess, ChildProcessSpawner } from "effect/process"

export interface RunOptions {
  readonly cwd?: string
  readonly env: Record<string, string | Redacted.Redacted<string> | undefined>
  /** Text for standard input (closed afterwards); default: no input. */
  readonly stdin?: string
  readonly onLine?: (stream: "stdout" | "stderr", line: string) => Effect.Effect<void>
  /** How long output is still read after the child exits (default 2 s). */
  readonly drainAfterExit?: Duration.Input
  /** Grace between SIGTERM and SIGKILL when the run is interrupted (default 5 s). */
  readonly forceKillAfter?: Duration.Input
}

export interface RunResult {
  readonly exitCode: number
  /** The last lines of standard output (at least 5,000). */
  readonly stdout: string
  readonly stderr: string
}

const encoder = new TextEncoder()
const MAX_KEPT_LINES = 5_000

const lines = (
  stream: Stream.Stream<Uint8Array, PlatformError>,
  name: "stdout" | "stderr",
  kept: Array<string>,
  onLine: RunOptions["onLine"]
) =>
  stream.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.runForEach((line) => {
      kept.push(line)
      // The result is read from the end of the output: a chatty child does not grow memory forever.
      if (kept.length > MAX_KEPT_LINES * 2) kept.splice(0, kept.length - MAX_KEPT_LINES)
      return onLine ? onLine(name, line) : Effect.void
    })
  )

/** Runs `command args` to its exit. Fails only when it cannot be started or read. */
export const run = Effect.fnUntraced(function*(command: string, args: ReadonlyArray<string>, options: RunOptions) {
  const stdout: Array<string> = []
  const stderr: Array<string> = []
  const cmd = ChildProcess.make(command, args, {
    env: options.env,
    extendEnv: false,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    stdin: options.stdin === undefined ? "ignore" : Stream.make(encoder.encode(options.stdin)),
    killSignal: "SIGTERM",
    forceKillAfter: options.forceKillAfter ?? Duration.seconds(5)
  })
  const exitCode = yield* Effect.scoped(Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const handle = yield* spawner.spawn(cmd)
    const readers = yield* Effect.forkChild(Effect.all([
      lines(handle.stdout, "stdout", stdout, options.onLine),
      lines(handle.stderr, "stderr", stderr, options.onLine)
    ], { concurrency: "unbounded" }))
    const code = yield* handle.exitCode
    // A background process the child left behind may hold the pipes open: read what is there,
    // then stop; closing the scope ends the rest of the group.
    yield* Fiber.join(readers).pipe(Effect.timeoutOption(options.drainAfterExit ?? Duration.seconds(2)))
    return code
  }))
  return { exitCode: Number(exitCode), stdout: stdout.join("\n"), stderr: stderr.join("\n") } satisfies RunResult
})
