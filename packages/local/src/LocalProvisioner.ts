/**
 * `MachineProvisioner` that runs each task's machine as a child process on this host (`ProcessMachine`): the Porter
 * runner by default, in a private temporary directory with its own `HOME` and `TMPDIR`, with only the machine
 * environment plus a minimal `PATH`, in its own process group, stopped (SIGTERM, then SIGKILL after a grace
 * period) on `destroy` or when `spec.deadlineAt` passes, its directory removed afterwards. Its output is kept in a
 * bounded buffer (`logs`) and published as it comes (`output`).
 *
 * Machines are tracked in memory. With a `stateDir` they are also recorded on disk, so a host that restarts lists
 * and destroys the machines its predecessor left running (matched by pid *and* process start time, so a reused
 * pid is never signalled). When the layer closes, its machines are stopped, unless `keepRunningOnShutdown`.
 *
 * States: `started` while the process runs, `stopping` while it is being stopped, `destroying` during `destroy`;
 * after the process ended `destroyed` (like Fly's auto-destroy and Docker's auto-remove), or `stopped` with
 * `autoDestroy: false`. Ended machines stay visible to `get` and `logs` for `retainMs`.
 *
 * What it cannot do: isolate a machine from the host beyond its directory and environment — it runs as the host's
 * user, with the host's filesystem, network and CPU. Use the Docker provisioner for isolation. `spec.image`,
 * `spec.guest` and `spec.region` are ignored. Unix only.
 */
import { tmpdir } from "node:os"
import { basename, dirname, isAbsolute, resolve } from "node:path"
import { Clock, Config, Context, Effect, Exit, FiberSet, Layer, Option, PubSub, Schema, Scope, Semaphore, Stream } from "effect"
import { Errors, Ids, MachineProvisioner } from "@porter/core"
import type * as LogBuffer from "./LogBuffer.ts"
import * as ProcessMachine from "./ProcessMachine.ts"
import * as RunnerCommand from "./RunnerCommand.ts"
import * as StateDir from "./StateDir.ts"

export interface LocalOptions {
  /** Program and arguments of every machine; default the Porter runner (`RunnerCommand.find`). */
  readonly command?: ReadonlyArray<string> | undefined
  /** Records machines on disk so a restarted host can find them (see the module doc). Default: memory only. */
  readonly stateDir?: string | undefined
  /** Where machine directories are made; default the OS temp directory. */
  readonly tmpRoot?: string | undefined
  /** `PATH` of machines whose environment has none; default `ProcessMachine.defaultPath()`. */
  readonly path?: string | undefined
  /** Time between SIGTERM and SIGKILL; default 5 s. */
  readonly graceMs?: number | undefined
  /** Output kept in memory per machine; default 256 KiB. */
  readonly logMaxBytes?: number | undefined
  /** How long ended machines stay visible to `get`/`logs`; default 10 min. */
  readonly retainMs?: number | undefined
  /** An ended process makes its machine `destroyed` (default) rather than `stopped`. */
  readonly autoDestroy?: boolean | undefined
  /** When the layer closes, leave machines running (to be adopted through `stateDir`); default false. */
  readonly keepRunningOnShutdown?: boolean | undefined
  /** How often output is read; default 100 ms. */
  readonly pollMs?: number | undefined
}

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
export class LocalProvisioner extends Context.Service<LocalProvisioner, Provisioner & {
  /** The output a machine wrote, oldest first, within the buffer's budget. */
  readonly logs: (id: Ids.MachineId) => Effect.Effect<ReadonlyArray<LogBuffer.OutputLine>, Errors.MachineNotFound>
  /** Every machine's output as it comes (from subscription on; a slow reader loses the oldest lines). */
  readonly output: Stream.Stream<OutputLine>
  /** Waits until the machine's process ended. */
  readonly wait: (id: Ids.MachineId) => Effect.Effect<ProcessMachine.ExitInfo, Errors.MachineNotFound>
  /** Stops the process (SIGTERM, then SIGKILL); the machine stays known until destroyed or forgotten. */
  readonly stop: (id: Ids.MachineId) => Effect.Effect<void, Errors.MachineNotFound>
  readonly details: (id: Ids.MachineId) => Effect.Effect<Details, Errors.MachineNotFound>
}>()("@porter/local/LocalProvisioner") {}

interface Entry {
  readonly id: Ids.MachineId
  readonly taskId: string | undefined
  readonly createdAt: number
  readonly proc: ProcessMachine.ProcessMachine
  readonly scope: Scope.Closeable
  /** Set by `destroy`: the machine is being, or has been, destroyed. */
  destroying: boolean
  /** Set once nothing of it runs and it is to be forgotten at `forgetAt`. */
  forgetAt: number | undefined
}

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

const newMachineId = (): Ids.MachineId => {
  let out = "local_"
  for (const byte of Ids.randomBytes(16)) out += ALPHABET[byte & 31]
  return out as Ids.MachineId
}

const provisionError = (reason: Errors.ProvisionFailure, message: string, cause?: unknown) =>
  new Errors.ProvisionError({ reason, message, ...(cause !== undefined ? { cause } : {}) })

export const make = (options: LocalOptions = {}): Effect.Effect<LocalProvisioner["Service"], Errors.ProvisionError, Scope.Scope> =>
  Effect.gen(function*() {
    const layerScope = yield* Effect.scope
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
      const found = yield* RunnerCommand.find()
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
      onLine: (line: LogBuffer.OutputLine) => PubSub.publish(outputs, { ...line, machineId, taskId }).pipe(Effect.asVoid)
    })

    const stateOf = (entry: Entry): Effect.Effect<MachineProvisioner.MachineState> =>
      Effect.map(entry.proc.status, (status) => {
        if (entry.destroying) return entry.forgetAt === undefined ? "destroying" : "destroyed"
        switch (status._tag) {
          case "Running":
            return "started"
          case "Stopping":
            return "stopping"
          case "Exited":
            return autoDestroy ? "destroyed" : "stopped"
        }
      })

    const toMachine = (entry: Entry) =>
      Effect.map(stateOf(entry), (machineState) =>
        new MachineProvisioner.Machine({
          id: entry.id,
          state: machineState,
          createdAt: entry.createdAt,
          ...(entry.taskId !== undefined ? { taskId: entry.taskId } : {})
        }))

    /** After the process ended: forget its record, and its entry after `retainMs`. */
    const watch = (entry: Entry) =>
      Effect.gen(function*() {
        const exit = yield* entry.proc.exited
        if (state) yield* state.remove(entry.id)
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
      for (const record of yield* state.machines) {
        if (entries.has(record.id) || (yield* state.hostRunning(record.host))) continue
        const scope = yield* Scope.make()
        const proc = yield* ProcessMachine.adopt({
          pid: record.pid,
          startTime: record.startTime,
          dir: record.dir,
          ...processOptions(record.id as Ids.MachineId, record.taskId, record.deadlineAt)
        }).pipe(Scope.provide(scope))
        if (Option.isNone(proc)) {
          yield* Scope.close(scope, Exit.void)
          if (isOurDirectory(record.dir)) yield* ProcessMachine.removeSandbox(record.dir)
          yield* state.remove(record.id)
          continue
        }
        yield* state.put(new StateDir.MachineRecord({ ...record, host: hostId })).pipe(Effect.ignore)
        yield* track({
          id: record.id as Ids.MachineId,
          taskId: record.taskId,
          createdAt: record.createdAt,
          proc: proc.value,
          scope,
          destroying: false,
          forgetAt: undefined
        })
        yield* Effect.logInfo("adopted a local machine left by an earlier host", {
          machineId: record.id,
          taskId: record.taskId,
          pid: record.pid
        })
      }
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
      for (const entry of entries.values()) {
        const machine = yield* toMachine(entry)
        if (!MachineProvisioner.isGone(machine.state)) machines.push(machine)
      }
      return machines.sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0))
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
      if (state) yield* state.remove(id)
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
        else yield* Effect.forEach(all, (entry) => entry.proc.stop({ reason: "shutdown" }), { concurrency: "unbounded", discard: true })
        yield* Effect.forEach(all, (entry) => Scope.close(entry.scope, Exit.void), { discard: true })
        if (state) yield* state.release
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

/** The provisioner and `MachineProvisioner`; machines are stopped when the layer closes (see `keepRunningOnShutdown`). */
export const layer = (
  options: LocalOptions = {}
): Layer.Layer<LocalProvisioner | MachineProvisioner.MachineProvisioner, Errors.ProvisionError> =>
  Layer.effectContext(
    Effect.map(make(options), (service) =>
      Context.make(LocalProvisioner, service).pipe(Context.add(MachineProvisioner.MachineProvisioner, service)))
  )

/** A command from configuration: a JSON array of strings, or words separated by spaces. */
export const parseCommand = (text: string): Option.Option<ReadonlyArray<string>> => {
  const trimmed = text.trim()
  if (trimmed === "") return Option.none()
  if (trimmed.startsWith("[")) {
    return Option.filter(
      Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Array(Schema.String)))(trimmed),
      (argv) => argv.length > 0 && argv[0] !== ""
    )
  }
  return Option.some(trimmed.split(/\s+/))
}

/** `PORTER_LOCAL_COMMAND`: a JSON array of strings, or words separated by spaces. */
const CommandText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    Option.isSome(parseCommand(text)) || "expected a JSON array of strings or words separated by spaces"
  )
)

/**
 * `PORTER_LOCAL_COMMAND` (a JSON array, or words separated by spaces), `PORTER_LOCAL_STATE_DIR`,
 * `PORTER_LOCAL_TMPDIR`, `PORTER_LOCAL_PATH`, `PORTER_LOCAL_GRACE_MS`; all optional.
 */
export const config: Config.Config<LocalOptions> = Config.all({
  command: Config.option(Config.schema(CommandText, "PORTER_LOCAL_COMMAND")),
  stateDir: Config.option(Config.String("PORTER_LOCAL_STATE_DIR")),
  tmpRoot: Config.option(Config.String("PORTER_LOCAL_TMPDIR")),
  path: Config.option(Config.String("PORTER_LOCAL_PATH")),
  graceMs: Config.option(Config.Int("PORTER_LOCAL_GRACE_MS"))
}).pipe(
  Config.map((c) => ({
    command: Option.getOrUndefined(Option.flatMap(c.command, parseCommand)),
    stateDir: Option.getOrUndefined(c.stateDir),
    tmpRoot: Option.getOrUndefined(c.tmpRoot),
    path: Option.getOrUndefined(c.path),
    graceMs: Option.getOrUndefined(c.graceMs)
  }))
)

export const layerConfig: Layer.Layer<
  LocalProvisioner | MachineProvisioner.MachineProvisioner,
  Config.ConfigError | Errors.ProvisionError
> = Layer.unwrap(Effect.map(config, layer))
