/**
 * One machine as a supervised child process: a private temporary directory (its own `HOME`, `TMPDIR` and working
 * directory inside it), an environment made of exactly what the caller gives plus `PATH`, `HOME` and `TMPDIR` —
 * nothing of the host's environment — its own process group (so everything it starts can be signalled at once),
 * output written to a file in its directory and tailed into a bounded `LogBuffer`, a hard stop at a deadline, and
 * SIGTERM-then-SIGKILL on `stop`. When it ends, stragglers left in its group are killed and the directory is removed.
 *
 * Output goes to a file rather than a pipe so the process survives its host: a machine whose host died keeps
 * running (writing to a pipe with no reader would kill it), and a restarted host can `adopt` it by pid and start
 * time and still read its output.
 *
 * Written on `node:child_process` rather than effect's `ChildProcessSpawner`, which cannot hand a child a file
 * descriptor, report the signal that ended it, or let a process outlive the scope that started it. Files go through
 * effect's `FileSystem`, except the output file handed to the child: a `FileSystem.File` has no descriptor to give.
 *
 * What it cannot do: isolate the process from the host's filesystem, network or other processes beyond that —
 * it runs as the host's user and sees what that user sees. Unix only.
 */
import { ByteSize, Clock, Deferred, Effect, Exit, Fiber, FileSystem, Option, type Redacted, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { open } from "node:fs/promises"
import { dirname, isAbsolute, join } from "node:path"
import * as LogBuffer from "./LogBuffer.ts"
import * as OutputTail from "./OutputTail.ts"
import * as Processes from "./Processes.ts"
import { environment, makeSandbox, removeSandbox, type Sandbox, type SandboxOptions, StartError } from "./Sandbox.ts"

export {
  defaultPath,
  environment,
  makeSandbox,
  removeSandbox,
  type Sandbox,
  type SandboxOptions,
  StartError
} from "./Sandbox.ts"

/** Why a machine's process ended. */
export type ExitReason =
  /** By itself. */
  | "exited"
  /** `stop` was called. */
  | "stopped"
  /** Its deadline passed. */
  | "deadline"
  /** The scope it was started in closed. */
  | "shutdown"

/** How a machine's process ended: when, its code or signal, and why. */
export interface ExitInfo {
  readonly at: number
  /** `null` when a signal ended it, or when nobody could see (an adopted process). */
  readonly code: number | null
  readonly signal: string | null
  readonly reason: ExitReason
}

/** A process machine's state: running, stopping (and why) or exited. */
export type Status =
  | { readonly _tag: "Running" }
  | { readonly _tag: "Stopping"; readonly reason: ExitReason }
  | { readonly _tag: "Exited"; readonly exit: ExitInfo }

/** What to start: the command, its environment and secrets, the sandbox, the grace before SIGKILL, a deadline. */
export interface StartOptions extends SandboxOptions {
  /** Program and arguments (no shell). */
  readonly command: ReadonlyArray<string>
  /** The plain environment. */
  readonly env: Readonly<Record<string, string>>
  /** The secret environment: unwrapped only to hand it to the process. */
  readonly secretEnv?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  /** `PATH` when `env` has none; default `defaultPath()`. */
  readonly path?: string | undefined
  /** Time between SIGTERM and SIGKILL; default 5 s. */
  readonly graceMs?: number | undefined
  /** Epoch millis: the process is stopped then (reason `deadline`). */
  readonly deadlineAt?: number | undefined
  /** In-memory output budget; default `LogBuffer.defaultMaxBytes`. */
  readonly logMaxBytes?: number | undefined
  /** How often output is read, and an adopted process checked; default 100 ms. */
  readonly pollMs?: number | undefined
  /** Called with each line of output, in order. */
  readonly onLine?: ((line: LogBuffer.OutputLine) => Effect.Effect<void>) | undefined
  /** When the scope closes: leave the process running (default: stop it). */
  readonly keepRunningOnClose?: boolean | undefined
  /** Keep the directory after the process ended (debugging); default false. */
  readonly keepDirectory?: boolean | undefined
}

/** How to stop a machine: the reason recorded, the signal, and the grace before SIGKILL. */
export interface StopOptions {
  /** Default `stopped`. */
  readonly reason?: ExitReason
  /** The first signal; default SIGTERM. SIGKILL follows after the grace period. */
  readonly signal?: Processes.Signal
  readonly graceMs?: number
}

/** One machine's process in its sandbox: its status, output, exit, and how to stop it. */
export interface ProcessMachine {
  readonly pid: number
  /** `Processes.startTime` of `pid` when it started ("" when it could not be read). */
  readonly startTime: string
  readonly startedAt: number
  readonly sandbox: Sandbox
  /** Found running by `adopt` rather than started here: its exit code is unknown. */
  readonly adopted: boolean
  readonly status: Effect.Effect<Status>
  /** Waits until the process ended and its directory is gone. */
  readonly exited: Effect.Effect<ExitInfo>
  /** The output kept in memory, oldest first. */
  readonly logs: Effect.Effect<ReadonlyArray<LogBuffer.OutputLine>>
  /** `signal` (SIGTERM) to the group, SIGKILL after the grace period; waits for the end. A no-op once it ended. */
  readonly stop: (options?: StopOptions) => Effect.Effect<ExitInfo>
  /** Lets the process run on unsupervised (the host is going away); its directory stays. */
  readonly detach: Effect.Effect<void>
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message
  }
  return String(cause)
}

const quote = (command: ReadonlyArray<string>) =>
  command.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part))).join(" ")

const spawnChild = (command: ReadonlyArray<string>, env: Record<string, string>, sandbox: Sandbox) =>
  Effect.gen(function*() {
    const [program, ...args] = command
    if (program === undefined || program === "") {
      return yield* new StartError({ reason: "command", message: "no command to run" })
    }
    const log = yield* Effect.tryPromise({
      try: () => open(sandbox.logFile, "a", 0o600),
      catch: (cause) =>
        new StartError({ reason: "sandbox", message: `could not open ${sandbox.logFile}: ${describe(cause)}`, cause })
    })
    const exit = yield* Deferred.make<readonly [number | null, string | null]>()
    const child = yield* Effect.callback<ChildProcess, StartError>((resume) => {
      let started = false
      const child = spawn(program, args, {
        cwd: sandbox.work,
        env,
        // A new session: its own process group, and no terminal of the host's.
        detached: true,
        stdio: ["ignore", log.fd, log.fd]
      })
      child.once("spawn", () => {
        started = true
        resume(Effect.succeed(child))
      })
      child.once("error", (error) => {
        if (!started) {
          resume(Effect.fail(
            new StartError({
              reason: "command",
              message: `could not start \`${quote(command)}\`: ${describe(error)}`,
              cause: error
            })
          ))
        }
      })
      child.once("exit", (code, signal) => Deferred.doneUnsafe(exit, Exit.succeed([code, signal] as const)))
      // Interrupted while starting: nobody will supervise it.
      return Effect.sync(() => {
        if (child.pid !== undefined) Processes.signalGroupUnsafe(child.pid, "SIGKILL")
      })
    }).pipe(
      // The child holds its own copy of the descriptor; ours is closed once it started (or failed to). Closing a
      // descriptor that was just opened does not fail in practice, and if it did there would be nothing to do.
      Effect.ensuring(Effect.ignore(Effect.tryPromise(() => log.close())))
    )
    return { child, exit }
  })

interface Supervised {
  readonly pid: number
  readonly startTime: string
  readonly sandbox: Sandbox
  readonly adopted: boolean
  /** Resolves when the group leader is gone, with what is known of how it ended. */
  readonly leaderGone: Effect.Effect<readonly [number | null, string | null]>
  /** Signals the group (or just the leader when the group is unreachable). */
  readonly signal: (signal: Processes.Signal) => Effect.Effect<void>
  /** Whether any process of the machine still runs. */
  readonly alive: Effect.Effect<boolean>
  readonly unref: () => void
  readonly tailFrom: number
}

/** The part shared by `start` and `adopt`: output, deadline, stop, cleanup. */
const supervise = (machine: Supervised, options: Omit<StartOptions, "command" | "env" | "secretEnv">) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const fs = yield* FileSystem.FileSystem
    const graceMs = options.graceMs ?? 5_000
    const pollMs = Math.max(10, options.pollMs ?? 100)
    const buffer = LogBuffer.make({ ...(options.logMaxBytes !== undefined ? { maxBytes: options.logMaxBytes } : {}) })
    const tail = OutputTail.make(fs, machine.sandbox.logFile, buffer, options.onLine, machine.tailFrom)
    const done = yield* Deferred.make<ExitInfo>()
    const startedAt = yield* Clock.currentTimeMillis
    let status: Status = { _tag: "Running" }
    let detached = false

    // Fibers of their own (not of `scope`): they end with the process, which may outlive the scope.
    const tailFiber = yield* Effect.forkDetach(Effect.forever(Effect.andThen(tail.read, Effect.sleep(pollMs))))
    let deadlineFiber: Fiber.Fiber<unknown> | undefined

    const stop = (stopOptions?: StopOptions) =>
      Effect.gen(function*() {
        if (status._tag === "Running" && !detached) {
          status = { _tag: "Stopping", reason: stopOptions?.reason ?? "stopped" }
          yield* machine.signal(stopOptions?.signal ?? "SIGTERM")
          const gone = yield* Processes.waitUntilGone(machine.alive, stopOptions?.graceMs ?? graceMs)
          if (!gone) yield* machine.signal("SIGKILL")
        }
        return yield* Deferred.await(done)
      })

    const finish = Effect.flatMap(
      machine.leaderGone,
      ([code, signal]) =>
        Effect.uninterruptible(Effect.gen(function*() {
          // Whatever it left running in its group goes with it.
          yield* Processes.terminateGroup(machine.pid, graceMs).pipe(Effect.provideService(FileSystem.FileSystem, fs))
          yield* Fiber.interrupt(tailFiber)
          if (deadlineFiber) yield* Fiber.interrupt(deadlineFiber)
          yield* tail.finish
          if (!options.keepDirectory) {
            yield* removeSandbox(machine.sandbox.dir).pipe(Effect.provideService(FileSystem.FileSystem, fs))
          }
          const reason = status._tag === "Stopping" ? status.reason : "exited"
          const exit: ExitInfo = { at: yield* Clock.currentTimeMillis, code, signal, reason }
          status = { _tag: "Exited", exit }
          yield* Deferred.succeed(done, exit)
        }))
    )
    const finisher = yield* Effect.forkDetach(finish)

    if (options.deadlineAt !== undefined) {
      const deadlineAt = options.deadlineAt
      deadlineFiber = yield* Effect.forkDetach(Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* Effect.sleep(Math.max(0, deadlineAt - now))
        yield* tail.read
        yield* stop({ reason: "deadline" })
      }))
    }

    const detach = Effect.gen(function*() {
      if (detached || status._tag === "Exited") return
      detached = true
      machine.unref()
      yield* Fiber.interrupt(finisher)
      yield* Fiber.interrupt(tailFiber)
      if (deadlineFiber) yield* Fiber.interrupt(deadlineFiber)
      yield* tail.close
    })

    yield* Scope.addFinalizer(scope, options.keepRunningOnClose ? detach : stop({ reason: "shutdown" }))

    const handle: ProcessMachine = {
      pid: machine.pid,
      startTime: machine.startTime,
      startedAt,
      sandbox: machine.sandbox,
      adopted: machine.adopted,
      status: Effect.sync(() => status),
      exited: Deferred.await(done),
      logs: Effect.suspend(() => (status._tag === "Exited" ? Effect.void : tail.read)).pipe(
        Effect.map(() => buffer.lines())
      ),
      stop,
      detach
    }
    return handle
  })

/**
 * Starts a machine's process. Needs a `Scope`: when it closes, the process is stopped (or, with
 * `keepRunningOnClose`, left running).
 */
export const start = Effect.fn("ProcessMachine.start")(function*(options: StartOptions) {
  const fs = yield* FileSystem.FileSystem
  const withFs = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem>) =>
    Effect.provideService(effect, FileSystem.FileSystem, fs)
  const sandbox = yield* makeSandbox(options)
  const env = environment({ ...options, sandbox })
  const { child, exit } = yield* spawnChild(options.command, env, sandbox).pipe(
    Effect.tapError(() => removeSandbox(sandbox.dir))
  )
  const pid = child.pid!
  const startTime = yield* Processes.startTime(pid).pipe(
    Effect.map(Option.getOrElse(() => "")),
    // `startTime` is "" when it cannot be read: the machine runs, and a later host never adopts it.
    Effect.catchTag(
      "PlatformError",
      (error) =>
        Effect.as(Effect.logWarning("could not read a machine's start time", { pid, error: error.message }), "")
    )
  )
  return yield* supervise({
    pid,
    startTime,
    sandbox,
    adopted: false,
    leaderGone: Deferred.await(exit),
    signal: (signal) =>
      withFs(Effect.flatMap(Processes.groupAlive(pid), (group) =>
        group
          ? Processes.signalGroup(pid, signal)
          : Effect.sync(() => {
            child.kill(signal)
          }))),
    alive: withFs(
      Effect.flatMap(Deferred.isDone(exit), (gone) => (gone ? Processes.groupAlive(pid) : Effect.succeed(true)))
    ),
    unref: () => child.unref(),
    tailFrom: 0
  }, options)
})

/** How to take over a process an earlier host started (found through the state directory). */
export interface AdoptOptions extends Omit<StartOptions, "command" | "env" | "secretEnv" | "path" | "root" | "prefix"> {
  readonly pid: number
  /** As recorded when it started: a process under `pid` with another start time is not ours. */
  readonly startTime: string
  readonly dir: string
}

/**
 * Takes over a machine started by an earlier host (its pid, start time and directory recorded somewhere):
 * `None` when nothing of it runs any more. Its output is read again from the file, within the buffer's budget.
 */
export const adopt = Effect.fn("ProcessMachine.adopt")(function*(options: AdoptOptions) {
  const fs = yield* FileSystem.FileSystem
  const pid = options.pid
  if (!isAbsolute(options.dir) || dirname(options.dir) === options.dir) return Option.none<ProcessMachine>()
  const leaderOurs = options.startTime !== "" && (yield* Processes.isSame(pid, options.startTime))
  const leaderRuns = Option.isSome(yield* Processes.startTime(pid))
  // Another program under a reused pid: not ours, never signal it. A gone leader with a live group is ours
  // (the kernel does not reuse a pid while it names a group).
  if (leaderRuns && !leaderOurs) return Option.none<ProcessMachine>()
  if (!leaderRuns && !(yield* Processes.groupAlive(pid))) return Option.none<ProcessMachine>()
  const alive = Effect.gen(function*() {
    // A leader that cannot be checked leaves it to its group, of which it is a member (`groupAlive` errs towards
    // "alive").
    const leader = yield* Effect.orElseSucceed(Processes.isSame(pid, options.startTime), () => false)
    return leader || (yield* Processes.groupAlive(pid))
  }).pipe(Effect.provideService(FileSystem.FileSystem, fs))
  const pollMs = Math.max(50, (options.pollMs ?? 100) * 2)
  const sandbox: Sandbox = {
    dir: options.dir,
    home: join(options.dir, "home"),
    tmp: join(options.dir, "tmp"),
    work: join(options.dir, "work"),
    logFile: join(options.dir, "output.log")
  }
  const logMaxBytes = options.logMaxBytes ?? LogBuffer.defaultMaxBytes
  const size = yield* fs.stat(sandbox.logFile).pipe(
    Effect.map((info) => Number(ByteSize.toBigInt(info.size))),
    // Nothing to measure: the tail reads from the start, and says so if it cannot read the file either.
    Effect.orElseSucceed(() => 0)
  )
  const machine = yield* supervise({
    pid,
    startTime: options.startTime,
    sandbox,
    adopted: true,
    leaderGone: Effect.gen(function*() {
      while (yield* alive) yield* Effect.sleep(pollMs)
      return [null, null] as const
    }),
    signal: (signal) => Processes.signalGroup(pid, signal),
    alive,
    unref: () => undefined,
    tailFrom: Math.max(0, size - logMaxBytes)
  }, options)
  return Option.some(machine)
})
