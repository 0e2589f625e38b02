/**
 * Operating-system process facts and signals, for supervising process groups: a process's start time (so a pid
 * that was reused by another program is never mistaken for ours), whether it or its group still runs, and
 * signalling a whole group.
 *
 * Linux reads `/proc` through effect's `FileSystem` (zombies count as gone); other Unix systems use `ps` and
 * `kill(pid, 0)`, where a zombie still counts as running. Windows is not supported (no process groups to signal).
 */
import { Clock, Effect, FileSystem, Option, type PlatformError } from "effect"
import { execFile } from "node:child_process"

/** A signal a machine's process group can be sent. */
export type Signal = "SIGTERM" | "SIGKILL" | "SIGINT" | "SIGHUP" | "SIGQUIT" | "SIGUSR1" | "SIGUSR2"

const linux = process.platform === "linux"

interface ProcStat {
  readonly state: string
  readonly pgrp: number
  readonly startTime: string
}

/** Fields of `/proc/<pid>/stat` after the command name (which may contain spaces and parentheses). */
const parseStat = (text: string): ProcStat | undefined => {
  const close = text.lastIndexOf(")")
  if (close < 0) return undefined
  const fields = text.slice(close + 2).split(" ")
  // fields[0] is field 3 (state); pgrp is field 5; starttime is field 22.
  const state = fields[0]
  const pgrp = Number(fields[2])
  const startTime = fields[19]
  if (state === undefined || startTime === undefined || !Number.isFinite(pgrp)) return undefined
  return { state, pgrp, startTime }
}

/**
 * `/proc/<pid>/stat`, or `undefined` when there is no such process to read: it is gone (no file, or it ended while
 * being read) or hidden from this user by `/proc`'s `hidepid` — then it is not one this host started, since
 * machines run as the host's user. Other failures (out of file descriptors, …) are errors.
 */
const readStat = (
  pid: number
): Effect.Effect<ProcStat | undefined, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return yield* fs.readFileString(`/proc/${pid}/stat`).pipe(
      Effect.map(parseStat),
      Effect.catchTag("PlatformError", (error) => (notThere(error) ? Effect.succeed(undefined) : Effect.fail(error)))
    )
  })

const notThere = (error: PlatformError.PlatformError): boolean =>
  error.reason._tag === "NotFound" || error.reason._tag === "PermissionDenied" ||
  (error.reason._tag === "Unknown" && (error.reason.cause as NodeJS.ErrnoException | undefined)?.code === "ESRCH")

/** `ps`'s start date of a process; `undefined` when `ps` knows no such process (it exits non-zero) or fails. */
const psStartTime = (pid: number): Effect.Effect<string | undefined> =>
  Effect.callback<string | undefined>((resume) => {
    execFile(
      "ps",
      ["-o", "lstart=", "-p", String(pid)],
      { env: { PATH: "/bin:/usr/bin", LC_ALL: "C" } },
      (error, out) => {
        const text = String(out).trim()
        // `ps -p` exits 1 when the process does not exist; whatever else went wrong, there is no date to compare.
        resume(Effect.succeed(error || text === "" ? undefined : text))
      }
    )
  })

const signal0 = (target: number): boolean => {
  try {
    process.kill(target, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * The start time of a running process, as an opaque string that changes when the pid is reused (clock ticks
 * since boot on Linux, `ps`'s start date elsewhere). `None` when nothing of ours runs under that pid.
 */
export const startTime = (
  pid: number
): Effect.Effect<Option.Option<string>, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.suspend(() => {
    if (!Number.isInteger(pid) || pid <= 0) return Effect.succeedNone
    if (linux) {
      return Effect.map(readStat(pid), (stat) =>
        stat === undefined || stat.state === "Z" || stat.state === "X" ? Option.none() : Option.some(stat.startTime))
    }
    return signal0(pid) ? Effect.map(psStartTime(pid), Option.fromNullishOr) : Effect.succeedNone
  })

/** The process runs and is the one that started at `expected`. */
export const isSame = (
  pid: number,
  expected: string
): Effect.Effect<boolean, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.map(startTime(pid), (current) => Option.isSome(current) && current.value === expected)

/**
 * Live (non-zombie) members of a process group. Off Linux, and on Linux when `/proc` cannot be read: whether any
 * member exists (`kill(-pgid, 0)`; a zombie counts), which errs on the side of "still running".
 */
export const groupAlive = (pgid: number): Effect.Effect<boolean, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (!Number.isInteger(pgid) || pgid <= 1) return false
    if (!signal0(-pgid)) return false
    if (!linux) return true
    const fs = yield* FileSystem.FileSystem
    const members = Effect.gen(function*() {
      for (const entry of yield* fs.readDirectory("/proc")) {
        if (!/^\d+$/.test(entry)) continue
        const stat = yield* readStat(Number(entry))
        if (stat !== undefined && stat.pgrp === pgid && stat.state !== "Z" && stat.state !== "X") return true
      }
      return false
    })
    return yield* members.pipe(
      Effect.catchTag("PlatformError", (error) =>
        Effect.as(
          Effect.logDebug("cannot read /proc; a process group counts as alive while kill(0) finds it", {
            pgid,
            error: error.message
          }),
          true
        ))
    )
  })

/** `signalGroup`, outside Effect. */
export const signalGroupUnsafe = (pgid: number, signal: Signal): void => {
  // Never signal our own group or init's: a bad record must not take the host down.
  if (!Number.isInteger(pgid) || pgid <= 1 || pgid === process.pid) return
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: already gone.
  }
}

/** Sends a signal to every process of a group; a group that is gone is fine. */
export const signalGroup = (pgid: number, signal: Signal): Effect.Effect<void> =>
  Effect.sync(() => signalGroupUnsafe(pgid, signal))

/** Polls until `check` is false or `timeoutMs` passed; true when it became false. */
export const waitUntilGone = <R>(
  check: Effect.Effect<boolean, never, R>,
  timeoutMs: number,
  pollMs = 50
): Effect.Effect<boolean, never, R> =>
  Effect.gen(function*() {
    const until = (yield* Clock.currentTimeMillis) + timeoutMs
    for (;;) {
      if (!(yield* check)) return true
      if ((yield* Clock.currentTimeMillis) >= until) return false
      yield* Effect.sleep(pollMs)
    }
  })

/**
 * SIGTERM to the group, SIGKILL to what is left after `graceMs`, then a bounded wait for the group to vanish.
 * Returns whether it is gone.
 */
export const terminateGroup = (pgid: number, graceMs: number): Effect.Effect<boolean, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const alive = groupAlive(pgid)
    if (!(yield* alive)) return true
    yield* signalGroup(pgid, "SIGTERM")
    if (yield* waitUntilGone(alive, graceMs)) return true
    yield* signalGroup(pgid, "SIGKILL")
    return yield* waitUntilGone(alive, 5_000)
  })
