/**
 * A directory that remembers which machines a host started, so the next host can find the ones that outlived it:
 * `machines/<id>.json` per machine (pid, process start time, directory, task), `hosts/<id>.json` per running host
 * (its own pid and start time). A machine is an orphan when the host that recorded it is no longer running, or
 * shut down without stopping it. Files are written whole (temp file + rename); unreadable files are skipped.
 *
 * Several hosts may share one directory: each leaves the machines of the others alone while those run.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Data, Effect, Option, Schema } from "effect"
import * as Processes from "./Processes.ts"

export class MachineRecord extends Schema.Class<MachineRecord>("@porter/local/MachineRecord")({
  id: Schema.String,
  taskId: Schema.optional(Schema.String),
  pid: Schema.Int,
  startTime: Schema.String,
  dir: Schema.String,
  createdAt: Schema.Number,
  deadlineAt: Schema.optional(Schema.Number),
  /** The host that supervises it. */
  host: Schema.String
}) {}

export class HostRecord extends Schema.Class<HostRecord>("@porter/local/HostRecord")({
  id: Schema.String,
  pid: Schema.Int,
  startTime: Schema.String
}) {}

export class StateDirError extends Data.TaggedError("StateDirError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export interface StateDir {
  readonly dir: string
  /** This host's id. */
  readonly hostId: string
  readonly put: (record: MachineRecord) => Effect.Effect<void, StateDirError>
  readonly remove: (id: string) => Effect.Effect<void>
  readonly machines: Effect.Effect<ReadonlyArray<MachineRecord>>
  /** A host with this id is running now (this one included). */
  readonly hostRunning: (hostId: string) => Effect.Effect<boolean>
  /** Forgets this host: its machines become orphans for the next host. */
  readonly release: Effect.Effect<void>
}

const safeName = /^[\w.-]{1,128}$/

const decodeMachine = Schema.decodeUnknownOption(Schema.fromJsonString(MachineRecord))
const decodeHost = Schema.decodeUnknownOption(Schema.fromJsonString(HostRecord))
const encodeMachine = Schema.encodeSync(Schema.fromJsonString(MachineRecord))
const encodeHost = Schema.encodeSync(Schema.fromJsonString(HostRecord))

const writeWhole = async (file: string, text: string) => {
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`
  await writeFile(temp, text, { mode: 0o600 })
  await rename(temp, file)
}

const readAll = async <A>(dir: string, decode: (text: string) => Option.Option<A>): Promise<ReadonlyArray<A>> => {
  const names = await readdir(dir).catch(() => [] as Array<string>)
  const out: Array<A> = []
  for (const name of names) {
    if (!name.endsWith(".json")) continue
    const text = await readFile(join(dir, name), "utf8").catch(() => undefined)
    if (text === undefined) continue
    const decoded = decode(text)
    if (Option.isSome(decoded)) out.push(decoded.value)
  }
  return out
}

/** Opens (creating it if needed) a state directory and registers this host in it. */
export const make = (dir: string, hostId: string): Effect.Effect<StateDir, StateDirError> =>
  Effect.gen(function*() {
    const machinesDir = join(dir, "machines")
    const hostsDir = join(dir, "hosts")
    const fail = (what: string) => (cause: unknown) =>
      new StateDirError({ message: `could not ${what} in the state directory ${dir}: ${String(cause)}`, cause })
    yield* Effect.tryPromise({
      try: () => Promise.all([mkdir(machinesDir, { recursive: true, mode: 0o700 }), mkdir(hostsDir, { recursive: true, mode: 0o700 })]),
      catch: fail("create folders")
    })
    const startTime = Option.getOrElse(yield* Processes.startTime(process.pid), () => "")
    const self = new HostRecord({ id: hostId, pid: process.pid, startTime })
    yield* Effect.tryPromise({ try: () => writeWhole(join(hostsDir, `${hostId}.json`), encodeHost(self)), catch: fail("register the host") })

    const hostRunning = (id: string) =>
      Effect.gen(function*() {
        if (id === hostId) return true
        if (!safeName.test(id)) return false
        const text = yield* Effect.promise(() => readFile(join(hostsDir, `${id}.json`), "utf8").catch(() => undefined))
        const host = text === undefined ? Option.none() : decodeHost(text)
        if (Option.isNone(host)) return false
        return host.value.startTime !== "" && (yield* Processes.isSame(host.value.pid, host.value.startTime))
      })

    // Hosts that died without releasing their file.
    for (const host of yield* Effect.promise(() => readAll(hostsDir, decodeHost))) {
      if (!(yield* hostRunning(host.id)) && safeName.test(host.id)) {
        yield* Effect.promise(() => rm(join(hostsDir, `${host.id}.json`), { force: true }).catch(() => undefined))
      }
    }

    const fileOf = (id: string) => (safeName.test(id) ? Option.some(join(machinesDir, `${id}.json`)) : Option.none())

    return {
      dir,
      hostId,
      put: (record) =>
        Option.match(fileOf(record.id), {
          onNone: () => Effect.fail(new StateDirError({ message: `machine id ${JSON.stringify(record.id)} cannot name a file` })),
          onSome: (file) => Effect.tryPromise({ try: () => writeWhole(file, encodeMachine(record)), catch: fail("record a machine") })
        }),
      remove: (id) =>
        Option.match(fileOf(id), {
          onNone: () => Effect.void,
          onSome: (file) => Effect.promise(() => rm(file, { force: true }).catch(() => undefined))
        }),
      machines: Effect.promise(() => readAll(machinesDir, decodeMachine)),
      hostRunning,
      release: Effect.promise(() => rm(join(hostsDir, `${hostId}.json`), { force: true }).catch(() => undefined))
    } satisfies StateDir
  })
