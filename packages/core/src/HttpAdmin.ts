/**
 * The admin API, served next to `HttpApp.routes` by every host, behind `Authorization: Bearer <admin token>`
 * (`PorterConfig.adminToken`; without one the admin API answers 404). The `porter` CLI's `secrets` and `tasks`
 * commands speak it.
 *
 *   GET    /admin/secrets?scope=…             names only, never values
 *   PUT    /admin/secrets                     { scope, name, value }
 *   DELETE /admin/secrets?scope=…&name=…
 *   GET    /admin/settings?scope=…            the stored override (empty: defaults apply)
 *   PUT    /admin/settings                    { scope, settings: { mentionName?, defaultAgent?, … } } (merged)
 *   DELETE /admin/settings?scope=…
 *   GET    /admin/tasks?state=…&repo=…&limit=…&before=…
 *   GET    /admin/tasks/:taskId               the task and its audit trail
 *   POST   /admin/tasks/:taskId/cancel
 *   POST   /admin/sweep                       run the watchdog now
 *
 * Scopes are written `global`, `repository:owner/name`, `installation:<id>`, `user:<github user id>`.
 */
import { Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { isAdminRequest, readBody } from "./HttpApp.ts"
import { TaskId } from "./Ids.ts"
import { Porter, toView } from "./Porter.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { parseScopeKey, scopeKey, SecretName, SecretStore } from "./SecretStore.ts"
import { Settings, SettingsPatch, type SettingsScope } from "./Settings.ts"
import { TaskState } from "./Task.ts"
import { TaskStore } from "./TaskStore.ts"

const json = (status: number, body: unknown) => HttpServerResponse.jsonUnsafe(body, { status })

class AdminError extends Schema.TaggedError<AdminError>()("AdminError", {
  status: Schema.Number,
  message: Schema.String
}) {}

const bad = (message: string) => new AdminError({ status: 400, message })

const SecretBody = Schema.Struct({ scope: Schema.String, name: SecretName, value: Schema.String.pipe(Schema.check(Schema.isMinLength(1))) })
const SettingsBody = Schema.Struct({ scope: Schema.String, settings: SettingsPatch })

const decodeJson = <S extends Schema.Top>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(schema))
  return (text: string) =>
    (decode(text) as Effect.Effect<S["Type"], Schema.SchemaError, never>).pipe(
      Effect.mapError((error) => bad(error.message.slice(0, 500)))
    )
}
const decodeSecretBody = decodeJson(SecretBody)
const decodeSettingsBody = decodeJson(SettingsBody)

const query = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://porter").searchParams

const secretScope = (text: string | null) => {
  const scope = text === null ? undefined : parseScopeKey(text)
  return scope ? Effect.succeed(scope) : Effect.fail(bad("scope must be global, repository:owner/name, installation:<id> or user:<id>"))
}

const settingsScope = (text: string | null): Effect.Effect<SettingsScope, AdminError> =>
  Effect.flatMap(secretScope(text), (scope) =>
    scope._tag === "user" ? Effect.fail(bad("settings scopes are global, repository:… or installation:…")) : Effect.succeed(scope))

export const routes = HttpRouter.use(Effect.fn("PorterHttp.admin")(function*(router) {
  const config = yield* PorterConfig
  const secrets = yield* SecretStore
  const settings = yield* Settings
  const store = yield* TaskStore
  const porter = yield* Porter

  const admin = (
    method: "GET" | "PUT" | "DELETE" | "POST",
    path: `/admin${string}`,
    handler: (
      request: HttpServerRequest.HttpServerRequest
    ) => Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      AdminError | { readonly _tag: string; readonly message: string },
      HttpRouter.RouteContext
    >
  ) =>
    router.add(method, path, (request) =>
      Effect.gen(function*() {
        if (config.adminToken === undefined) return json(404, { error: "the admin API is disabled (no admin token configured)" })
        if (!isAdminRequest(request, config.adminToken)) return json(401, { error: "missing or wrong admin token" })
        return yield* handler(request)
      }).pipe(
        Effect.catch((error) =>
          Effect.succeed(
            error instanceof AdminError
              ? json(error.status, { error: error.message })
              : error._tag === "TaskNotFound"
              ? json(404, { error: error.message })
              : json(503, { error: `storage failed: ${error.message}` })
          )
        )
      ))

  yield* admin("GET", "/admin/secrets", (request) =>
    Effect.gen(function*() {
      const text = query(request).get("scope")
      const scope = text === null ? undefined : yield* secretScope(text)
      const listed = yield* secrets.list(scope)
      return json(200, { secrets: listed.map((s) => ({ scope: scopeKey(s.scope), name: s.name, updatedAt: new Date(s.updatedAt).toISOString() })) })
    }))

  yield* admin("PUT", "/admin/secrets", (request) =>
    Effect.gen(function*() {
      const body = yield* decodeSecretBody(yield* readBody(request, 64 * 1024).pipe(Effect.mapError(() => bad("body too large"))))
      const scope = yield* secretScope(body.scope)
      yield* secrets.set(scope, body.name, Redacted.make(body.value))
      return json(200, { scope: scopeKey(scope), name: body.name })
    }))

  yield* admin("DELETE", "/admin/secrets", (request) =>
    Effect.gen(function*() {
      const params = query(request)
      const scope = yield* secretScope(params.get("scope"))
      const name = Schema.decodeUnknownOption(SecretName)(params.get("name"))
      if (Option.isNone(name)) return yield* bad("name must look like ANTHROPIC_API_KEY")
      return json(200, { deleted: yield* secrets.delete(scope, name.value) })
    }))

  yield* admin("GET", "/admin/settings", (request) =>
    Effect.gen(function*() {
      const scope = yield* settingsScope(query(request).get("scope"))
      return json(200, { scope: scopeKey(scope), settings: yield* settings.get(scope) })
    }))

  yield* admin("PUT", "/admin/settings", (request) =>
    Effect.gen(function*() {
      const body = yield* decodeSettingsBody(yield* readBody(request, 64 * 1024).pipe(Effect.mapError(() => bad("body too large"))))
      const scope = yield* settingsScope(body.scope)
      yield* settings.set(scope, body.settings)
      return json(200, { scope: scopeKey(scope), settings: yield* settings.get(scope) })
    }))

  yield* admin("DELETE", "/admin/settings", (request) =>
    Effect.gen(function*() {
      const scope = yield* settingsScope(query(request).get("scope"))
      return json(200, { deleted: yield* settings.delete(scope) })
    }))

  yield* admin("GET", "/admin/tasks", (request) =>
    Effect.gen(function*() {
      const params = query(request)
      const state = params.get("state")
      const before = params.get("before")
      const limit = Number(params.get("limit") ?? "50")
      if (state !== null && !Schema.is(TaskState)(state)) return yield* bad(`state must be one of ${TaskState.literals.join(", ")}`)
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) return yield* bad("limit must be 1…500")
      const beforeId = before === null ? undefined : Schema.decodeUnknownOption(TaskId)(before)
      if (beforeId !== undefined && Option.isNone(beforeId)) return yield* bad("before must be a task id")
      const tasks = yield* store.list({
        limit,
        ...(state !== null ? { state: state as TaskState } : {}),
        ...(params.get("repo") !== null ? { repo: params.get("repo")! } : {}),
        ...(beforeId !== undefined && Option.isSome(beforeId) ? { before: beforeId.value } : {})
      })
      return json(200, { tasks: tasks.map(toView) })
    }))

  const taskIdParam = Effect.flatMap(HttpRouter.params, ({ taskId }) => {
    const id = Schema.decodeUnknownOption(TaskId)(taskId)
    return Option.isSome(id) ? Effect.succeed(id.value) : Effect.fail(new AdminError({ status: 404, message: `no task ${taskId}` }))
  })

  yield* admin("GET", "/admin/tasks/:taskId", () =>
    Effect.gen(function*() {
      const id = yield* taskIdParam
      const task = yield* store.get(id)
      const events = yield* store.events(id)
      return json(200, { task: toView(task), events })
    }))

  yield* admin("POST", "/admin/tasks/:taskId/cancel", () =>
    Effect.gen(function*() {
      const id = yield* taskIdParam
      const cancelled = yield* porter.cancelTask(id, "cancelled by an administrator")
      return json(200, { cancelled, task: toView(yield* store.get(id)) })
    }))

  yield* admin("POST", "/admin/sweep", () => Effect.map(porter.sweep, (report) => json(200, report)))
}))
