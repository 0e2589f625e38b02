/**
 * The refusals of Porter's HTTP API (`Api.ts`): one body shape, `{ "_tag": …, "message": … }`, and one status each.
 * Their own module, so a client of one group (the runner's callbacks: `CallbacksApi.ts`) carries only what it needs.
 */
import { Schema } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { TaskState } from "./Task.ts"

/** The request could not be read: malformed JSON, a missing or invalid field. */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  message: Schema.String
}, { httpApiStatus: 400 }) {}

/** No credential, or the wrong one, for this resource. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}, { httpApiStatus: 401 }) {}

/** Nothing here by that name (or the admin API is disabled). */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  message: Schema.String
}, { httpApiStatus: 404 }) {}

/** The task has ended, or has not started (no machine was asked for it yet): the runner must stop calling. */
export class TaskEnded extends Schema.TaggedError<TaskEnded>()("TaskEnded", {
  state: TaskState,
  message: Schema.String
}, { httpApiStatus: 409 }) {}

/** The body is larger than the endpoint takes. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  message: Schema.String
}, { httpApiStatus: 413 }) {}

/** Porter refused what the machine proposed (its change set): every reason, and the task has ended `failed`. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", {
  message: Schema.String,
  problems: Schema.Array(Schema.String)
}, { httpApiStatus: 422 }) {}

/** Porter's storage (or GitHub, on the way to a write) failed: retry later. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  message: Schema.String
}, { httpApiStatus: 503 }) {}

/** Turns a request that fails decoding into `BadRequest` with Schema's message. */
export class Validation extends HttpApiMiddleware.Service<Validation>()("@porter/core/Api/Validation", {
  error: BadRequest
}) {}
