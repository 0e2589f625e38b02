/**
 * The runner's part of Porter's HTTP API: `POST /callbacks/tasks/:taskId` with the task token. `Api.ts` adds this
 * group to the whole API; the runner derives its client from `CallbacksApi` alone, so a machine's program carries
 * (and evaluates at start) only this group's schemas.
 */
import { Context, Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSecurity } from "effect/http-api"
import { NotFound, PayloadTooLarge, TaskEnded, Unauthorized, Unavailable, Validation } from "./ApiErrors.ts"
import { CallbackEvent } from "./Callback.ts"
import { TaskId } from "./Ids.ts"
import { TaskState } from "./Task.ts"

/** The task whose token a request carried (callbacks, the task view). */
export class AuthenticatedTask extends Context.Service<AuthenticatedTask, { readonly taskId: TaskId }>()(
  "@porter/core/Api/AuthenticatedTask"
) {}

/** `Authorization: Bearer <task token>` of the task in the path (`:taskId`). */
export class TaskAuth extends HttpApiMiddleware.Service<TaskAuth, { provides: AuthenticatedTask }>()(
  "@porter/core/Api/TaskAuth",
  { security: { bearer: HttpApiSecurity.bearer }, error: Unauthorized, requiredForClient: true }
) {}

/** A callback was applied. */
export const CallbackAnswer = Schema.Struct({
  accepted: Schema.Boolean,
  state: TaskState,
  message: Schema.optional(Schema.String)
})

const TaskPath = { taskId: TaskId }

export class Callbacks extends HttpApiGroup.make("callbacks").add(
  HttpApiEndpoint.post("send", "/callbacks/tasks/:taskId", {
    params: TaskPath,
    payload: CallbackEvent,
    success: CallbackAnswer,
    error: [TaskEnded, NotFound, PayloadTooLarge, Unavailable]
  })
).middleware(TaskAuth) {}

/** An API of the callbacks alone (the same group as in `Api`), for the runner's client. */
export class CallbacksApi extends HttpApi.make("porter").add(Callbacks).middleware(Validation) {}
