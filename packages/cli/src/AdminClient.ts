/**
 * A client of a Porter deployment's admin API (`packages/core/src/HttpAdmin.ts`, and the Worker's
 * `GET /admin/doctor`), over Effect's `HttpClient`: secrets (names only — values go one way), tasks and their
 * audit trail, the doctor's report. Every answer is decoded with Schema; every failure is an `AdminError` whose
 * message says what to do (unreachable URL, refused token, admin API disabled), never a secret value.
 *
 * Cannot: create settings or cancel tasks (the API can; the CLI does not expose them yet).
 */
import { AdminApi, Task } from "@porter/core"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"

export interface Options {
  /** The deployment's URL (`https://porter.example.workers.dev`). */
  readonly url: string
  /** Its `PORTER_ADMIN_TOKEN`. */
  readonly token: Redacted.Redacted<string>
  /** Per request (default 30 s). */
  readonly timeoutMs?: number | undefined
}

/** A request to the admin API failed; `message` is one line for the user. */
export class AdminError extends Schema.TaggedError<AdminError>()("AdminError", {
  message: Schema.String,
  status: Schema.optional(Schema.Number)
}) {}

// The answers' schemas are core's, the same definitions the server builds its answers from.
export const SecretEntry: typeof AdminApi.SecretEntry = AdminApi.SecretEntry
export const TaskView: typeof AdminApi.TaskView = AdminApi.TaskView
export const TaskDetail: typeof AdminApi.TaskDetail = AdminApi.TaskDetail
export type SecretEntry = AdminApi.SecretEntry
export type TaskView = AdminApi.TaskView
export type TaskDetail = AdminApi.TaskDetail
export const Usage: typeof Task.Usage = Task.Usage

export const DoctorCheck = Schema.Struct({
  name: Schema.String,
  status: Schema.Literals(["pass", "fail", "warn", "skip"]),
  message: Schema.String
})
export const DoctorReport = Schema.Struct({ ok: Schema.Boolean, checks: Schema.Array(DoctorCheck), text: Schema.String })
export type DoctorReport = typeof DoctorReport.Type

export interface TaskQuery {
  readonly state?: string | undefined
  readonly repo?: string | undefined
  readonly limit?: number | undefined
}

export class AdminClient extends Context.Service<AdminClient, {
  /** The deployment's URL, without a trailing slash. */
  readonly url: string
  readonly listSecrets: (scope?: string) => Effect.Effect<ReadonlyArray<SecretEntry>, AdminError>
  readonly setSecret: (scope: string, name: string, value: Redacted.Redacted<string>) => Effect.Effect<void, AdminError>
  /** `false` when there was no such secret. */
  readonly deleteSecret: (scope: string, name: string) => Effect.Effect<boolean, AdminError>
  /** Newest first. */
  readonly listTasks: (query?: TaskQuery) => Effect.Effect<ReadonlyArray<TaskView>, AdminError>
  readonly showTask: (id: string) => Effect.Effect<TaskDetail, AdminError>
  /** The deployment's own doctor report (`GET /admin/doctor`), failed checks included. */
  readonly doctor: Effect.Effect<DoctorReport, AdminError>
}>()("@porter/cli/AdminClient") {}

const ErrorBody = Schema.Struct({ error: Schema.String })
const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))

/** An absolute http(s) URL without a trailing slash, or an error that says how to write it. */
export const normalizeUrl = (text: string): Effect.Effect<string, AdminError> => {
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    return Effect.fail(
      new AdminError({ message: `"${text}" is not a URL: pass the deployment's URL, like https://porter.example.workers.dev` })
    )
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Effect.fail(new AdminError({ message: `the URL must be http(s), not ${url.protocol}` }))
  }
  return Effect.succeed(`${url.origin}${url.pathname.replace(/\/+$/, "")}`)
}

const describe = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  if (cause instanceof Error) {
    const code = Reflect.get(cause, "code")
    return typeof code === "string" ? code : cause.message
  }
  return String(cause)
}

export const make = Effect.fnUntraced(function*(options: Options) {
  const url = yield* normalizeUrl(options.url)
  const timeoutMs = options.timeoutMs ?? 30_000
  const client = (yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequest((request) =>
      request.pipe(
        HttpClientRequest.prependUrl(url),
        HttpClientRequest.bearerToken(options.token),
        HttpClientRequest.acceptJson
      )
    )
  )
  const unreachable = (cause: unknown) =>
    new AdminError({
      message: `cannot reach Porter at ${url} (${describe(cause)}): check the URL (--url or PORTER_URL) and that ` +
        "the Worker is running"
    })

  /** Sends `request`; statuses in `accept` are decoded with `schema`, others become an `AdminError`. */
  const call = <S extends Schema.Top>(
    request: HttpClientRequest.HttpClientRequest,
    schema: S,
    accept: ReadonlyArray<number> = [200]
  ): Effect.Effect<S["Type"], AdminError, S["DecodingServices"]> =>
    Effect.gen(function*() {
      const response: HttpClientResponse.HttpClientResponse = yield* client.execute(request).pipe(
        Effect.timeoutOrElse({
          duration: timeoutMs,
          orElse: () => Effect.fail(unreachable(new Error(`no answer within ${timeoutMs / 1000} s`)))
        }),
        Effect.mapError((error) =>
          error instanceof AdminError
            ? error
            : unreachable(error.reason._tag === "TransportError" ? error.reason.cause : error)
        )
      )
      const text = yield* response.text.pipe(Effect.mapError(unreachable))
      if (!accept.includes(response.status)) {
        const said = Option.getOrUndefined(Option.map(decodeErrorBody(text), (body) => body.error))
        return yield* new AdminError({ status: response.status, message: statusMessage(response.status, said) })
      }
      return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(text).pipe(
        Effect.mapError(() =>
          new AdminError({
            status: response.status,
            message: `${url} answered ${request.method} ${request.url} with something that is not Porter's admin ` +
              "API: check the URL (--url or PORTER_URL)"
          })
        )
      ) as Effect.Effect<S["Type"], AdminError, S["DecodingServices"]>
    })

  const statusMessage = (status: number, said: string | undefined): string => {
    if (status === 401) {
      return `${url} refused the admin token: pass the deployment's PORTER_ADMIN_TOKEN (--admin-token or ` +
        "PORTER_ADMIN_TOKEN)"
    }
    if (status === 404 && said !== undefined && said.includes("disabled")) {
      return `${said}: set PORTER_ADMIN_TOKEN on the Worker (\`wrangler secret put PORTER_ADMIN_TOKEN\`)`
    }
    if (said !== undefined) return `${url} answered ${status}: ${said}`
    return status === 404
      ? `${url} has no Porter admin API (404): check the URL (--url or PORTER_URL)`
      : `${url} answered ${status}`
  }

  const decodeSecrets = AdminApi.SecretList
  const decodeTasks = AdminApi.TaskList

  return AdminClient.of({
    url,
    listSecrets: Effect.fn("AdminClient.listSecrets")(function*(scope?: string) {
      const request = HttpClientRequest.get("/admin/secrets").pipe(
        HttpClientRequest.setUrlParams(scope === undefined ? {} : { scope })
      )
      return (yield* call(request, decodeSecrets)).secrets
    }),
    setSecret: Effect.fn("AdminClient.setSecret")(function*(scope: string, name: string, value: Redacted.Redacted<string>) {
      const request = HttpClientRequest.put("/admin/secrets").pipe(
        HttpClientRequest.bodyJsonUnsafe({ scope, name, value: Redacted.value(value) })
      )
      yield* call(request, Schema.Struct({ scope: Schema.String, name: Schema.String }))
    }),
    deleteSecret: Effect.fn("AdminClient.deleteSecret")(function*(scope: string, name: string) {
      const request = HttpClientRequest.delete("/admin/secrets").pipe(HttpClientRequest.setUrlParams({ scope, name }))
      return (yield* call(request, Schema.Struct({ deleted: Schema.Boolean }))).deleted
    }),
    listTasks: Effect.fn("AdminClient.listTasks")(function*(query: TaskQuery = {}) {
      const params: Record<string, string> = {}
      if (query.state !== undefined) params["state"] = query.state
      if (query.repo !== undefined) params["repo"] = query.repo
      if (query.limit !== undefined) params["limit"] = String(query.limit)
      const request = HttpClientRequest.get("/admin/tasks").pipe(HttpClientRequest.setUrlParams(params))
      return (yield* call(request, decodeTasks)).tasks
    }),
    showTask: Effect.fn("AdminClient.showTask")(function*(id: string) {
      return yield* call(HttpClientRequest.get(`/admin/tasks/${encodeURIComponent(id)}`), TaskDetail)
    }),
    doctor: call(HttpClientRequest.get("/admin/doctor"), DoctorReport, [200, 503]).pipe(
      Effect.withSpan("AdminClient.doctor")
    )
  })
})

/** @category layers */
export const layer = (options: Options): Layer.Layer<AdminClient, AdminError, HttpClient.HttpClient> =>
  Layer.effect(AdminClient, make(options))

/** `PORTER_URL` and `PORTER_ADMIN_TOKEN`. */
export const config = Config.all({
  url: Config.String("PORTER_URL"),
  token: Config.Redacted("PORTER_ADMIN_TOKEN")
})

/** @category layers */
export const layerConfig: Layer.Layer<AdminClient, AdminError | Config.ConfigError, HttpClient.HttpClient> = Layer.effect(
  AdminClient,
  Effect.flatMap(config, make)
)
