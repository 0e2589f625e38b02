/**
 * Porter's HTTP API, as one `effect/http-api` definition: the server (`HttpApp`), the clients (the `porter` CLI,
 * the runner's callbacks, users' scripts: `HttpApiClient.make(Api)`) and `GET /openapi.json` all derive from it.
 * Definitions only: nothing here runs a server, so clients import it without the server's code.
 *
 *   GET  /healthz
 *   POST /webhooks/github                 GitHub's deliveries (signature checked by the handler: HMAC of the body)
 *   POST /callbacks/tasks/:taskId          the runner (task token)
 *   POST /callbacks/tasks/:taskId/changes  the agent's work as a change set: Porter commits it (task token)
 *   GET|POST /git/tasks/:taskId/…          the task's repository, read-only, for the machine's clone (task token)
 *   /gateway/tasks/:taskId/<provider>/…    the task's model calls, Porter's key attached (gateway credential, where
 *                                          the CLI puts its key; refusals in the provider's format: `GatewayApi.ts`)
 *   GET  /tasks/:taskId                    the task's status (its task token, or the admin token)
 *   /admin/…                               secrets, settings, tasks, sweep, key rotation, doctor (admin token)
 *
 * Every refusal has the body `{ "_tag": …, "message": … }` and its status (400, 401, 404, 409, 413, 422, 503): see
 * `ApiErrors.ts`. The machine's groups live in `CallbacksApi.ts` (the runner's client needs nothing else).
 */
import { Schema } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import * as AdminApi from "./AdminApi.ts"
import { BadRequest, NotFound, PayloadTooLarge, Unauthorized, Unavailable, Validation } from "./ApiErrors.ts"
import { Artifacts, Callbacks, Changes, Git } from "./CallbacksApi.ts"
import { Gateway } from "./GatewayApi.ts"
import { TaskId } from "./Ids.ts"
import { SecretName } from "./SecretStore.ts"
import { SettingsPatch } from "./Settings.ts"
import { TaskState } from "./Task.ts"

export * from "./ApiErrors.ts"
export {
  Artifacts,
  AuthenticatedTask,
  CallbackAnswer,
  Callbacks,
  CallbacksApi,
  Changes,
  Git,
  TaskAuth
} from "./CallbacksApi.ts"
export { Gateway } from "./GatewayApi.ts"

// --- Security ---------------------------------------------------------------------------------------------------

/** `Authorization: Bearer <task token>` of the task in the path, or the admin token. */
export class TaskOrAdminAuth extends HttpApiMiddleware.Service<TaskOrAdminAuth>()(
  "@porter/core/Api/TaskOrAdminAuth",
  { security: { bearer: HttpApiSecurity.bearer }, error: [Unauthorized, NotFound], requiredForClient: true }
) {}

/** `Authorization: Bearer <admin token>`; without a configured admin token the admin API answers 404. */
export class AdminAuth extends HttpApiMiddleware.Service<AdminAuth>()(
  "@porter/core/Api/AdminAuth",
  { security: { bearer: HttpApiSecurity.bearer }, error: [Unauthorized, NotFound], requiredForClient: true }
) {}

// --- Schemas ----------------------------------------------------------------------------------------------------

/** `POST /webhooks/github`: taken (202) or ignored (200). */
export const WebhookAccepted = Schema.Struct({ accepted: Schema.Boolean, deliveryId: Schema.String })
/** The answer to a delivery Porter does not act on (200): why. */
export const WebhookIgnored = Schema.Struct({ ignored: Schema.String })

/** Scopes as text: `global`, `repository:owner/name`, `installation:<id>`, `user:<github user id>`. */
export const ScopeText = Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(200)))

/** The body of `PUT /admin/secrets`: scope, name and value. */
export const SecretWrite = Schema.Struct({
  scope: ScopeText,
  name: SecretName,
  value: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(16_384)))
})
/** The answer to a secret written: its scope and name. */
export const SecretWritten = Schema.Struct({ scope: Schema.String, name: Schema.String })
/** The answer to a delete: whether there was something to delete. */
export const Deleted = Schema.Struct({ deleted: Schema.Boolean })

/** What a key rotation re-encrypted (`POST /admin/secrets/rotate`). */
export const RotationReport = Schema.Struct({
  rotated: Schema.Number,
  failed: Schema.Number,
  failures: Schema.Array(Schema.Struct({ scope: Schema.String, name: Schema.String, keyId: Schema.String })),
  currentKeyId: Schema.String
})

/** The body of `PUT /admin/settings`: a scope and the settings to store there. */
export const SettingsWrite = Schema.Struct({ scope: ScopeText, settings: SettingsPatch })
/** A scope's stored settings. */
export const SettingsAnswer = Schema.Struct({ scope: Schema.String, settings: SettingsPatch })

/** The query of `GET /admin/tasks`: state, repository, page size, and where the page starts. */
export const TaskQuery = {
  state: Schema.optional(TaskState),
  repo: Schema.optional(Schema.String),
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 500 })))
  ),
  before: Schema.optional(TaskId)
}

/** The answer to a cancel: whether the task was active, and the task. */
export const Cancelled = Schema.Struct({ cancelled: Schema.Boolean, task: AdminApi.TaskView })
/** The answer to a retry: the new task. */
export const Retried = Schema.Struct({ task: AdminApi.TaskView })

/** What one watchdog sweep did (`POST /admin/sweep`). */
export const SweepReport = Schema.Struct({
  checked: Schema.Number,
  timedOut: Schema.Number,
  redispatched: Schema.Number,
  failed: Schema.Number,
  orphansDestroyed: Schema.Number,
  deliveriesRetried: Schema.Number
})

/** One configuration check of `GET /admin/doctor`: its name, status and message. */
export const DoctorCheck = Schema.Struct({
  name: Schema.String,
  status: Schema.Literals(["pass", "fail", "warn", "skip"]),
  message: Schema.String
})
/** What `GET /admin/doctor` finds: 200 when nothing failed, else 503 with the same body. */
export const DoctorReport = Schema.Struct({
  ok: Schema.Boolean,
  checks: Schema.Array(DoctorCheck),
  text: Schema.String
})
export type DoctorReport = typeof DoctorReport.Type

// --- Groups -----------------------------------------------------------------------------------------------------

const TaskPath = { taskId: TaskId }

/** `GET /healthz`. */
export class System extends HttpApiGroup.make("system", { topLevel: true }).add(
  HttpApiEndpoint.get("health", "/healthz", { success: Schema.Struct({ ok: Schema.Boolean }) })
) {}

/** `POST /webhooks/github`: GitHub's deliveries. */
export class Webhooks extends HttpApiGroup.make("webhooks").add(
  HttpApiEndpoint.post("github", "/webhooks/github", {
    // The handler reads the raw body: the signature is an HMAC of its bytes.
    payload: Schema.Unknown,
    success: [WebhookAccepted.pipe(HttpApiSchema.status(202)), WebhookIgnored],
    error: [BadRequest, Unauthorized, PayloadTooLarge, Unavailable]
  }).annotateMerge(OpenApi.annotations({
    description: "A GitHub webhook delivery, signed with the App's webhook secret (X-Hub-Signature-256)."
  }))
) {}

/** `GET /tasks/:taskId`: a task's status (its task token or the admin token). */
export class Tasks extends HttpApiGroup.make("tasks").add(
  HttpApiEndpoint.get("view", "/tasks/:taskId", {
    params: TaskPath,
    success: AdminApi.TaskView,
    error: [NotFound, Unavailable]
  })
).middleware(TaskOrAdminAuth) {}

/** The admin API (`/admin/…`, the admin token): secrets, settings, tasks, sweep, doctor. */
export class Admin extends HttpApiGroup.make("admin").add(
  HttpApiEndpoint.get("listSecrets", "/secrets", {
    query: { scope: Schema.optional(ScopeText) },
    success: AdminApi.SecretList,
    error: [BadRequest, Unavailable]
  }),
  HttpApiEndpoint.put("setSecret", "/secrets", {
    payload: SecretWrite,
    success: SecretWritten,
    error: [BadRequest, Unavailable]
  }),
  HttpApiEndpoint.delete("deleteSecret", "/secrets", {
    query: { scope: ScopeText, name: SecretName },
    success: Deleted,
    error: [BadRequest, Unavailable]
  }),
  HttpApiEndpoint.post("rotateSecrets", "/secrets/rotate", { success: RotationReport, error: Unavailable }),
  HttpApiEndpoint.get("getSettings", "/settings", {
    query: { scope: ScopeText },
    success: SettingsAnswer,
    error: [BadRequest, Unavailable]
  }),
  HttpApiEndpoint.put("setSettings", "/settings", {
    payload: SettingsWrite,
    success: SettingsAnswer,
    error: [BadRequest, Unavailable]
  }),
  HttpApiEndpoint.delete("deleteSettings", "/settings", {
    query: { scope: ScopeText },
    success: Deleted,
    error: [BadRequest, Unavailable]
  }),
  HttpApiEndpoint.get("listTasks", "/tasks", { query: TaskQuery, success: AdminApi.TaskList, error: Unavailable }),
  HttpApiEndpoint.get("getTask", "/tasks/:taskId", {
    params: TaskPath,
    success: AdminApi.TaskDetail,
    error: [NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("cancelTask", "/tasks/:taskId/cancel", {
    params: TaskPath,
    success: Cancelled,
    error: [NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("retryTask", "/tasks/:taskId/retry", {
    params: TaskPath,
    success: Retried,
    error: [BadRequest, NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("sweep", "/sweep", { success: SweepReport }),
  HttpApiEndpoint.get("doctor", "/doctor", {
    success: DoctorReport,
    error: DoctorReport.pipe(HttpApiSchema.status(503))
  })
).middleware(AdminAuth).prefix("/admin") {}

/** The whole API. */
export class Api extends HttpApi.make("porter")
  .add(System)
  .add(Webhooks)
  .add(Callbacks)
  .add(Changes)
  .add(Artifacts)
  .add(Git)
  .add(Gateway)
  .add(Tasks)
  .add(Admin)
  .middleware(Validation)
  .annotateMerge(OpenApi.annotations({
    title: "Porter",
    version: "0.1.0",
    description:
      "Drive coding agents from GitHub comments: webhooks, the machine's callbacks, change sets, read-only " +
      "clone and model gateway, task status and the admin API."
  }))
{}
