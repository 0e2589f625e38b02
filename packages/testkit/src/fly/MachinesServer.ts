/**
 * A local stand-in for the Fly Machines API: the subset Porter uses (apps, create/list/show/wait/stop/start/destroy
 * machines, `metadata.<key>` list filters), on loopback with a port of its own, checking the bearer token like
 * Fly. Each machine runs a configurable command as a child process in its own process group, with only the
 * machine's environment (plus `PATH`/`HOME` and Fly's `FLY_*` runtime variables) — or a Docker container when a
 * Docker daemon socket is configured. States move `created → starting → started → stopped → destroyed` like Fly's;
 * a process that exits stops its machine, and `auto_destroy` then destroys it; destroy kills the process group.
 *
 * Faults for tests (`server.faults`): 429 bursts with `Retry-After`, 5xx, slow answers, a create whose answer is
 * dropped after the machine was made, launch failures, machines that die.
 *
 * It runs on a runtime of its own (real clock), so a test's `TestClock` never freezes machines or answers.
 *
 * Not emulated: leases, volumes, secrets, services/networking, `update`, suspend, the org-wide listing, restart
 * policies other than `no` (a machine is never restarted), resource limits in process mode.
 */
import { NodeHttpServer, NodeHttpServerRequest, NodeServices } from "@effect/platform-node"
import { Deferred, Effect, Exit, ManagedRuntime, Schema, Scope } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import type { HttpServerRequest } from "effect/http"
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { FaultQueues, type Faults, type Op } from "./Faults.ts"
import {
  type Command,
  type DockerOptions,
  dockerRuntime,
  type Launched,
  type LaunchSpec,
  processRuntime,
  type Runtime,
  type Signal
} from "./Runtimes.ts"

export type { Faults, Op, OpFilter } from "./Faults.ts"
export type { Command, DockerOptions } from "./Runtimes.ts"

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

/** A request the machines server answered, with the operation it was and its status. */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly op: Op | "unknown"
  readonly body?: unknown
  status: number
}

/** How the machines server starts: token, apps, regions, what machines run (processes or Docker). */
export interface Options {
  /** The token clients must send (`Authorization: Bearer <token>`); default: a random one. */
  readonly token?: string
  /** The app that exists from the start; default `porter-local`. */
  readonly app?: string
  /** More apps that exist from the start. */
  readonly apps?: ReadonlyArray<string>
  /** Region of machines created without one; default `local`. */
  readonly region?: string
  /** When set, creates naming another region fail with 422 like on Fly. */
  readonly regions?: ReadonlyArray<string>
  /**
   * What each machine runs in process mode; default the Porter runner
   * (`node --conditions=@porter/source packages/runner/src/main.ts`). A function picks per machine.
   */
  readonly command?: Command | ((machine: LaunchSpec) => Command)
  /** Run machines as Docker containers instead (the image must exist locally). */
  readonly docker?: DockerOptions
  /** Host variables passed to every machine; default `PATH` and `HOME`. */
  readonly inheritEnv?: ReadonlyArray<string>
  /** Interface to bind; default `127.0.0.1` (the port is always chosen by the system). */
  readonly host?: string
  /** Output kept per machine and stream (the tail); default 1 MiB. */
  readonly logLimitBytes?: number
}

/** A running machines server: its API URL and token, its machines, faults and recorded requests. */
export interface Server {
  /** The API base to use as `FLY_API_URL`, e.g. `http://127.0.0.1:43123/v1`. */
  readonly url: string
  readonly token: string
  /** The default app (`FLY_APP_NAME`). */
  readonly app: string
  readonly runtime: "process" | "docker"
  readonly faults: Faults
  /** Every machine ever created (destroyed ones included), oldest first. */
  readonly machines: () => ReadonlyArray<MachineView>
  readonly machine: (id: string) => MachineView | undefined
  /** A machine's output, stdout and stderr interleaved. */
  readonly logs: (id: string) => string
  /** Every request received, in order (the `Authorization` header is not kept). */
  readonly requests: () => ReadonlyArray<RecordedRequest>
  readonly apps: () => ReadonlyArray<string>
  /** Resolves when the machine is in `state`; rejects after `timeoutMs` (default 30 s) or for an unknown id. */
  readonly waitFor: (id: string, state: MachineState, timeoutMs?: number) => Promise<MachineView>
  /** Kills every machine and stops the server. */
  readonly close: () => Promise<void>
}

/** The Porter runner, run from its TypeScript sources (this file sits in `packages/testkit/{src,dist}/fly/`). */
export const runnerCommand = (): Command => ({
  command: process.execPath,
  args: ["--conditions=@porter/source", fileURLToPath(new URL("../../../runner/src/main.ts", import.meta.url))]
})

/** The test double of the runner (`fakeMachine.ts`): behaviour per machine via its `FAKE_MACHINE` variable. */
export const fakeMachineCommand = (): Command => {
  const here = import.meta.url
  const file = here.endsWith(".ts") ? "./fakeMachine.ts" : "./fakeMachine.js"
  return { command: process.execPath, args: [fileURLToPath(new URL(file, here))] }
}

// Request bodies, decoded leniently (Fly ignores fields it does not know) but typed where the server uses them.
const Guest = Schema.Struct({
  cpu_kind: Schema.optionalKey(Schema.String),
  cpus: Schema.optionalKey(Schema.Number),
  memory_mb: Schema.optionalKey(Schema.Number)
})
const MachineConfig = Schema.Struct({
  image: Schema.optionalKey(Schema.String),
  env: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  guest: Schema.optionalKey(Guest),
  auto_destroy: Schema.optionalKey(Schema.Boolean),
  restart: Schema.optionalKey(Schema.Struct({ policy: Schema.optionalKey(Schema.String) })),
  stop_config: Schema.optionalKey(Schema.Struct({
    signal: Schema.optionalKey(Schema.String),
    timeout: Schema.optionalKey(Schema.Union([Schema.String, Schema.Number]))
  }))
})
const CreateBody = Schema.Struct({
  config: MachineConfig,
  name: Schema.optionalKey(Schema.String),
  region: Schema.optionalKey(Schema.String),
  skip_launch: Schema.optionalKey(Schema.Boolean)
})
const StopBody = Schema.Struct({
  signal: Schema.optionalKey(Schema.String),
  timeout: Schema.optionalKey(Schema.Union([Schema.String, Schema.Number]))
})
const CreateAppBody = Schema.Struct({ name: Schema.String, org_slug: Schema.optionalKey(Schema.String) })
const decodeCreate = Schema.decodeUnknownResult(CreateBody)
const decodeStop = Schema.decodeUnknownResult(StopBody)
const decodeCreateApp = Schema.decodeUnknownResult(CreateAppBody)

const SIGNALS: ReadonlyArray<Signal> = ["SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]
const RESTART_POLICIES = ["no", "always", "on-failure", "spot-price"]
const SETTLED: ReadonlyArray<MachineState> = ["started", "stopped", "failed", "destroyed"]
const WAIT_STATES = ["started", "stopped", "suspended", "destroyed", "failed", "settled"]

/** Go durations (`"10s"`, `"1m30s"`, `"500ms"`) or nanoseconds, as milliseconds. */
export const parseDuration = (value: string | number | undefined): number | undefined => {
  if (value === undefined) return undefined
  if (typeof value === "number") return value / 1e6
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  let matched = false
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(amount) * units[unit!]!
    matched = true
  }
  return matched ? total : undefined
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex")

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
const ulid = () => {
  let out = ""
  let time = Date.now()
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32] + out
    time = Math.floor(time / 32)
  }
  for (const byte of randomBytes(16)) out += CROCKFORD[byte & 31]
  return out
}

const imageRef = (image: string) => {
  const [path, digest] = image.split("@") as [string, string | undefined]
  const slash = path.indexOf("/")
  const hasRegistry = slash > 0 && /[.:]|localhost/.test(path.slice(0, slash))
  const registry = hasRegistry ? path.slice(0, slash) : "docker.io"
  const rest = hasRegistry ? path.slice(slash + 1) : path
  const colon = rest.lastIndexOf(":")
  return {
    registry,
    repository: colon > 0 ? rest.slice(0, colon) : rest,
    tag: colon > 0 ? rest.slice(colon + 1) : "latest",
    digest: digest ?? "",
    labels: {}
  }
}

/** Fly's guest rules: sizes, and memory per CPU by kind. `undefined` when valid, else the 422 text. */
const checkGuest = (guest: { cpuKind: string; cpus: number; memoryMb: number }): string | undefined => {
  if (guest.cpuKind !== "shared" && guest.cpuKind !== "performance") {
    return `invalid config.guest.cpu_kind: "${guest.cpuKind}" (must be "shared" or "performance")`
  }
  if (![1, 2, 4, 8, 16].includes(guest.cpus) || (guest.cpuKind === "shared" && guest.cpus > 8)) {
    return `invalid config.guest.cpus: ${guest.cpus} ${guest.cpuKind} CPUs is not an available size`
  }
  if (!Number.isInteger(guest.memoryMb) || guest.memoryMb <= 0 || guest.memoryMb % 256 !== 0) {
    return `invalid config.guest.memory_mb: ${guest.memoryMb} MB (memory must be a multiple of 256 MB)`
  }
  const [perCpuMin, perCpuMax] = guest.cpuKind === "shared" ? [256, 2048] : [2048, 8192]
  const [min, max] = [perCpuMin * guest.cpus, perCpuMax * guest.cpus]
  if (guest.memoryMb < min || guest.memoryMb > max) {
    return `invalid config.guest.memory_mb: ${guest.memoryMb} MB is outside ${min}–${max} MB ` +
      `for ${guest.cpus} ${guest.cpuKind} CPU(s)`
  }
  return undefined
}

class LogBuffer {
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

interface MachineRecord {
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

const make = (options: Options, root: Scope.Scope) =>
  Effect.gen(function*() {
    const token = options.token ?? `fly-local-${randomBytes(18).toString("base64url")}`
    const defaultApp = options.app ?? "porter-local"
    const apps = new Set([defaultApp, ...(options.apps ?? [])])
    const defaultRegion = options.region ?? "local"
    const logLimit = options.logLimitBytes ?? 1024 * 1024
    const inherit = options.inheritEnv ?? ["PATH", "HOME"]
    const machines = new Map<string, MachineRecord>()
    const requests: Array<RecordedRequest> = []
    const queues = new FaultQueues()
    const command = options.command ?? runnerCommand()
    const runtime: Runtime = options.docker !== undefined
      ? yield* dockerRuntime(options.docker).pipe(Scope.provide(root))
      : yield* processRuntime(typeof command === "function" ? command : () => command)

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

    const toJson = (m: MachineRecord, summary = false) => ({
      id: m.id,
      name: m.name,
      state: m.state,
      region: m.region,
      instance_id: m.instanceId,
      private_ip: m.privateIp,
      created_at: new Date(m.createdAt).toISOString(),
      updated_at: new Date(m.updatedAt).toISOString(),
      image_ref: imageRef(m.image),
      ...(summary ? {} : {
        config: m.rawConfig,
        events: [...m.events].reverse(),
        checks: [],
        host_status: "ok"
      })
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

    // ---- HTTP ----

    const errorBody = (status: number, error: string, headers: Record<string, string> = {}, code = "unknown") =>
      HttpServerResponse.jsonUnsafe({ error, status: code }, { status, headers })

    const authorized = (header: string | undefined) => {
      if (header === undefined) return false
      const value = header.trim()
      return value === `Bearer ${token}` || value === token || value === `FlyV1 ${token}`
    }

    interface Ctx {
      readonly request: HttpServerRequest.HttpServerRequest
      readonly url: URL
      readonly params: Readonly<Record<string, string | undefined>>
      readonly body: unknown
      readonly dropResponse: boolean
    }

    const route =
      (op: Op, handler: (ctx: Ctx) => Effect.Effect<HttpServerResponse.HttpServerResponse>) =>
      (request: HttpServerRequest.HttpServerRequest) =>
        Effect.gen(function*() {
          const params = yield* HttpRouter.params
          const url = new URL(request.url, "http://machines.local")
          const text = request.method === "GET" || request.method === "DELETE"
            ? ""
            : yield* Effect.orElseSucceed(request.text, () => "")
          let body: unknown = undefined
          const entry: RecordedRequest = {
            method: request.method,
            path: url.pathname,
            query: Object.fromEntries(url.searchParams),
            op,
            status: 0
          }
          requests.push(entry)
          const finish = (response: HttpServerResponse.HttpServerResponse) => {
            entry.status = response.status
            return response.pipe(HttpServerResponse.setHeader("fly-request-id", ulid()))
          }
          if (!authorized(request.headers["authorization"])) {
            return finish(errorBody(401, "Authenticate: token validation error"))
          }
          if (text.trim() !== "") {
            try {
              body = JSON.parse(text)
              Object.assign(entry, { body })
            } catch (error) {
              return finish(errorBody(400, `json: cannot unmarshal request body: ${(error as Error).message}`))
            }
          }
          const delay = queues.delay(op)
          if (delay > 0) yield* Effect.sleep(delay)
          const fault = queues.answer(op)
          if (fault?._tag === "Status") {
            return finish(errorBody(
              fault.status,
              fault.error,
              fault.retryAfterSeconds !== undefined ? { "retry-after": String(fault.retryAfterSeconds) } : {},
              fault.code
            ))
          }
          const app = params["app"]
          if (app !== undefined && !apps.has(app)) return finish(errorBody(404, `Could not find App "${app}"`))
          return finish(yield* handler({ request, url, params, body, dropResponse: fault?._tag === "DropResponse" }))
        })

    const machineOf = (ctx: Ctx) => {
      const m = machines.get(ctx.params["id"] ?? "")
      return m !== undefined && m.app === ctx.params["app"] ? m : undefined
    }
    const notFound = () => errorBody(404, "machine not found")

    const create = (ctx: Ctx) =>
      Effect.gen(function*() {
        const decoded = decodeCreate(ctx.body ?? {})
        if (decoded._tag === "Failure") return errorBody(400, `invalid request body: ${decoded.failure.message}`)
        const body = decoded.success
        const config = body.config
        const invalid = (text: string) => Effect.succeed(errorBody(422, text))
        if (!config.image) return yield* invalid("invalid config.image: an image is required")
        const guest = {
          cpuKind: config.guest?.cpu_kind ?? "shared",
          cpus: config.guest?.cpus ?? 1,
          memoryMb: config.guest?.memory_mb ?? 256
        }
        const guestError = checkGuest(guest)
        if (guestError) return yield* invalid(guestError)
        if (config.restart?.policy !== undefined && !RESTART_POLICIES.includes(config.restart.policy)) {
          return yield* invalid(`invalid config.restart.policy: "${config.restart.policy}"`)
        }
        const region = body.region ?? defaultRegion
        if (options.regions !== undefined && !options.regions.includes(region)) {
          return yield* invalid(`invalid region: "${region}" is not a region this organization can use`)
        }
        const name = body.name ?? `machine-${randomBytes(4).toString("hex")}`
        if (
          [...machines.values()].some((m) => m.app === ctx.params["app"] && m.name === name && m.state !== "destroyed")
        ) {
          return errorBody(409, `name_taken: a machine named "${name}" already exists`)
        }
        const imageProblem = yield* runtime.checkImage(config.image)
        if (imageProblem) return yield* invalid(`invalid config.image: ${imageProblem}`)
        const signal = SIGNALS.find((s) => s === config.stop_config?.signal) ?? "SIGTERM"
        const now = Date.now()
        const m: MachineRecord = {
          id: randomBytes(7).toString("hex"),
          name,
          app: ctx.params["app"]!,
          region,
          instanceId: ulid(),
          privateIp: `fdaa:0:${hex(2)}:a7b:${hex(2)}:${hex(2)}::2`,
          createdAt: now,
          updatedAt: now,
          state: "created",
          rawConfig: { ...(ctx.body as { config: Record<string, unknown> }).config },
          image: config.image,
          env: { ...config.env },
          metadata: { ...config.metadata },
          guest,
          autoDestroy: config.auto_destroy ?? false,
          stopSignal: signal,
          events: [],
          log: new LogBuffer(logLimit)
        }
        machines.set(m.id, m)
        setState(m, "created", { type: "launch", source: "user" })
        if (body.skip_launch !== true) yield* Effect.forkIn(launch(m), root)
        if (ctx.dropResponse) {
          // The machine exists; the client never hears about it.
          NodeHttpServerRequest.toIncomingMessage(ctx.request).socket.destroy()
        }
        return HttpServerResponse.jsonUnsafe(toJson(m))
      })

    const list = (ctx: Ctx) =>
      Effect.sync(() => {
        const q = ctx.url.searchParams
        const includeDeleted = q.get("include_deleted") === "true"
        const states = q.get("state")?.split(",").filter((s) => s !== "")
        const region = q.get("region")
        const metadata = [...q.entries()].filter(([key]) => key.startsWith("metadata."))
          .map(([key, value]) => [key.slice("metadata.".length), value] as const)
        const found = [...machines.values()].filter((m) =>
          m.app === ctx.params["app"] &&
          (includeDeleted || m.state !== "destroyed") &&
          (states === undefined || states.includes(m.state)) &&
          (region === null || m.region === region) &&
          metadata.every(([key, value]) => m.metadata[key] === value)
        )
        return HttpServerResponse.jsonUnsafe(found.map((m) => toJson(m, q.get("summary") === "true")))
      })

    const show = (ctx: Ctx) =>
      Effect.sync(() => {
        const m = machineOf(ctx)
        return m ? HttpServerResponse.jsonUnsafe(toJson(m)) : notFound()
      })

    const reaches = (state: MachineState, wanted: ReadonlyArray<string>) =>
      wanted.includes(state) || (wanted.includes("settled") && SETTLED.includes(state))

    const wait = (ctx: Ctx) =>
      Effect.gen(function*() {
        const m = machineOf(ctx)
        if (!m) return notFound()
        const q = ctx.url.searchParams
        const wanted = q.getAll("state").flatMap((s) => s.split(",")).filter((s) => s !== "")
        if (wanted.length === 0) wanted.push("started")
        const unknown = wanted.find((s) => !WAIT_STATES.includes(s))
        if (unknown) return errorBody(400, `invalid state "${unknown}"`)
        const seconds = Number(q.get("timeout") ?? "60")
        if (!Number.isFinite(seconds) || seconds <= 0) return errorBody(400, "invalid timeout")
        const deadline = Date.now() + Math.min(seconds, 60) * 1000
        for (;;) {
          if (reaches(m.state, wanted)) {
            return HttpServerResponse.jsonUnsafe({
              ok: true,
              state: m.state,
              version: m.instanceId,
              event_id: m.events.at(-1)?.id
            })
          }
          if (m.state === "destroyed") return errorBody(400, `machine ${m.id} was destroyed`)
          const left = deadline - Date.now()
          if (left <= 0) return errorBody(408, `deadline_exceeded: machine did not become ${wanted.join(",")} in time`)
          yield* Effect.raceFirst(Deferred.await(changed), Effect.sleep(left))
        }
      })

    const stop = (ctx: Ctx) =>
      Effect.gen(function*() {
        const m = machineOf(ctx)
        if (!m) return notFound()
        const decoded = decodeStop(ctx.body ?? {})
        if (decoded._tag === "Failure") return errorBody(400, `invalid stop request: ${decoded.failure.message}`)
        const signal = SIGNALS.find((s) => s === decoded.success.signal) ?? m.stopSignal
        const graceMs = parseDuration(decoded.success.timeout) ?? 5_000
        if (m.state === "started") yield* stopMachine(m, signal, graceMs)
        else if (m.state !== "stopping" && m.state !== "stopped") {
          return errorBody(412, `failed_precondition: machine is ${m.state}, not started`)
        }
        return HttpServerResponse.jsonUnsafe({ ok: true })
      })

    const start = (ctx: Ctx) =>
      Effect.gen(function*() {
        const m = machineOf(ctx)
        if (!m) return notFound()
        const previous = m.state
        if (previous === "stopped" || previous === "created" || previous === "failed") {
          yield* Effect.forkIn(launch(m), root)
        } else if (previous !== "started" && previous !== "starting") {
          return errorBody(412, `failed_precondition: machine is ${previous}, refusing to start`)
        }
        return HttpServerResponse.jsonUnsafe({ previous_state: previous })
      })

    const destroy = (ctx: Ctx) =>
      Effect.gen(function*() {
        const m = machineOf(ctx)
        if (!m || m.state === "destroyed") return notFound()
        const force = ctx.url.searchParams.get("force") === "true"
        if (!force && (m.state === "started" || m.state === "starting" || m.state === "stopping")) {
          return errorBody(
            412,
            "failed_precondition: unable to destroy machine, not currently stopped, suspended or failed"
          )
        }
        yield* Effect.forkIn(destroyMachine(m, "user"), root)
        return HttpServerResponse.jsonUnsafe({ ok: true })
      })

    const logs = (ctx: Ctx) =>
      Effect.sync(() => {
        const m = machineOf(ctx)
        return m ? HttpServerResponse.text(m.log.output) : notFound()
      })

    const showApp = (ctx: Ctx) =>
      Effect.sync(() => {
        const name = ctx.params["name"] ?? ""
        return apps.has(name)
          ? HttpServerResponse.jsonUnsafe({
            id: name,
            name,
            status: "deployed",
            machine_count: [...machines.values()].filter((m) => m.app === name && m.state !== "destroyed").length,
            organization: { name: "local", slug: "personal" }
          })
          : errorBody(404, `Could not find App "${name}"`)
      })

    const createApp = (ctx: Ctx) =>
      Effect.sync(() => {
        const decoded = decodeCreateApp(ctx.body ?? {})
        if (decoded._tag === "Failure") return errorBody(400, `invalid request body: ${decoded.failure.message}`)
        const name = decoded.success.name
        if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(name)) return errorBody(422, `invalid name: "${name}"`)
        if (apps.has(name)) return errorBody(422, `Name has already been taken`)
        apps.add(name)
        return HttpServerResponse.empty({ status: 201 })
      })

    const router = yield* HttpRouter.make
    yield* router.add("GET", "/v1/apps/:name", route("apps", showApp))
    yield* router.add("POST", "/v1/apps", route("apps", createApp))
    yield* router.add("GET", "/v1/apps/:app/machines", route("list", list))
    yield* router.add("POST", "/v1/apps/:app/machines", route("create", create))
    yield* router.add("GET", "/v1/apps/:app/machines/:id", route("get", show))
    yield* router.add("DELETE", "/v1/apps/:app/machines/:id", route("destroy", destroy))
    yield* router.add("GET", "/v1/apps/:app/machines/:id/wait", route("wait", wait))
    yield* router.add("POST", "/v1/apps/:app/machines/:id/stop", route("stop", stop))
    yield* router.add("POST", "/v1/apps/:app/machines/:id/start", route("start", start))
    yield* router.add("GET", "/v1/apps/:app/machines/:id/logs", route("logs", logs))

    const server = yield* NodeHttpServer.make(() => createServer(), {
      port: 0,
      host: options.host ?? "127.0.0.1",
      gracefulShutdownTimeout: "200 millis"
    }).pipe(Scope.provide(root))
    yield* server.serve(router.asHttpEffect()).pipe(Scope.provide(root))
    const address = server.address
    const port = address._tag === "UnixPathAddress" ? 0 : address.port
    const host = options.host ?? "127.0.0.1"

    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/v1`
    return { token, app: defaultApp, url, runtime, machines, requests, queues, view, kill, apps }
  })

/** Starts a server (for non-Effect callers); `close()` kills every machine and stops it. */
export const startPromise = async (options: Options = {}): Promise<Server> => {
  const runtime = ManagedRuntime.make(NodeServices.layer)
  const scope = await runtime.runPromise(Scope.make())
  const shutdown = async () => {
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await runtime.dispose()
  }
  let state
  try {
    state = await runtime.runPromise(make(options, scope))
  } catch (error) {
    await shutdown()
    throw error
  }
  const s = state
  let closing: Promise<void> | undefined
  const server: Server = {
    url: s.url,
    token: s.token,
    app: s.app,
    runtime: s.runtime.kind,
    faults: s.queues.api((id) => runtime.runPromise(s.kill(id))),
    machines: () => [...s.machines.values()].map(s.view),
    machine: (id) => {
      const m = s.machines.get(id)
      return m ? s.view(m) : undefined
    },
    logs: (id) => s.machines.get(id)?.log.output ?? "",
    requests: () => [...s.requests],
    apps: () => [...s.apps],
    waitFor: async (id, state, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const m = s.machines.get(id)
        if (m === undefined) throw new Error(`no machine ${id}`)
        if (m.state === state) return s.view(m)
        if (Date.now() > deadline) {
          throw new Error(`machine ${id} is ${m.state}, not ${state}, after ${timeoutMs} ms`)
        }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    },
    close: () => (closing ??= shutdown())
  }
  return server
}

/** Starts a server for the life of the current scope. */
export const start = (options: Options = {}): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startPromise(options)),
    (server) => Effect.promise(() => server.close())
  )
