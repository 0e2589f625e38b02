/**
 * The `porter` CLI's view of a deployment's admin API, over the client derived from Porter's API definition
 * (`@porter/core`'s `ApiClient`): secrets (names only — values go one way) and key rotation, tasks with their audit
 * trail, cancel and retry, the doctor's report. Every answer is decoded with the API's own schemas; every failure is
 * an `AdminError` whose message says what to do (unreachable URL, refused token, admin API disabled), never a secret
 * value.
 */
import { AdminApi, Api, ApiClient, Ids, type SecretStore, Task } from "@porter/core"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/** Where the deployment is and its admin token. */
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
/** A stored secret as the admin API lists it (no value). */
export const SecretEntry: typeof AdminApi.SecretEntry = AdminApi.SecretEntry
/** A task as the admin API lists it. */
export const TaskView: typeof AdminApi.TaskView = AdminApi.TaskView
/** A task with its audit trail, as the admin API shows it. */
export const TaskDetail: typeof AdminApi.TaskDetail = AdminApi.TaskDetail
/** A stored secret as the admin API lists it (no value). */
export type SecretEntry = AdminApi.SecretEntry
/** A task as the admin API lists it. */
export type TaskView = AdminApi.TaskView
/** A task with its audit trail, as the admin API shows it. */
export type TaskDetail = AdminApi.TaskDetail
/** A task's tokens and cost. */
export const Usage: typeof Task.Usage = Task.Usage
/** The deployment's configuration checks (`GET /admin/doctor`). */
export const DoctorReport: typeof Api.DoctorReport = Api.DoctorReport
/** The deployment's configuration checks (`GET /admin/doctor`). */
export type DoctorReport = Api.DoctorReport
/** What a key rotation re-encrypted. */
export type RotationReport = typeof Api.RotationReport.Type

/** Which tasks `listTasks` asks for. */
export interface TaskQuery {
  readonly state?: string | undefined
  readonly repo?: string | undefined
  readonly limit?: number | undefined
}

/** The admin API's client, derived from core's API definition. */
export class AdminClient extends Context.Service<AdminClient, {
  /** The deployment's URL, without a trailing slash. */
  readonly url: string
  readonly listSecrets: (scope?: string) => Effect.Effect<ReadonlyArray<SecretEntry>, AdminError>
  readonly setSecret: (scope: string, name: string, value: Redacted.Redacted<string>) => Effect.Effect<void, AdminError>
  /** `false` when there was no such secret. */
  readonly deleteSecret: (scope: string, name: string) => Effect.Effect<boolean, AdminError>
  /** Re-encrypts every secret under the deployment's current encryption key. */
  readonly rotateSecrets: Effect.Effect<RotationReport, AdminError>
  /** Newest first. */
  readonly listTasks: (query?: TaskQuery) => Effect.Effect<ReadonlyArray<TaskView>, AdminError>
  readonly showTask: (id: string) => Effect.Effect<TaskDetail, AdminError>
  /** `false` when the task had already ended. */
  readonly cancelTask: (
    id: string
  ) => Effect.Effect<{ readonly cancelled: boolean; readonly task: TaskView }, AdminError>
  /** Runs an ended task again as a new task; the new one. */
  readonly retryTask: (id: string) => Effect.Effect<TaskView, AdminError>
  /** The deployment's own doctor report (`GET /admin/doctor`), failed checks included. */
  readonly doctor: Effect.Effect<DoctorReport, AdminError>
}>()("@porter/cli/AdminClient") {}

/** An absolute http(s) URL without a trailing slash, or an error that says how to write it. */
export const normalizeUrl = (text: string): Effect.Effect<string, AdminError> => {
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    return Effect.fail(
      new AdminError({
        message: `"${text}" is not a URL: pass the deployment's URL, like https://porter.example.workers.dev`
      })
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

/** What any call may fail with: the API's refusals, the transport, an answer that is not Porter's. */
type CallError =
  | Api.BadRequest
  | Api.Unauthorized
  | Api.NotFound
  | Api.Unavailable
  | HttpClientError.HttpClientError
  | Schema.SchemaError

/** The admin API's client for a deployment. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const url = yield* normalizeUrl(options.url)
  const timeout = Duration.millis(options.timeoutMs ?? 30_000)
  const client = yield* ApiClient.make({ baseUrl: url, token: options.token })

  const refused = (error: CallError): AdminError => {
    switch (error._tag) {
      case "Unauthorized":
        return new AdminError({
          status: 401,
          message:
            `${url} refused the admin token: pass the deployment's PORTER_ADMIN_TOKEN (--admin-token or PORTER_ADMIN_TOKEN)`
        })
      case "NotFound":
        return new AdminError({
          status: 404,
          message: error.message.includes("disabled")
            ? `${error.message}: set PORTER_ADMIN_TOKEN on the Worker (\`wrangler secret put PORTER_ADMIN_TOKEN\`)`
            : `${url} answered 404: ${error.message}`
        })
      case "BadRequest":
      case "Unavailable":
        return new AdminError({ message: `${url} answered: ${error.message}` })
      case "HttpClientError":
        if (error.reason._tag === "TransportError") return unreachable(error.reason.cause ?? error.reason.description)
        return new AdminError({
          ...(error.response !== undefined ? { status: error.response.status } : {}),
          message: error.response?.status === 404
            ? `${url} has no Porter admin API (404): check the URL (--url or PORTER_URL)`
            : `${url} answered with something that is not Porter's admin API: check the URL (--url or PORTER_URL)`
        })
      case "SchemaError":
        return new AdminError({
          message: `${url} answered with something that is not Porter's admin API: check the URL (--url or PORTER_URL)`
        })
    }
  }

  const unreachable = (cause: unknown) =>
    new AdminError({
      message: `cannot reach Porter at ${url} (${describe(cause)}): check the URL (--url or PORTER_URL) and that ` +
        "the Worker is running"
    })

  /** One call, bounded in time, its failures in the user's words. */
  const call = <A>(effect: Effect.Effect<A, CallError>): Effect.Effect<A, AdminError> =>
    effect.pipe(
      Effect.mapError(refused),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(unreachable(new Error(`no answer within ${Duration.toSeconds(timeout)} s`)))
      })
    )

  const taskId = (id: string): Effect.Effect<Ids.TaskId, AdminError> =>
    Effect.mapError(
      Schema.decodeUnknownEffect(Ids.TaskId)(id),
      () => new AdminError({ message: `\`${id.slice(0, 80)}\` is not a task id (task_ and 26 letters and digits)` })
    )

  return AdminClient.of({
    url,
    listSecrets: (scope) =>
      call(client.admin.listSecrets({ query: scope === undefined ? {} : { scope } })).pipe(
        Effect.map((l) => l.secrets)
      ),
    setSecret: (scope, name, value) =>
      call(
        client.admin.setSecret({
          payload: { scope, name: name as SecretStore.SecretName, value: Redacted.value(value) }
        })
      )
        .pipe(Effect.asVoid),
    deleteSecret: (scope, name) =>
      call(client.admin.deleteSecret({ query: { scope, name: name as SecretStore.SecretName } })).pipe(
        Effect.map((answer) => answer.deleted)
      ),
    rotateSecrets: call(client.admin.rotateSecrets()),
    listTasks: (query = {}) =>
      call(client.admin.listTasks({
        query: {
          ...(query.state !== undefined ? { state: query.state as Task.TaskState } : {}),
          ...(query.repo !== undefined ? { repo: query.repo } : {}),
          ...(query.limit !== undefined ? { limit: query.limit } : {})
        }
      })).pipe(Effect.map((list) => list.tasks)),
    showTask: (id) => Effect.flatMap(taskId(id), (taskId) => call(client.admin.getTask({ params: { taskId } }))),
    cancelTask: (id) => Effect.flatMap(taskId(id), (taskId) => call(client.admin.cancelTask({ params: { taskId } }))),
    retryTask: (id) =>
      Effect.flatMap(taskId(id), (taskId) => call(client.admin.retryTask({ params: { taskId } }))).pipe(
        Effect.map((answer) => answer.task)
      ),
    // 503 carries the same report: failed checks are the answer, not a failure.
    doctor: call(
      client.admin.doctor().pipe(
        Effect.catchIf((error): error is DoctorReport => "checks" in error, (report) => Effect.succeed(report))
      )
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
export const layerConfig: Layer.Layer<AdminClient, AdminError | Config.ConfigError, HttpClient.HttpClient> = Layer
  .effect(
    AdminClient,
    Effect.flatMap(config, make)
  )
