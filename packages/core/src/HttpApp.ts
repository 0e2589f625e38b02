/**
 * The server side of Porter's HTTP API (`Api.ts`), served by every host (the Worker, a Node host, tests): the
 * handlers, the security middleware (task token, admin token) and `GET /openapi.json`. Credentials are checked and
 * payloads decoded here, at the edge: the lifecycle services receive a `TaskId` and a `CallbackEvent`, never a raw
 * header or body.
 *
 * Webhook and callback handlers are uninterruptible: a client that hangs up (a runner whose machine is being
 * destroyed by this very callback) must not cut a state change and its report in half.
 *
 * `POST /webhooks/github` is also served without the router by hosts that want the fastest answer
 * (`Intake.answer`, called directly: the Worker and the Node example do); the answers are the same.
 */
import { Effect, type FileSystem, Layer, Option, type Path, Redacted } from "effect"
import { Mac } from "effect/crypto"
import { type Etag, type HttpPlatform, HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiMiddleware, OpenApi } from "effect/http-api"
import * as AdminApi from "./AdminApi.ts"
import * as Api from "./Api.ts"
import type { Artifacts } from "./Artifacts.ts"
import * as CallbacksApp from "./CallbacksApp.ts"
import { notFound, orUnavailable, readBody, taskIdParam } from "./CallbacksApp.ts"
import type { ChangeSets } from "./ChangeSets.ts"
import { Diagnostics } from "./Diagnostics.ts"
import { Dispatcher } from "./Dispatcher.ts"
import * as GatewayApp from "./GatewayApp.ts"
import type { GitProxy } from "./GitProxy.ts"
import { Intake } from "./Intake.ts"
import type { ModelGateway } from "./ModelGateway.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { parseScopeKey, scopeKey, type SecretScope, SecretStore } from "./SecretStore.ts"
import { Settings, type SettingsScope } from "./Settings.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"
import { TaskTokens } from "./TaskTokens.ts"
import { Watchdog } from "./Watchdog.ts"

/** Callback bodies larger than this are refused (413). */
export { MAX_CALLBACK_BYTES } from "./CallbacksApi.ts"
export { readBody, readBytes } from "./CallbacksApp.ts"

const encoder = new TextEncoder()

/** Constant-time equality of the presented bearer and the admin token. */
export const isAdminToken = (
  adminToken: Redacted.Redacted<string> | undefined,
  presented: Redacted.Redacted<string>
): boolean =>
  adminToken !== undefined &&
  Mac.timingSafeEqual(encoder.encode(Redacted.value(adminToken)), encoder.encode(Redacted.value(presented)))

/** Whether a request carries the admin token (for hosts that add routes of their own). */
export const isAdminRequest = (
  request: HttpServerRequest.HttpServerRequest,
  adminToken: Redacted.Redacted<string> | undefined
): boolean => {
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers["authorization"]?.trim() ?? "")?.[1]
  return bearer !== undefined && isAdminToken(adminToken, Redacted.make(bearer))
}

// --- Security -----------------------------------------------------------------------------------------------------

const TaskOrAdminAuthLive = Layer.effect(
  Api.TaskOrAdminAuth,
  Effect.gen(function*() {
    const tokens = yield* TaskTokens
    const { adminToken } = yield* PorterConfig
    return Api.TaskOrAdminAuth.of({
      bearer: (effect, { credential }) =>
        Effect.gen(function*() {
          if (isAdminToken(adminToken, credential)) return yield* effect
          if (yield* tokens.verify(yield* taskIdParam, Redacted.value(credential))) return yield* effect
          return yield* new Api.Unauthorized({ message: "missing or wrong token" })
        })
    })
  })
)

const AdminAuthLive = Layer.effect(
  Api.AdminAuth,
  Effect.gen(function*() {
    const { adminToken } = yield* PorterConfig
    return Api.AdminAuth.of({
      bearer: (effect, { credential }) =>
        adminToken === undefined
          ? Effect.fail(new Api.NotFound({ message: "the admin API is disabled (no admin token configured)" }))
          : isAdminToken(adminToken, credential)
          ? effect
          : Effect.fail(new Api.Unauthorized({ message: "missing or wrong admin token" }))
    })
  })
)

const ValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(
  Api.Validation,
  (error) =>
    Effect.fail(new Api.BadRequest({ message: `${error.kind.toLowerCase()}: ${error.message}`.slice(0, 1_000) }))
)

// --- Handlers -----------------------------------------------------------------------------------------------------

const SystemLive = HttpApiBuilder.group(
  Api.Api,
  "system",
  (handlers) => handlers.handle("health", () => Effect.succeed({ ok: true }))
)

const WebhooksLive = HttpApiBuilder.group(Api.Api, "webhooks", (handlers) =>
  Effect.gen(function*() {
    const intake = yield* Intake
    return handlers.handleRaw(
      "github",
      ({ request }) =>
        Effect.map(
          intake.answer(request.headers, (limit) => readBody(request, limit)),
          (answer) => HttpServerResponse.jsonUnsafe(answer.body, { status: answer.status })
        ),
      { uninterruptible: true }
    )
  }))

const TasksLive = HttpApiBuilder.group(Api.Api, "tasks", (handlers) =>
  Effect.gen(function*() {
    const lifecycle = yield* TaskLifecycle
    return handlers.handle("view", ({ params }) =>
      lifecycle.view(params.taskId).pipe(Effect.catchTag("TaskNotFound", notFound), orUnavailable))
  }))

const badScope = (text: string) =>
  new Api.BadRequest({
    message: `scope must be global, repository:owner/name, installation:<id> or user:<id> (not \`${
      text.slice(0, 100)
    }\`)`
  })

const secretScope = (text: string): Effect.Effect<SecretScope, Api.BadRequest> => {
  const scope = parseScopeKey(text)
  return scope === undefined ? Effect.fail(badScope(text)) : Effect.succeed(scope)
}

const settingsScope = (text: string): Effect.Effect<SettingsScope, Api.BadRequest> =>
  Effect.flatMap(secretScope(text), (scope) =>
    scope._tag === "user"
      ? Effect.fail(new Api.BadRequest({ message: "settings scopes are global, repository:… or installation:…" }))
      : Effect.succeed(scope))

const AdminLive = HttpApiBuilder.group(Api.Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const secrets = yield* SecretStore
    const settings = yield* Settings
    const store = yield* TaskStore
    const lifecycle = yield* TaskLifecycle
    const dispatcher = yield* Dispatcher
    const watchdog = yield* Watchdog
    const diagnostics = yield* Diagnostics
    const iso = (ms: number) => new Date(ms).toISOString()

    return handlers
      .handle("listSecrets", ({ query }) =>
        Effect.gen(function*() {
          const scope = query.scope === undefined ? undefined : yield* secretScope(query.scope)
          const listed = yield* secrets.list(scope)
          return {
            secrets: listed.map((s) => ({ scope: scopeKey(s.scope), name: s.name, updatedAt: iso(s.updatedAt) }))
          }
        }).pipe(orUnavailable))
      .handle("setSecret", ({ payload }) =>
        Effect.gen(function*() {
          const scope = yield* secretScope(payload.scope)
          yield* secrets.set(scope, payload.name, Redacted.make(payload.value))
          return { scope: scopeKey(scope), name: payload.name }
        }).pipe(orUnavailable))
      .handle("deleteSecret", ({ query }) =>
        Effect.flatMap(
          secretScope(query.scope),
          (scope) => Effect.map(secrets.delete(scope, query.name), (deleted) => ({ deleted }))
        ).pipe(orUnavailable))
      .handle("rotateSecrets", () => orUnavailable(secrets.rotate()))
      .handle("getSettings", ({ query }) =>
        Effect.flatMap(settingsScope(query.scope), (scope) =>
          Effect.map(settings.get(scope), (patch) => ({ scope: scopeKey(scope), settings: patch }))).pipe(
            orUnavailable
          ))
      .handle("setSettings", ({ payload }) =>
        Effect.gen(function*() {
          const scope = yield* settingsScope(payload.scope)
          yield* settings.set(scope, payload.settings)
          return { scope: scopeKey(scope), settings: yield* settings.get(scope) }
        }).pipe(orUnavailable))
      .handle("deleteSettings", ({ query }) =>
        Effect.flatMap(settingsScope(query.scope), (scope) =>
          Effect.map(settings.delete(scope), (deleted) => ({ deleted }))).pipe(orUnavailable))
      .handle("listTasks", ({ query }) =>
        store.list({
          limit: query.limit ?? 50,
          ...(query.state !== undefined ? { state: query.state } : {}),
          ...(query.repo !== undefined ? { repo: query.repo } : {}),
          ...(query.before !== undefined ? { before: query.before } : {})
        }).pipe(Effect.map((tasks) => ({ tasks: tasks.map(AdminApi.toView) })), orUnavailable))
      .handle("getTask", ({ params }) =>
        Effect.gen(function*() {
          const task = yield* store.get(params.taskId)
          return { task: AdminApi.toView(task), events: yield* store.events(params.taskId) }
        }).pipe(Effect.catchTag("TaskNotFound", notFound), orUnavailable))
      .handle("cancelTask", ({ params }) =>
        Effect.gen(function*() {
          const cancelled = yield* lifecycle.cancelTask(params.taskId, "cancelled by an administrator")
          return { cancelled, task: yield* lifecycle.view(params.taskId) }
        }).pipe(Effect.catchTag("TaskNotFound", notFound), orUnavailable))
      .handle("retryTask", ({ params }) =>
        Effect.gen(function*() {
          const previous = yield* store.get(params.taskId)
          if (!previous.isTerminal) {
            return yield* new Api.BadRequest({
              message: `task ${previous.id} is still ${previous.state}: cancel it first`
            })
          }
          const retried = yield* dispatcher.retry(previous, previous.requestedBy)
          if (Option.isNone(retried)) {
            return yield* new Api.BadRequest({ message: "the active-task limit is reached: retry when a task ends" })
          }
          return { task: AdminApi.toView(retried.value) }
        }).pipe(Effect.catchTag("TaskNotFound", notFound), orUnavailable))
      .handle("sweep", () =>
        watchdog.sweep)
      .handle("doctor", () =>
        Effect.flatMap(diagnostics.report, (report) => (report.ok ? Effect.succeed(report) : Effect.fail(report))))
  }))

/** The handlers and middleware of `Api`, needing the lifecycle services and `Diagnostics`. */
export const handlersLayer = Layer.mergeAll(
  SystemLive,
  WebhooksLive,
  CallbacksApp.layer,
  GatewayApp.layer,
  TasksLive,
  AdminLive
).pipe(
  Layer.provideMerge(Layer.mergeAll(TaskOrAdminAuthLive, AdminAuthLive, ValidationLive))
)

/** What the routes need: Porter's services and ports (the platform's come with `HttpServer.layerServices`). */
export type Requirements =
  | Intake
  | TaskLifecycle
  | ChangeSets
  | GitProxy
  | Dispatcher
  | Watchdog
  | Diagnostics
  | SecretStore
  | Settings
  | TaskStore
  | TaskTokens
  | PorterConfig
  | ModelGateway
  | Artifacts

/** Porter's HTTP API on the router, with `GET /openapi.json` (and the gateway's 404s in the providers' formats). */
export const routes: Layer.Layer<
  never,
  never,
  HttpRouter.HttpRouter | Etag.Generator | FileSystem.FileSystem | HttpPlatform.HttpPlatform | Path.Path | Requirements
> = Layer.merge(
  HttpApiBuilder.layer(Api.Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlersLayer)),
  GatewayApp.fallback
)

/** The generated OpenAPI document (what `GET /openapi.json` serves). */
export const openApi = () => OpenApi.fromApi(Api.Api)
