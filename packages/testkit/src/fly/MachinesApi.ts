/**
 * The HTTP side of the local machines server: the Fly Machines API routes (apps; create, list, show, wait, stop,
 * start, destroy machines; a machine's logs), with Fly's JSON shapes and errors, the bearer token checked like Fly,
 * every request recorded, and the faults queued for each operation (delays, error answers, dropped answers) applied
 * before the handler runs. Served on a port of its own on loopback.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Deferred, Effect, Scope } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import type { HttpServerRequest } from "effect/http"
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import type { FaultQueues, Op } from "./Faults.ts"
import {
  checkGuest,
  decodeCreate,
  decodeCreateApp,
  decodeStop,
  hex,
  imageRef,
  parseDuration,
  RESTART_POLICIES,
  SIGNALS,
  ulid
} from "./FlyFormats.ts"
import { LogBuffer, type MachineRecord, type Machines, type MachineState } from "./Machines.ts"
import type { Runtime } from "./Runtimes.ts"

/** A request the machines server answered, with the operation it was and its status. */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly op: Op | "unknown"
  readonly body?: unknown
  status: number
}

const SETTLED: ReadonlyArray<MachineState> = ["started", "stopped", "failed", "destroyed"]
const WAIT_STATES = ["started", "stopped", "suspended", "destroyed", "failed", "settled"]

/** Fly's `Machine` JSON for a machine (`summary`: without config and events, as `?summary=true` lists them). */
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

/** Serves the API on `host` (a port chosen by the system) for the life of `root`; its base URL (`…/v1`). */
export const serveApi = (input: {
  readonly root: Scope.Scope
  readonly token: string
  readonly apps: Set<string>
  readonly machines: Machines
  readonly requests: Array<RecordedRequest>
  readonly queues: FaultQueues
  readonly runtime: Runtime
  /** Region of machines created without one. */
  readonly defaultRegion: string
  /** When set, creates naming another region fail with 422. */
  readonly regions: ReadonlyArray<string> | undefined
  /** Output kept per machine and stream. */
  readonly logLimit: number
  readonly host: string | undefined
}) =>
  Effect.gen(function*() {
    const { apps, defaultRegion, logLimit, queues, requests, root, runtime, token } = input
    const { byId: machines, destroyMachine, launch, setState, stopMachine } = input.machines

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
        if (input.regions !== undefined && !input.regions.includes(region)) {
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
          yield* Effect.raceFirst(Deferred.await(input.machines.changed()), Effect.sleep(left))
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
      host: input.host ?? "127.0.0.1",
      gracefulShutdownTimeout: "200 millis"
    }).pipe(Scope.provide(root))
    yield* server.serve(router.asHttpEffect()).pipe(Scope.provide(root))
    const address = server.address
    const port = address._tag === "UnixPathAddress" ? 0 : address.port
    const host = input.host ?? "127.0.0.1"

    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/v1`
    return url
  })
