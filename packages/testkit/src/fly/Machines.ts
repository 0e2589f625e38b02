/**
 * The machines of the local machines server and their lifecycle: each machine's record (config, state, event log,
 * output), state changes with Fly's events (`created → starting → started → stopping → stopped → destroyed`, or
 * `failed`), launching on the runtime (a child process or a Docker container) with Fly's `FLY_*` variables, stopping,
 * killing and destroying, and the view tests read. A process that exits stops its machine, and `auto_destroy` then
 * destroys it. Launch failures and machines that die come from the fault queues.
 */
import { Deferred, Effect, Exit, Scope } from "effect"
import type { FaultQueues } from "./Faults.ts"
import { ulid } from "./FlyFormats.ts"
import type { Launched, Runtime, Signal } from "./Runtimes.ts"

/** A machine's state, as Fly's Machines API names them. */
export type MachineState =
  | "created"
  | "starting"
  | "started"
  | "stopping"
  | "stopped"
  | "failed"
  | "destroying"
  | "destroyed"

/** An entry of a machine's event log (Fly's `events`). */
export interface MachineEvent {
  readonly id: string
  readonly type: string
  readonly status: string
  readonly source: "user" | "flyd"
  readonly timestamp: number
  readonly request?: Record<string, unknown>
}

/** A machine as tests see it (environment included: this is a test tool). */
export interface MachineView {
  readonly id: string
  readonly name: string
  readonly app: string
  readonly state: MachineState
  readonly region: string
  readonly image: string
  readonly env: Readonly<Record<string, string>>
  readonly metadata: Readonly<Record<string, string>>
  readonly guest: { readonly cpuKind: string; readonly cpus: number; readonly memoryMb: number }
  readonly autoDestroy: boolean
  readonly createdAt: number
  readonly events: ReadonlyArray<MachineEvent>
  /** Exit code of the last run; `null` when it was killed by a signal; absent while it runs. */
  readonly exitCode?: number | null
  readonly pid?: number
  readonly containerId?: string
  readonly stdout: string
  readonly stderr: string
  /** stdout and stderr interleaved as they arrived. */
  readonly output: string
}

/** A machine's output: stdout and stderr (their tails), and both interleaved as they arrived. */
export class LogBuffer {
  private readonly decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() }
  stdout = ""
  stderr = ""
  output = ""
  private readonly limit: number
  constructor(limit: number) {
    this.limit = limit
  }
  append(stream: "stdout" | "stderr", chunk: Uint8Array) {
    this.note(stream, this.decoders[stream].decode(chunk, { stream: true }))
  }
  note(stream: "stdout" | "stderr", text: string) {
    this[stream] = (this[stream] + text).slice(-this.limit)
    this.output = (this.output + text).slice(-this.limit * 2)
  }
}

/** A machine as the server keeps it. */
export interface MachineRecord {
  readonly id: string
  readonly name: string
  readonly app: string
  readonly region: string
  readonly instanceId: string
  readonly privateIp: string
  readonly createdAt: number
  updatedAt: number
  state: MachineState
  /** The config as sent (echoed back like Fly does). */
  readonly rawConfig: Record<string, unknown>
  readonly image: string
  readonly env: Record<string, string>
  readonly metadata: Record<string, string>
  readonly guest: { cpuKind: string; cpus: number; memoryMb: number }
  readonly autoDestroy: boolean
  readonly stopSignal: Signal
  readonly events: Array<MachineEvent>
  readonly log: LogBuffer
  exitCode?: number | null
  launched?: Launched
  scope?: Scope.Closeable
}

/** The server's machines and what happens to them; `root` holds their launches' scopes and background fibers. */
export const makeMachines = (input: {
  readonly root: Scope.Scope
  readonly runtime: Runtime
  readonly queues: FaultQueues
  /** Host variables passed to every machine. */
  readonly inheritEnv: ReadonlyArray<string>
}) => {
  const { queues, root, runtime } = input
  const inherit = input.inheritEnv
  const machines = new Map<string, MachineRecord>()

  // Everyone waiting for any state change wakes on this, then looks again.
  let changed = Deferred.makeUnsafe<void>()
  const notify = () => {
    const previous = changed
    changed = Deferred.makeUnsafe<void>()
    Deferred.doneUnsafe(previous, Exit.void)
  }

  const setState = (
    m: MachineRecord,
    state: MachineState,
    event?: { type: string; source?: "user" | "flyd"; request?: Record<string, unknown> }
  ) => {
    m.state = state
    m.updatedAt = Date.now()
    if (event) {
      m.events.push({
        id: ulid(),
        type: event.type,
        status: state,
        source: event.source ?? "flyd",
        timestamp: m.updatedAt,
        ...(event.request ? { request: event.request } : {})
      })
    }
    notify()
  }

  const view = (m: MachineRecord): MachineView => ({
    id: m.id,
    name: m.name,
    app: m.app,
    state: m.state,
    region: m.region,
    image: m.image,
    env: { ...m.env },
    metadata: { ...m.metadata },
    guest: { ...m.guest },
    autoDestroy: m.autoDestroy,
    createdAt: m.createdAt,
    events: [...m.events],
    ...(m.exitCode !== undefined ? { exitCode: m.exitCode } : {}),
    ...(m.launched?.pid !== undefined ? { pid: m.launched.pid } : {}),
    ...(m.launched?.containerId !== undefined ? { containerId: m.launched.containerId } : {}),
    stdout: m.log.stdout,
    stderr: m.log.stderr,
    output: m.log.output
  })

  /** Ends the machine's process (if any) and forgets it. */
  const release = (m: MachineRecord) =>
    Effect.suspend(() => {
      const scope = m.scope
      m.scope = undefined
      return scope ? Scope.close(scope, Exit.void) : Effect.void
    })

  const destroyMachine = (m: MachineRecord, source: "user" | "flyd") =>
    Effect.gen(function*() {
      if (m.state === "destroying" || m.state === "destroyed") return
      setState(m, "destroying", { type: "destroy", source })
      yield* release(m)
      setState(m, "destroyed", { type: "destroy", source })
    })

  const onExit = (m: MachineRecord, code: number | null) =>
    Effect.gen(function*() {
      if (m.state === "destroying" || m.state === "destroyed") return
      m.exitCode = code
      setState(m, "stopped", {
        type: "exit",
        request: { exit_event: { exit_code: code ?? -1, signal: code === null ? 9 : -1, requested_stop: false } }
      })
      yield* release(m)
      if (m.autoDestroy) yield* destroyMachine(m, "flyd")
    })

  const machineEnv = (m: MachineRecord): Record<string, string> => {
    const env: Record<string, string> = {}
    for (const name of inherit) {
      const value = process.env[name]
      if (value !== undefined) env[name] = value
    }
    Object.assign(env, {
      FLY_APP_NAME: m.app,
      FLY_MACHINE_ID: m.id,
      FLY_ALLOC_ID: m.id,
      FLY_REGION: m.region,
      FLY_IMAGE_REF: m.image,
      FLY_MACHINE_VERSION: m.instanceId,
      FLY_PRIVATE_IP: m.privateIp,
      FLY_VM_MEMORY_MB: String(m.guest.memoryMb)
    })
    return Object.assign(env, m.env)
  }

  const launch = (m: MachineRecord) =>
    Effect.gen(function*() {
      if (queues.launchFailure()) {
        m.log.note("stderr", "[machines-server] launch failed (injected fault)\n")
        setState(m, "failed", { type: "launch" })
        return
      }
      setState(m, "starting", { type: "start", source: "user" })
      const scope = yield* Scope.fork(root)
      m.scope = scope
      const result = yield* Effect.result(runtime.launch({
        machineId: m.id,
        image: m.image,
        env: machineEnv(m),
        memoryMb: m.guest.memoryMb,
        cpus: m.guest.cpus,
        output: (stream, chunk) => m.log.append(stream, chunk)
      }, scope))
      if (result._tag === "Failure") {
        m.log.note("stderr", `[machines-server] ${result.failure}\n`)
        yield* release(m)
        if (m.state === "starting") setState(m, "failed", { type: "launch" })
        return
      }
      const launched = result.success
      m.launched = launched
      if (m.state !== "starting") {
        // Destroyed while it was starting.
        yield* release(m)
        return
      }
      m.exitCode = undefined
      setState(m, "started", { type: "start" })
      const death = queues.death()
      if (death) {
        yield* Effect.forkIn(Effect.andThen(Effect.sleep(death.afterMs), launched.signal("SIGKILL", 0)), root)
      }
      yield* Effect.forkIn(Effect.flatMap(launched.exited, (code) => onExit(m, code)), root)
    })

  const stopMachine = (m: MachineRecord, signal: Signal, graceMs: number) =>
    Effect.gen(function*() {
      if (m.state !== "started" || m.launched === undefined) return
      setState(m, "stopping", { type: "stop", source: "user" })
      yield* Effect.forkIn(m.launched.signal(signal, graceMs), root)
    })

  const kill = (id: string) =>
    Effect.gen(function*() {
      const m = machines.get(id)
      if (m?.launched === undefined || (m.state !== "started" && m.state !== "stopping")) return
      yield* m.launched.signal("SIGKILL", 0)
      // Let the exit be recorded before the caller looks.
      yield* Effect.raceFirst(
        Effect.repeat(Effect.sleep(10), { until: () => m.state !== "started" && m.state !== "stopping" }),
        Effect.sleep(5_000)
      )
    })

  return {
    byId: machines,
    /** Completed at the next state change of any machine (then replaced): what waiters wait on. */
    changed: () => changed,
    setState,
    view,
    launch,
    stopMachine,
    destroyMachine,
    kill
  }
}

/** The server's machines (`makeMachines`). */
export type Machines = ReturnType<typeof makeMachines>
