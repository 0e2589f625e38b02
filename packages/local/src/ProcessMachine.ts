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
 * descriptor, report the signal that ended it, or let a process outlive the scope that started it.
 *
 * What it cannot do: isolate the process from the host's filesystem, network or other processes beyond that —
 * it runs as the host's user and sees what that user sees. Unix only.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdir, mkdtemp, open, rm } from "node:fs/promises"
import type { FileHandle } from "node:fs/promises"
import { tmpdir } from "node:os"
import { delimiter, dirname, isAbsolute, join } from "node:path"
import { Clock, Data, Deferred, Effect, Exit, Fiber, Option, Redacted, Scope, Semaphore } from "effect"
import * as LogBuffer from "./LogBuffer.ts"
import * as Processes from "./Processes.ts"

/** The process could not be started. `message` is safe to show: it names the command, never the environment. */
export class StartError extends Data.TaggedError("StartError")<{
  readonly reason: "command" | "sandbox"
  readonly message: string
  readonly cause?: unknown
}> {}

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

export interface ExitInfo {
  readonly at: number
  /** `null` when a signal ended it, or when nobody could see (an adopted process). */
  readonly code: number | null
  readonly signal: string | null
  readonly reason: ExitReason
}

export type Status =
  | { readonly _tag: "Running" }
  | { readonly _tag: "Stopping"; readonly reason: ExitReason }
  | { readonly _tag: "Exited"; readonly exit: ExitInfo }

export interface Sandbox {
  /** The private directory; everything below is removed when the process ends. */
  readonly dir: string
  readonly home: string
  readonly tmp: string
  /** The working directory. */
  readonly work: string
  /** stdout and stderr, interleaved. */
  readonly logFile: string
}

export interface SandboxOptions {
  /** Where the private directory is made; default the OS temp directory. */
  readonly root?: string | undefined
  /** Name prefix of the directory; default `porter-machine-`. */
  readonly prefix?: string | undefined
}

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

export interface StopOptions {
  /** Default `stopped`. */
  readonly reason?: ExitReason
  /** The first signal; default SIGTERM. SIGKILL follows after the grace period. */
  readonly signal?: Processes.Signal
  readonly graceMs?: number
}

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

const isDarwin = process.platform === "darwin"

/** The `PATH` a machine gets when its environment has none: where this Node lives, then the system's. */
export const defaultPath = (): string =>
  [...new Set([dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin", ...(isDarwin ? ["/opt/homebrew/bin"] : [])])]
    .join(delimiter)

/** Makes the private directory: `home/`, `tmp/`, `work/` and the output file. */
export const makeSandbox = (options: SandboxOptions = {}): Effect.Effect<Sandbox, StartError> =>
  Effect.tryPromise({
    try: async () => {
      const dir = await mkdtemp(join(options.root ?? tmpdir(), options.prefix ?? "porter-machine-"))
      const sandbox: Sandbox = {
        dir,
        home: join(dir, "home"),
        tmp: join(dir, "tmp"),
        work: join(dir, "work"),
        logFile: join(dir, "output.log")
      }
      await Promise.all([sandbox.home, sandbox.tmp, sandbox.work].map((d) => mkdir(d, { mode: 0o700 })))
      return sandbox
    },
    catch: (cause) =>
      new StartError({
        reason: "sandbox",
        message: `could not create the machine's directory under ${options.root ?? tmpdir()}: ${describe(cause)}`,
        cause
      })
  })

export const removeSandbox = (dir: string): Effect.Effect<void> =>
  Effect.promise(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined))

/**
 * The whole environment of a machine: `env`, the secrets, `PATH` (from `env` or the default), and `HOME`/`TMPDIR`
 * in the sandbox. The only place secret values are unwrapped; the result goes to `spawn` and nowhere else.
 */
export const environment = (options: {
  readonly env: Readonly<Record<string, string>>
  readonly secretEnv?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  readonly path?: string | undefined
  readonly sandbox: Pick<Sandbox, "home" | "tmp">
}): Record<string, string> => {
  const env: Record<string, string> = { ...options.env }
  for (const [name, value] of Object.entries(options.secretEnv ?? {})) env[name] = Redacted.value(value)
  env.PATH = options.env.PATH ?? options.path ?? defaultPath()
  env.HOME = options.sandbox.home
  env.TMPDIR = options.sandbox.tmp
  return env
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

/** Reads a growing file into a `LogBuffer`. */
const makeTail = (
  file: string,
  buffer: LogBuffer.LogBuffer,
  onLine: StartOptions["onLine"],
  from = 0
) => {
  let handle: FileHandle | undefined
  let offset = from
  let ended = false
  const chunk = Buffer.alloc(64 * 1024)

  const emit = (lines: ReadonlyArray<LogBuffer.OutputLine>) =>
    onLine === undefined || lines.length === 0 ? Effect.void : Effect.forEach(lines, onLine, { discard: true })

  const lock = Semaphore.makeUnsafe(1)
  // One reader at a time, and uninterruptible: `offset` must always match what the buffer holds.
  const readUnlocked = Effect.gen(function*() {
    if (ended) return
    const lines = yield* Effect.promise(async () => {
      handle ??= await open(file, "r").catch(() => undefined)
      if (handle === undefined) return []
      const out: Array<LogBuffer.OutputLine> = []
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset).catch(() => ({ bytesRead: 0 }))
        if (bytesRead === 0) return out
        offset += bytesRead
        out.push(...buffer.push(chunk.subarray(0, bytesRead), Date.now()))
      }
    })
    yield* emit(lines)
  })
  const read = lock.withPermit(Effect.uninterruptible(readUnlocked))

  const finish = lock.withPermit(Effect.uninterruptible(Effect.gen(function*() {
    yield* readUnlocked
    if (ended) return
    ended = true
    yield* emit(buffer.end(yield* Clock.currentTimeMillis))
    const open = handle
    handle = undefined
    if (open) yield* Effect.promise(() => open.close().catch(() => undefined))
  })))

  return { read, finish }
}

const spawnChild = (command: ReadonlyArray<string>, env: Record<string, string>, sandbox: Sandbox) =>
  Effect.gen(function*() {
    const [program, ...args] = command
    if (program === undefined || program === "") {
      return yield* new StartError({ reason: "command", message: "no command to run" })
    }
    const log = yield* Effect.tryPromise({
      try: () => open(sandbox.logFile, "a", 0o600),
      catch: (cause) => new StartError({ reason: "sandbox", message: `could not open ${sandbox.logFile}: ${describe(cause)}`, cause })
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
            new StartError({ reason: "command", message: `could not start \`${quote(command)}\`: ${describe(error)}`, cause: error })
          ))
        }
      })
      child.once("exit", (code, signal) => Deferred.doneUnsafe(exit, Exit.succeed([code, signal] as const)))
      // Interrupted while starting: nobody will supervise it.
      return Effect.sync(() => {
        if (child.pid !== undefined) Processes.signalGroupUnsafe(child.pid, "SIGKILL")
      })
    }).pipe(Effect.ensuring(Effect.promise(() => log.close().catch(() => undefined))))
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
    const graceMs = options.graceMs ?? 5_000
    const pollMs = Math.max(10, options.pollMs ?? 100)
    const buffer = LogBuffer.make({ ...(options.logMaxBytes !== undefined ? { maxBytes: options.logMaxBytes } : {}) })
    const tail = makeTail(machine.sandbox.logFile, buffer, options.onLine, machine.tailFrom)
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

    const finish = Effect.flatMap(machine.leaderGone, ([code, signal]) =>
      Effect.uninterruptible(Effect.gen(function*() {
        // Whatever it left running in its group goes with it.
        yield* Processes.terminateGroup(machine.pid, graceMs)
        yield* Fiber.interrupt(tailFiber)
        if (deadlineFiber) yield* Fiber.interrupt(deadlineFiber)
        yield* tail.finish
        if (!options.keepDirectory) yield* removeSandbox(machine.sandbox.dir)
        const reason = status._tag === "Stopping" ? status.reason : "exited"
        const exit: ExitInfo = { at: yield* Clock.currentTimeMillis, code, signal, reason }
        status = { _tag: "Exited", exit }
        yield* Deferred.succeed(done, exit)
      })))
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
      logs: Effect.suspend(() => (status._tag === "Exited" ? Effect.void : tail.read)).pipe(Effect.map(() => buffer.lines())),
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
  const sandbox = yield* makeSandbox(options)
  const env = environment({ ...options, sandbox })
  const { child, exit } = yield* spawnChild(options.command, env, sandbox).pipe(
    Effect.tapError(() => removeSandbox(sandbox.dir))
  )
  const pid = child.pid!
  const startTime = Option.getOrElse(yield* Processes.startTime(pid), () => "")
  return yield* supervise({
    pid,
    startTime,
    sandbox,
    adopted: false,
    leaderGone: Deferred.await(exit),
    signal: (signal) =>
      Effect.flatMap(Processes.groupAlive(pid), (group) =>
        group
          ? Processes.signalGroup(pid, signal)
          : Effect.sync(() => {
            child.kill(signal)
          })),
    alive: Effect.flatMap(Deferred.isDone(exit), (gone) => (gone ? Processes.groupAlive(pid) : Effect.succeed(true))),
    unref: () => child.unref(),
    tailFrom: 0
  }, options)
})

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
  const pid = options.pid
  if (!isAbsolute(options.dir) || dirname(options.dir) === options.dir) return Option.none<ProcessMachine>()
  const leaderOurs = options.startTime !== "" && (yield* Processes.isSame(pid, options.startTime))
  const leaderRuns = Option.isSome(yield* Processes.startTime(pid))
  // Another program under a reused pid: not ours, never signal it. A gone leader with a live group is ours
  // (the kernel does not reuse a pid while it names a group).
  if (leaderRuns && !leaderOurs) return Option.none<ProcessMachine>()
  if (!leaderRuns && !(yield* Processes.groupAlive(pid))) return Option.none<ProcessMachine>()
  const alive = Effect.gen(function*() {
    const leader = yield* Processes.isSame(pid, options.startTime)
    return leader || (yield* Processes.groupAlive(pid))
  })
  const pollMs = Math.max(50, (options.pollMs ?? 100) * 2)
  const sandbox: Sandbox = {
    dir: options.dir,
    home: join(options.dir, "home"),
    tmp: join(options.dir, "tmp"),
    work: join(options.dir, "work"),
    logFile: join(options.dir, "output.log")
  }
  const logMaxBytes = options.logMaxBytes ?? LogBuffer.defaultMaxBytes
  const size = yield* Effect.promise(() =>
    open(sandbox.logFile, "r").then(
      (h) => h.stat().then((s) => h.close().then(() => s.size)),
      () => 0
    )
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
