/**
 * A directory that remembers which machines a host started, so the next host can find the ones that outlived it:
 * `machines/<id>.json` per machine (pid, process start time, directory, task), `hosts/<id>.json` per running host
 * (its own pid and start time). A machine is an orphan when the host that recorded it is no longer running, or
 * shut down without stopping it. Files are written whole (temp file + rename) through effect's `FileSystem`;
 * unreadable files are skipped with a warning, files removed meanwhile (by another host) quietly.
 *
 * Several hosts may share one directory: each leaves the machines of the others alone while those run.
 */
import { Data, Effect, FileSystem, Option, type PlatformError, Schema } from "effect"
import { join } from "node:path"
import * as Processes from "./Processes.ts"

/** A machine as the state directory records it: its process, task, directory, deadline and host. */
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

/** A host process that supervises machines (a process id and its start time, so a reused pid is not it). */
export class HostRecord extends Schema.Class<HostRecord>("@porter/local/HostRecord")({
  id: Schema.String,
  pid: Schema.Int,
  startTime: Schema.String
}) {}

/** The state directory could not be read or written. */
export class StateDirError extends Data.TaggedError("StateDirError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The machines and hosts recorded on disk, so a restarted host finds its machines. */
export interface StateDir {
  readonly dir: string
  /** This host's id. */
  readonly hostId: string
  readonly put: (record: MachineRecord) => Effect.Effect<void, StateDirError>
  /** Forgets a machine; one already forgotten is fine. */
  readonly remove: (id: string) => Effect.Effect<void, StateDirError>
  readonly machines: Effect.Effect<ReadonlyArray<MachineRecord>, StateDirError>
  /** A host with this id is running now (this one included). */
  readonly hostRunning: (hostId: string) => Effect.Effect<boolean, StateDirError>
  /** Forgets this host: its machines become orphans for the next host. */
  readonly release: Effect.Effect<void, StateDirError>
}

const safeName = /^[\w.-]{1,128}$/

const decodeMachine = Schema.decodeUnknownOption(Schema.fromJsonString(MachineRecord))
const decodeHost = Schema.decodeUnknownOption(Schema.fromJsonString(HostRecord))
const encodeMachine = Schema.encodeSync(Schema.fromJsonString(MachineRecord))
const encodeHost = Schema.encodeSync(Schema.fromJsonString(HostRecord))

/** Opens (creating it if needed) a state directory and registers this host in it. */
export const make = (dir: string, hostId: string): Effect.Effect<StateDir, StateDirError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const machinesDir = join(dir, "machines")
    const hostsDir = join(dir, "hosts")
    const fail = (what: string) => (cause: PlatformError.PlatformError) =>
      new StateDirError({ message: `could not ${what} in the state directory ${dir}: ${cause.message}`, cause })

    /** Writes `file` whole: a temp file, then a rename over it. */
    const writeWhole = (file: string, text: string) =>
      Effect.gen(function*() {
        const temp = `${file}.${process.pid}.${Date.now()}.tmp`
        yield* fs.writeFileString(temp, text, { mode: 0o600 }).pipe(
          Effect.andThen(fs.rename(temp, file)),
          // Cleanup only: the temp file is this call's own, and the failure reported is the write's.
          Effect.tapError(() => Effect.ignore(fs.remove(temp, { force: true })))
        )
      })

    /** The `.json` files of a folder that decode; files removed since the listing are skipped. */
    const readAll = <A>(folder: string, decode: (text: string) => Option.Option<A>) =>
      Effect.gen(function*() {
        const out: Array<A> = []
        for (const name of yield* fs.readDirectory(folder)) {
          if (!name.endsWith(".json")) continue
          const file = join(folder, name)
          const text = yield* fs.readFileString(file).pipe(
            Effect.map(Option.some),
            Effect.catchTag("PlatformError", (error) =>
              error.reason._tag === "NotFound"
                // Removed since the listing: its machine ended, or its host left.
                ? Effect.succeedNone
                : Effect.as(
                  Effect.logWarning("skipping an unreadable file of the state directory", {
                    file,
                    error: error.message
                  }),
                  Option.none<string>()
                ))
          )
          const decoded = Option.flatMap(text, decode)
          if (Option.isSome(decoded)) out.push(decoded.value)
        }
        return out
      })

    const removeFile = (file: string, what: string) =>
      fs.remove(file, { force: true }).pipe(Effect.mapError(fail(what)))

    yield* Effect.forEach(
      [machinesDir, hostsDir],
      (folder) => fs.makeDirectory(folder, { recursive: true, mode: 0o700 }),
      {
        discard: true
      }
    ).pipe(Effect.mapError(fail("create folders")))
    const startTime = Option.getOrElse(
      yield* Processes.startTime(process.pid).pipe(Effect.mapError(fail("read this host's start time"))),
      () => ""
    )
    const self = new HostRecord({ id: hostId, pid: process.pid, startTime })
    yield* writeWhole(join(hostsDir, `${hostId}.json`), encodeHost(self)).pipe(
      Effect.mapError(fail("register the host"))
    )

    const hostRunning = (id: string) =>
      Effect.gen(function*() {
        if (id === hostId) return true
        if (!safeName.test(id)) return false
        const text = yield* fs.readFileString(join(hostsDir, `${id}.json`)).pipe(
          Effect.map(Option.some),
          // No file: that host released its machines, or was found gone and forgotten.
          Effect.catchTag("PlatformError", (error) =>
            error.reason._tag === "NotFound" ? Effect.succeedNone : Effect.fail(error)),
          Effect.mapError(fail(`read host ${id}`))
        )
        const host = Option.flatMap(text, decodeHost)
        if (Option.isNone(host)) {
          return false
        }
        return host.value.startTime !== "" &&
          (yield* Processes.isSame(host.value.pid, host.value.startTime).pipe(
            Effect.provideService(FileSystem.FileSystem, fs),
            Effect.mapError(fail(`check host ${id}`))
          ))
      })

    // Hosts that died without releasing their file. A host that cannot be checked or forgotten now is left for the
    // next look: its file only says which machines it supervised.
    for (const host of yield* readAll(hostsDir, decodeHost).pipe(Effect.mapError(fail("list the hosts")))) {
      if (!safeName.test(host.id)) continue
      yield* Effect.gen(function*() {
        if (!(yield* hostRunning(host.id))) yield* removeFile(join(hostsDir, `${host.id}.json`), "forget a host")
      }).pipe(Effect.catchTag("StateDirError", (error) => Effect.logWarning(error.message)))
    }

    const fileOf = (id: string) => (safeName.test(id) ? Option.some(join(machinesDir, `${id}.json`)) : Option.none())

    return {
      dir,
      hostId,
      put: (record) =>
        Option.match(fileOf(record.id), {
          onNone: () =>
            Effect.fail(new StateDirError({ message: `machine id ${JSON.stringify(record.id)} cannot name a file` })),
          onSome: (file) => writeWhole(file, encodeMachine(record)).pipe(Effect.mapError(fail("record a machine")))
        }),
      remove: (id) =>
        Option.match(fileOf(id), {
          onNone: () => Effect.void,
          // `force`: a record already removed is fine.
          onSome: (file) => removeFile(file, `forget machine ${id}`)
        }),
      machines: readAll(machinesDir, decodeMachine).pipe(Effect.mapError(fail("list the machines"))),
      hostRunning,
      release: removeFile(join(hostsDir, `${hostId}.json`), "release this host")
    } satisfies StateDir
  })
