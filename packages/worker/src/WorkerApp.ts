/**
 * The reference Worker, assembled from the Worker's `env` and nothing else: core's HTTP app and admin API,
 * `GET /admin/doctor`, the watchdog for `scheduled`, over D1 storage, the GitHub adapters and Fly machines.
 * `index.ts` calls `make(env)` once per isolate (module scope) and hands `fetch`/`scheduled` to workerd.
 *
 * - Layers are built once: configuration comes from an Effect `ConfigProvider` over `env`; `fetch` and
 *   `scheduled` share the built services through one memo map.
 * - A missing variable is found before anything is built, and every missing one is named at once; a variable
 *   that is present but unusable (a key that does not parse, a non-integer) fails the build with a message
 *   naming it. Either way every request is answered 503 with those lines (never a value), `scheduled` logs
 *   them, and `GET /admin/doctor` still works (with the admin token) to say what to fix.
 * - Webhooks are answered once verified and claimed; the rest runs under `ctx.waitUntil` (`WorkerBackground`).
 *   `POST /webhooks/github` skips the router (`Intake.answer` called directly, same answers): it is
 *   most of the traffic, and the router's request and response objects cost more isolate CPU than the intake.
 *   The model gateway (`/gateway/…`) skips it too (`WorkerGateway.route`, upstream with workerd's own `fetch`).
 * - Logs are JSON lines on the console (`Logger.consoleJson`); the per-request access log is off (cost).
 *
 * Platform-free (no `cloudflare:workers` import), so tests and local tools can run it with any `env`.
 */
import type { D1Database } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import {
  AgentCatalog,
  Background,
  CommandParser,
  Diagnostics,
  GatewayApp,
  HttpApp,
  type MachineProvisioner,
  Porter,
  PorterConfig,
  PromptBuilder,
  TaskTokens,
  Watchdog
} from "@porter/core"
import { D1Storage, type EncryptionKeys } from "@porter/d1"
import { FlyMachines } from "@porter/fly"
import { type AppJwt, GistArtifactStore, GitHub } from "@porter/github"
import {
  Cause,
  type Config,
  ConfigProvider,
  Effect,
  Exit,
  Layer,
  Logger,
  ManagedRuntime,
  Option,
  Redacted,
  References,
  Scheduler
} from "effect"
import { FetchHttpClient, HttpClient, HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import * as Doctor from "./Doctor.ts"
import * as WorkerBackground from "./WorkerBackground.ts"
import * as WorkerConfig from "./WorkerConfig.ts"
import * as WorkerGateway from "./WorkerGateway.ts"
import { appMissing, isAppPath, isWebhook, pathOf, webhookRoute } from "./WorkerRoutes.ts"

/** The Worker's bindings and variables (`DB` plus strings). */
export type WorkerEnv = Readonly<Record<string, unknown>>

/** What `scheduled` needs of workerd's `ScheduledController`. */
export interface ScheduledEvent {
  readonly cron: string
  readonly scheduledTime: number
}

/** The Worker's entry points, built once per isolate by `make`. */
export interface Handlers {
  readonly fetch: (request: Request, ctx: WorkerBackground.WaitUntil) => Promise<Response>
  /** Runs the watchdog sweep; never rejects (failures are logged). */
  readonly scheduled: (event: ScheduledEvent) => Promise<void>
  /** Resolves when startup is over: `undefined` when the Worker is ready, else the lines saying what is wrong. */
  readonly ready: Promise<ReadonlyArray<string> | undefined>
  readonly dispose: () => Promise<void>
}

/** Config, HTTP, logging and the scheduler, for every layer and every request. */
export const platformLayer = (env: WorkerEnv): Layer.Layer<HttpClient.HttpClient> =>
  Layer.mergeAll(
    ConfigProvider.layer(ConfigProvider.fromUnknown(env)),
    FetchHttpClient.layer,
    Logger.layer([Logger.consoleJson]),
    // Shared fibers must not depend on request-owned timers (see `HttpRouter.toWebHandler`).
    Layer.succeed(Scheduler.Scheduler, new Scheduler.MixedScheduler("sync")),
    // Nothing exports spans from the Worker: recording them would only cost CPU time on every request.
    Layer.succeed(References.TracerEnabled, false)
  )

/** What the Worker provides besides `Porter` and `Watchdog`. */
export type Services =
  | D1Storage.Services
  | GitHub.Services
  | FlyMachines.FlyMachines
  | MachineProvisioner.MachineProvisioner
  | PorterConfig.PorterConfig
  | TaskTokens.TaskTokens
  | CommandParser.CommandParser
  | AgentCatalog.AgentCatalog
  | PromptBuilder.PromptBuilder
  | Background.Background

/** Why the services could not be built: a variable missing or unusable. */
export type BuildError = Config.ConfigError | EncryptionKeys.EncryptionKeyError | AppJwt.InvalidPrivateKey

/** Choices a host can make besides configuration. */
export interface Options {
  /** How work continues after an answer; default `WorkerBackground.layer()` (`ctx.waitUntil`). */
  readonly background?: Layer.Layer<Background.Background> | undefined
}

/** What a Worker's routes may use: everything `appLayer` provides. */
export type RouteServices = Services | Porter.Services | Diagnostics.Diagnostics | HttpClient.HttpClient

/** The routes a Worker serves through the router (default: `routesLayer`, Porter's HTTP API). */
export type Routes = Layer.Layer<
  never,
  never,
  RouteServices | HttpRouter.HttpRouter | Layer.Success<typeof HttpServer.layerServices>
>

/** A Worker this one hands requests to: the App Worker, bound as a service binding (`APP`). */
export interface Fetcher {
  readonly fetch: (request: Request) => Promise<Response>
}

/** Choices of `make` besides `Options`. */
export interface MakeOptions extends Options {
  /** Default `routesLayer`. */
  readonly routes?: Routes | undefined
  /**
   * The App Worker (web app, MCP server, `/openapi.json`): requests for its paths (`isAppPath`) go to it. Without
   * it, they are answered 404 saying what to deploy. Omitted by the App Worker itself.
   */
  readonly app?: Fetcher | "self" | undefined
}

/** Every port `Porter` needs, from configuration. */
export const servicesLayer = (
  db: D1Database,
  options: Options = {}
): Layer.Layer<Services, BuildError, HttpClient.HttpClient> =>
  Layer.mergeAll(
    D1Storage.layerConfig({ db }),
    GitHub.layerConfig,
    FlyMachines.layerConfig,
    WorkerConfig.porterConfigLayer,
    WorkerConfig.taskTokensLayer,
    CommandParser.layer.pipe(Layer.provideMerge(AgentCatalog.layer)),
    PromptBuilder.layer,
    options.background ?? WorkerBackground.layer(),
    // Sessions and transcripts mirrored to secret gists when PORTER_GIST_TOKEN is set (a mirror that fails fails nothing).
    GistArtifactStore.layerMirrorConfig
  )

/** The doctor's checks of this Worker's configuration, GitHub, Fly and D1 (`GET /admin/doctor`). */
export const diagnosticsLayer = (env: WorkerEnv): Layer.Layer<Diagnostics.Diagnostics, never, HttpClient.HttpClient> =>
  Layer.effect(
    Diagnostics.Diagnostics,
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
      return Diagnostics.Diagnostics.of({
        report: Doctor.run(env, { sql: Option.getOrUndefined(sql), inWorker: true }).pipe(
          Effect.map((report) => Diagnostics.reportOf(report.checks)),
          Effect.provideService(HttpClient.HttpClient, http)
        )
      })
    })
  )

/** Porter's services (the lifecycle, its watchdog, the doctor) and every port, on the platform layer. */
export const appLayer = (
  env: WorkerEnv,
  options: Options = {}
): Layer.Layer<Services | Porter.Services | Diagnostics.Diagnostics | HttpClient.HttpClient, BuildError> =>
  Layer.merge(Porter.layer, diagnosticsLayer(env)).pipe(
    Layer.provideMerge(servicesLayer(env["DB"] as D1Database, options)),
    Layer.provideMerge(platformLayer(env))
  )

const json = (status: number, body: unknown) => HttpServerResponse.jsonUnsafe(body, { status })

/**
 * `GET /admin/doctor` while the Worker cannot start (a variable missing or unusable): the same checks and answer
 * as the API's `admin.doctor`, on the platform alone (and D1 when bound), so a broken deployment can still say
 * what to fix.
 */
const doctorWhileFailed = (env: WorkerEnv) =>
  HttpRouter.use(
    Effect.fn("PorterHttp.doctor")(function*(router) {
      const diagnostics = yield* Diagnostics.Diagnostics
      const value = env["PORTER_ADMIN_TOKEN"]
      const adminToken = typeof value === "string" && value.trim().length > 0 ? Redacted.make(value) : undefined
      yield* router.add("GET", "/admin/doctor", (request) =>
        Effect.gen(function*() {
          if (adminToken === undefined) {
            return json(404, {
              _tag: "NotFound",
              message: "the admin API is disabled: set PORTER_ADMIN_TOKEN to use the doctor"
            })
          }
          if (!HttpApp.isAdminRequest(request, adminToken)) {
            return json(401, { _tag: "Unauthorized", message: "missing or wrong admin token" })
          }
          const report = yield* diagnostics.report
          return json(report.ok ? 200 : 503, report)
        }))
    })
  )

/**
 * The API Worker's routes: Porter's HTTP API (with the admin API, the doctor and `/openapi.json`). The web app and
 * the MCP server are served by the App Worker (`AppWorker.ts`), which this one forwards their paths to.
 */
export const routesLayer: Routes = HttpApp.routes

// No timestamp: at module scope workerd's clock reads 0, and its own log lines are timestamped anyway.
const logLine = (level: "ERROR" | "INFO", message: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ level, message, ...fields }))

/** The handler used when startup failed: 503 with the problems, except for the doctor. */
const failedHandler = (env: WorkerEnv, problems: ReadonlyArray<string>, memoMap: Layer.MemoMap) => {
  const db = env["DB"] as D1Database | undefined
  const sql = db !== undefined && typeof db === "object" && db !== null
    ? D1Client.layer({ db }).pipe(Layer.orDie)
    : Layer.empty
  const doctor = HttpRouter.toWebHandler(
    doctorWhileFailed(env).pipe(
      Layer.provide(diagnosticsLayer(env)),
      Layer.provide(Layer.merge(sql, platformLayer(env))),
      Layer.provide(HttpServer.layerServices)
    ),
    { memoMap, disableLogger: true }
  )
  const body = JSON.stringify({ error: `Porter is not configured: ${problems.join("; ")}`, problems })
  return {
    fetch: (request: Request): Promise<Response> =>
      new URL(request.url).pathname === "/admin/doctor"
        ? doctor.handler(request)
        : Promise.resolve(new Response(body, { status: 503, headers: { "content-type": "application/json" } })),
    dispose: doctor.dispose
  }
}

type State =
  | { readonly _tag: "Starting" }
  | { readonly _tag: "Ready" }
  | { readonly _tag: "Failed"; readonly problems: ReadonlyArray<string> }

/** Builds the Worker from `env`: call once per isolate. */
export const make = (env: WorkerEnv, options: MakeOptions = {}): Handlers => {
  const memoMap = Layer.makeMemoMapUnsafe()
  const tracked = WorkerBackground.makeTracked()
  const missing = WorkerConfig.missing(env)
  let state: State = missing.length > 0 ? { _tag: "Failed", problems: missing } : { _tag: "Starting" }

  const app = appLayer(env, {
    ...options,
    background: options.background ?? Layer.succeed(Background.Background, tracked.service)
  })
  const runtime = ManagedRuntime.make(app, { memoMap })
  const web = missing.length > 0
    ? undefined
    : HttpRouter.toWebHandler(
      (options.routes ?? routesLayer).pipe(Layer.provideMerge(app), Layer.provide(HttpServer.layerServices)),
      { memoMap, disableLogger: true }
    )
  let failed: ReturnType<typeof failedHandler> | undefined
  let webhook: ((request: Request, ctx: WorkerBackground.WaitUntil) => Promise<Response>) | undefined
  // The model gateway skips the router too (`WorkerGateway.route`, same answers): every model call of every task.
  let gateway: ((request: Request, ctx: WorkerBackground.WaitUntil) => Promise<Response>) | undefined

  const fail = (problems: ReadonlyArray<string>) => {
    state = { _tag: "Failed", problems }
    logLine("ERROR", "Porter cannot start: fix the configuration", { problems })
  }

  const ready: Promise<ReadonlyArray<string> | undefined> = missing.length > 0
    ? Promise.resolve().then(() => {
      fail(missing)
      return missing
    })
    : runtime.runPromiseExit(Effect.all([webhookRoute, WorkerGateway.route])).then((exit) => {
      if (Exit.isSuccess(exit)) {
        ;[webhook, gateway] = exit.value
        state = { _tag: "Ready" }
        return undefined
      }
      const problems = WorkerConfig.describeFailure(exit.cause, env)
      fail(problems)
      return problems
    })

  const onFailure = (problems: ReadonlyArray<string>) => (failed ??= failedHandler(env, problems, memoMap))

  const forward = options.app
  const fetch = (request: Request, ctx: WorkerBackground.WaitUntil): Promise<Response> => {
    if (forward !== "self" && isAppPath(pathOf(request.url))) {
      return forward === undefined ? Promise.resolve(appMissing()) : forward.fetch(request)
    }
    switch (state._tag) {
      case "Ready":
        return webhook !== undefined && isWebhook(request)
          ? webhook(request, ctx)
          : gateway !== undefined && GatewayApp.isGatewayRequest(request)
          ? gateway(request, ctx)
          : web!.handler(request, WorkerBackground.contextFor(ctx))
      case "Starting":
        return ready.then(() => fetch(request, ctx))
      case "Failed":
        return onFailure(state.problems).fetch(request)
    }
  }

  const sweep = Effect.gen(function*() {
    const watchdog = yield* Watchdog.Watchdog
    return yield* watchdog.sweep
  })

  const scheduled = (event: ScheduledEvent): Promise<void> =>
    ready.then((problems) => {
      if (problems !== undefined) {
        logLine("ERROR", "watchdog sweep skipped: Porter is not configured", { cron: event.cron, problems })
        return
      }
      // A run of the isolate like the requests' background work: it may be carrying some of theirs (see
      // WorkerBackground), and they may be carrying some of it.
      return tracked.hold(runtime.runPromise(
        sweep.pipe(
          Effect.asVoid,
          Effect.annotateLogs({ cron: event.cron }),
          Effect.withSpan("Worker.scheduled", { attributes: { cron: event.cron } }),
          Effect.catchCause((cause) => Effect.logError("watchdog sweep failed", { cause: Cause.pretty(cause) }))
        )
      ))
    }).catch((error: unknown) => {
      logLine("ERROR", "watchdog sweep failed", { error: String(error).slice(0, 500) })
    })

  return {
    fetch,
    scheduled,
    ready,
    dispose: async () => {
      await Promise.allSettled([web?.dispose(), failed?.dispose(), runtime.dispose()])
    }
  }
}

/** Task tokens for a task id, as the Worker issues them (tests and tools that play the runner). */
export const issueTaskToken = (env: WorkerEnv, taskId: string): Promise<string> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const { secret } = yield* WorkerConfig.taskTokenSecret
      const tokens = yield* TaskTokens.make(secret)
      return Redacted.value(yield* tokens.issue(taskId))
    }).pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env)))
  )
