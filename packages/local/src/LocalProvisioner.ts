/**
 * `MachineProvisioner` that runs each task's machine as a child process on this host (`ProcessMachine`): the Porter
 * runner by default, in a private temporary directory with its own `HOME` and `TMPDIR`, with only the machine
 * environment plus a minimal `PATH`, in its own process group, stopped (SIGTERM, then SIGKILL after a grace
 * period) on `destroy` or when `spec.deadlineAt` passes, its directory removed afterwards. Its output is kept in a
 * bounded buffer (`logs`) and published as it comes (`output`).
 *
 * Machines are tracked in memory. With a `stateDir` they are also recorded on disk, so a host that restarts lists
 * and destroys the machines its predecessor left running (matched by pid *and* process start time, so a reused
 * pid is never signalled). When the layer closes, its machines are stopped, unless `keepRunningOnShutdown`. A
 * state directory that cannot be read or written fails only what needs it: adoption waits for the next look, and a
 * record that cannot be removed is found gone later — each said in a warning.
 *
 * Files (machine directories, output, the state directory) go through effect's `FileSystem`: `make` needs one,
 * `layer` provides Node's.
 *
 * States: `started` while the process runs, `stopping` while it is being stopped, `destroying` during `destroy`;
 * after the process ended `destroyed` (like Fly's auto-destroy and Docker's auto-remove), or `stopped` with
 * `autoDestroy: false`. Ended machines stay visible to `get` and `logs` for `retainMs`.
 *
 * What it cannot do: isolate a machine from the host beyond its directory and environment — it runs as the host's
 * user, with the host's filesystem, network and CPU. Use the Docker provisioner for isolation. `spec.image`,
 * `spec.guest` and `spec.region` are ignored. Unix only.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Errors, Ids, MachineProvisioner } from "@porter/core"
import {
  Clock,
  Config,
  Context,
  Effect,
  Exit,
  FiberSet,
  FileSystem,
  Layer,
  Option,
  PubSub,
  Scope,
  Semaphore,
  Stream
} from "effect"
import { tmpdir } from "node:os"
import { basename, dirname, isAbsolute, resolve } from "node:path"
import { type AdoptionContext, adoptOne, stateWarning } from "./Adoption.ts"
import { config, type LocalOptions } from "./LocalConfig.ts"
import type * as LogBuffer from "./LogBuffer.ts"
import { type Entry, newMachineId, toMachine as machineOf } from "./MachineEntry.ts"
import * as ProcessMachine from "./ProcessMachine.ts"
import * as RunnerCommand from "./RunnerCommand.ts"
import * as StateDir from "./StateDir.ts"

export { config, type LocalOptions, parseCommand } from "./LocalConfig.ts"

/** A line a machine wrote (stdout and stderr interleaved). */
export interface OutputLine extends LogBuffer.OutputLine {
  readonly machineId: Ids.MachineId
  readonly taskId?: string | undefined
}

/** What the host knows of a machine beyond `Machine`. */
export interface Details {
  readonly machine: MachineProvisioner.Machine
  readonly pid: number
  readonly dir: string
  /** Found running by this host after an earlier one started it. */
  readonly adopted: boolean
  readonly exit: Option.Option<ProcessMachine.ExitInfo>
}

type Provisioner = MachineProvisioner.MachineProvisioner["Service"]

/** The local-process provisioner with its extras. Its layer provides `MachineProvisioner` too. */
export class LocalProvisioner extends Context.Service<
  LocalProvisioner,
  Provisioner & {
    /** The output a machine wrote, oldest first, within the buffer's budget. */
    readonly logs: (id: Ids.MachineId) => Effect.Effect<ReadonlyArray<LogBuffer.OutputLine>, Errors.MachineNotFound>
    /** Every machine's output as it comes (from subscription on; a slow reader loses the oldest lines). */
    readonly output: Stream.Stream<OutputLine>
    /** Waits until the machine's process ended. */
    readonly wait: (id: Ids.MachineId) => Effect.Effect<ProcessMachine.ExitInfo, Errors.MachineNotFound>
    /** Stops the process (SIGTERM, then SIGKILL); the machine stays known until destroyed or forgotten. */
    readonly stop: (id: Ids.MachineId) => Effect.Effect<void, Errors.MachineNotFound>
    readonly details: (id: Ids.MachineId) => Effect.Effect<Details, Errors.MachineNotFound>
  }
>()("@porter/local/LocalProvisioner") {}

const provisionError = (reason: Errors.ProvisionFailure, message: string, cause?: unknown) =>
  new Errors.ProvisionError({ reason, message, ...(cause !== undefined ? { cause } : {}) })

/** The local provisioner: one sandboxed child process per task, recorded in `stateDir` when given. */
export const make = (
  options: LocalOptions = {}
): Effect.Effect<LocalProvisioner["Service"], Errors.ProvisionError, Scope.Scope | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const layerScope = yield* Effect.scope
    const fs = yield* FileSystem.FileSystem
    const withFs = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, FileSystem.FileSystem, fs)
    const retainMs = options.retainMs ?? 10 * 60_000
    const autoDestroy = options.autoDestroy ?? true
    const entries = new Map<string, Entry>()
    const watchers = yield* FiberSet.make()
    const outputs = yield* PubSub.sliding<OutputLine>(4096)
    const adoption = yield* Semaphore.make(1)
    const hostId = newMachineId().replace("local_", "host_")
    const state = options.stateDir === undefined ? undefined : yield* StateDir.make(options.stateDir, hostId).pipe(
      Effect.mapError((error) => provisionError("bad_config", `${error.message}; check PORTER_LOCAL_STATE_DIR`, error))
    )

    let command: ReadonlyArray<string> | undefined = options.command
    const resolveCommand = Effect.gen(function*() {
      if (command !== undefined) return command
      const found = yield* withFs(RunnerCommand.find()).pipe(
        Effect.mapError((error) =>
          provisionError(
            "bad_config",
            `could not look for the Porter runner (${error.message}); ${RunnerCommand.notFoundMessage}`,
            error
          )
        )
      )
      if (Option.isNone(found)) return yield* provisionError("bad_config", RunnerCommand.notFoundMessage)
      command = found.value
      return command
    })

    const processOptions = (machineId: Ids.MachineId, taskId: string | undefined, deadlineAt: number | undefined) => ({
      graceMs: options.graceMs,
      logMaxBytes: options.logMaxBytes,
      pollMs: options.pollMs,
      deadlineAt,
      keepRunningOnClose: options.keepRunningOnShutdown,
      onLine: (line: LogBuffer.OutputLine) =>
        PubSub.publish(outputs, { ...line, machineId, taskId }).pipe(Effect.asVoid)
    })

    const toMachine = (entry: Entry) => machineOf(entry, autoDestroy)

    /** After the process ended: forget its record, and its entry after `retainMs`. */
    const watch = (entry: Entry) =>
      Effect.gen(function*() {
        const exit = yield* entry.proc.exited
        if (state) {
          yield* state.remove(entry.id).pipe(
            Effect.catch(
              stateWarning("an ended machine's record stays; the next look finds it gone", { machineId: entry.id })
            )
          )
        }
        if (entry.forgetAt === undefined && (autoDestroy || entry.destroying)) entry.forgetAt = exit.at + retainMs
        yield* Effect.logInfo("local machine ended", {
          machineId: entry.id,
          taskId: entry.taskId,
          code: exit.code,
          signal: exit.signal,
          reason: exit.reason
        })
      })

    const track = (entry: Entry) =>
      Effect.gen(function*() {
        entries.set(entry.id, entry)
        yield* FiberSet.run(watchers, watch(entry))
      })

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const entry of [...entries.values()]) {
        if (entry.forgetAt !== undefined && entry.forgetAt <= now) {
          entries.delete(entry.id)
          yield* Scope.close(entry.scope, Exit.void)
        }
      }
    })

    /** Takes over the machines of hosts that are gone; cleans up after those that ended meanwhile. */
    const adoptOrphans = adoption.withPermit(Effect.gen(function*() {
      if (state === undefined) return
      const records = yield* state.machines.pipe(
        Effect.catch((error) =>
          Effect.as(stateWarning("could not list earlier hosts' machines; none adopted this time")(error), [])
        )
      )
      const adopting: AdoptionContext = {
        fs,
        state,
        hostId,
        isKnown: (id) => entries.has(id),
        track,
        processOptions,
        isOurDirectory
      }
      for (const record of records) yield* adoptOne(adopting, record)
    }))

    const tmpRoot = options.tmpRoot
    const prefix = "porter-machine-"
    // A record names a directory to delete: only ever one this provisioner could have made.
    const isOurDirectory = (dir: string) =>
      isAbsolute(dir) && basename(dir).startsWith(prefix) && dirname(dir) === resolve(tmpRoot ?? tmpdir())

    const refresh = Effect.andThen(sweep, adoptOrphans)

    const entryOf = (id: Ids.MachineId) =>
      Effect.gen(function*() {
        yield* refresh
        const entry = entries.get(id)
        if (entry === undefined) return yield* new Errors.MachineNotFound({ machineId: id })
        return entry
      })

    const create = Effect.fn("LocalProvisioner.create")(function*(spec: MachineProvisioner.MachineSpec) {
      yield* Effect.annotateCurrentSpan({ taskId: spec.taskId })
      const argv = yield* resolveCommand
      const id = newMachineId()
      const scope = yield* Scope.make()
      const proc = yield* ProcessMachine.start({
        command: argv,
        env: spec.env,
        secretEnv: spec.secretEnv,
        path: options.path,
        root: tmpRoot,
        prefix,
        ...processOptions(id, spec.taskId, spec.deadlineAt)
      }).pipe(
        withFs,
        Scope.provide(scope),
        Effect.tapError(() => Scope.close(scope, Exit.void)),
        Effect.mapError((error) =>
          provisionError(
            "bad_config",
            error.reason === "command"
              ? `${error.message}; set the local provisioner's command (PORTER_LOCAL_COMMAND)`
              : `${error.message}; set PORTER_LOCAL_TMPDIR to a writable directory`,
            error
          )
        )
      )
      const createdAt = yield* Clock.currentTimeMillis
      if (state) {
        const record = new StateDir.MachineRecord({
          id,
          taskId: spec.taskId,
          pid: proc.pid,
          startTime: proc.startTime,
          dir: proc.sandbox.dir,
          createdAt,
          host: hostId,
          ...(spec.deadlineAt !== undefined ? { deadlineAt: spec.deadlineAt } : {})
        })
        yield* state.put(record).pipe(
          Effect.catch((error) =>
            Effect.andThen(
              Scope.close(scope, Exit.void),
              Effect.fail(provisionError("bad_config", `${error.message}; check PORTER_LOCAL_STATE_DIR`, error))
            )
          )
        )
      }
      const entry: Entry = { id, taskId: spec.taskId, createdAt, proc, scope, destroying: false, forgetAt: undefined }
      yield* track(entry)
      yield* Effect.logInfo("local machine started", { machineId: id, taskId: spec.taskId, pid: proc.pid })
      return yield* toMachine(entry)
    })

    const get = Effect.fn("LocalProvisioner.get")(function*(id: Ids.MachineId) {
      return yield* toMachine(yield* entryOf(id))
    })

    const live = Effect.gen(function*() {
      yield* refresh
      const machines: Array<MachineProvisioner.Machine> = []
      for (const entry of entries.values()) machines.push(yield* toMachine(entry))
      return MachineProvisioner.liveOldestFirst(machines)
    })

    const list = Effect.fn("LocalProvisioner.list")(function*() {
      return yield* live
    })

    const findByTask = Effect.fn("LocalProvisioner.findByTask")(function*(taskId: Ids.TaskId) {
      return Option.fromNullishOr((yield* live).find((m) => m.taskId === taskId))
    })

    const destroy = Effect.fn("LocalProvisioner.destroy")(function*(id: Ids.MachineId) {
      yield* refresh
      const entry = entries.get(id)
      if (entry === undefined) return
      entry.destroying = true
      const exit = yield* entry.proc.stop({ reason: "stopped" })
      if (state) {
        yield* state.remove(id).pipe(
          Effect.catch(
            stateWarning("a destroyed machine's record stays; the next look finds it gone", { machineId: id })
          )
        )
      }
      entry.forgetAt ??= exit.at + retainMs
      yield* Effect.logInfo("local machine destroyed", { machineId: id, taskId: entry.taskId })
    })

    const stop = Effect.fn("LocalProvisioner.stop")(function*(id: Ids.MachineId) {
      yield* (yield* entryOf(id)).proc.stop({ reason: "stopped" })
    })

    const wait = Effect.fn("LocalProvisioner.wait")(function*(id: Ids.MachineId) {
      return yield* (yield* entryOf(id)).proc.exited
    })

    const logs = Effect.fn("LocalProvisioner.logs")(function*(id: Ids.MachineId) {
      return yield* (yield* entryOf(id)).proc.logs
    })

    const details = Effect.fn("LocalProvisioner.details")(function*(id: Ids.MachineId) {
      const entry = yield* entryOf(id)
      const status = yield* entry.proc.status
      return {
        machine: yield* toMachine(entry),
        pid: entry.proc.pid,
        dir: entry.proc.sandbox.dir,
        adopted: entry.proc.adopted,
        exit: status._tag === "Exited" ? Option.some(status.exit) : Option.none()
      } satisfies Details
    })

    // Runs before the watchers are interrupted (finalizers run in reverse order).
    yield* Scope.addFinalizer(
      layerScope,
      Effect.gen(function*() {
        const all = [...entries.values()]
        if (options.keepRunningOnShutdown) yield* Effect.forEach(all, (entry) => entry.proc.detach, { discard: true })
        else {yield* Effect.forEach(all, (entry) => entry.proc.stop({ reason: "shutdown" }), {
            concurrency: "unbounded",
            discard: true
          })}
        yield* Effect.forEach(all, (entry) => Scope.close(entry.scope, Exit.void), { discard: true })
        if (state) {
          yield* state.release.pipe(
            Effect.catch(stateWarning("this host's record stays; the next host finds it not running and forgets it"))
          )
        }
      })
    )

    yield* adoptOrphans

    return LocalProvisioner.of({
      create,
      get,
      findByTask,
      list,
      destroy,
      stop,
      wait,
      logs,
      details,
      output: Stream.fromPubSub(outputs)
    })
  })

/**
 * The provisioner and `MachineProvisioner`, on Node's file system; machines are stopped when the layer closes (see
 * `keepRunningOnShutdown`).
 */
export const layer = (
  options: LocalOptions = {}
): Layer.Layer<LocalProvisioner | MachineProvisioner.MachineProvisioner, Errors.ProvisionError> =>
  Layer.effectContext(
    Effect.map(make(options), (service) =>
      Context.make(LocalProvisioner, service).pipe(Context.add(MachineProvisioner.MachineProvisioner, service)))
  ).pipe(Layer.provide(NodeFileSystem.layer))

/** The local provisioner from configuration (`PORTER_LOCAL_*`). */
export const layerConfig: Layer.Layer<
  LocalProvisioner | MachineProvisioner.MachineProvisioner,
  Config.ConfigError | Errors.ProvisionError
> = Layer.unwrap(Effect.map(config, layer))
