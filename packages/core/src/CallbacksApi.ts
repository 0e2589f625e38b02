/**
 * The machine's part of Porter's HTTP API, all under the task token of the task in the path:
 *
 *   POST /callbacks/tasks/:taskId            started, heartbeat, completed
 *   POST /callbacks/tasks/:taskId/changes    the agent's work as a change set: Porter checks and commits it
 *   POST /callbacks/tasks/:taskId/artifacts  the agent's session, the run's transcript, the diff: Porter keeps them
 *   GET  /callbacks/tasks/:taskId/session    the session a continuation resumes (its earlier task's)
 *   GET  /git/tasks/:taskId/info/refs        the task's repository, read-only (git's smart HTTP, upload-pack only),
 *   POST /git/tasks/:taskId/git-upload-pack  fetched by Porter with its own token while the task is active
 *
 * `Api.ts` adds these groups to the whole API; the runner derives its client from `CallbacksApi` alone, so a machine's
 * program carries (and evaluates at start) only these schemas. Git is served raw (its own protocol, streamed).
 */
import { Context, Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSecurity, OpenApi } from "effect/http-api"
import { NotFound, PayloadTooLarge, Refused, TaskEnded, Unauthorized, Unavailable, Validation } from "./ApiErrors.ts"
import { ArtifactKind, MAX_ARTIFACT_BYTES } from "./ArtifactStore.ts"
import { CallbackEvent } from "./Callback.ts"
import { ChangeSet, MAX_BODY_BYTES as MAX_CHANGE_SET_BYTES, Published } from "./ChangeSet.ts"
import { TaskId } from "./Ids.ts"
import { TaskState } from "./Task.ts"

/** The task whose token a request carried (callbacks, the task view). */
export class AuthenticatedTask extends Context.Service<AuthenticatedTask, { readonly taskId: TaskId }>()(
  "@porter/core/Api/AuthenticatedTask"
) {}

/**
 * `Authorization: Bearer <task token>` of the task in the path (`:taskId`), checked before the body is read; each
 * route's body limit is set here too (`bodyLimitFor`).
 */
export class TaskAuth extends HttpApiMiddleware.Service<TaskAuth, { provides: AuthenticatedTask }>()(
  "@porter/core/Api/TaskAuth",
  { security: { bearer: HttpApiSecurity.bearer }, error: Unauthorized, requiredForClient: true }
) {}

/** Callback bodies larger than this are refused (413). */
export const MAX_CALLBACK_BYTES = 256 * 1024

/** Git's upload-pack requests (wants and haves) larger than this are refused (413). */
export const MAX_UPLOAD_PACK_REQUEST_BYTES = 4 * 1024 * 1024

/** An artifact's body: its text and a little JSON (content of two-byte characters, escaped, fits). */
export const MAX_ARTIFACT_BODY_BYTES = 4 * MAX_ARTIFACT_BYTES + 16 * 1024

/** The body limit of a machine's route (by its path). */
export const bodyLimitFor = (path: string): number =>
  path.endsWith("/changes")
    ? MAX_CHANGE_SET_BYTES
    : path.endsWith("/artifacts")
    ? MAX_ARTIFACT_BODY_BYTES
    : path.endsWith("/git-upload-pack")
    ? MAX_UPLOAD_PACK_REQUEST_BYTES
    : MAX_CALLBACK_BYTES

/** A callback was applied. */
export const CallbackAnswer = Schema.Struct({
  accepted: Schema.Boolean,
  state: TaskState,
  message: Schema.optional(Schema.String),
  /**
   * Porter asks the runner to stop its agent and hand over the work so far (a checkpoint change set, then `completed`
   * with `checkpoint`) within its grace period: why (cancelled, over budget, past the deadline).
   */
  stop: Schema.optional(Schema.String)
})

/** One artifact of the run, handed over by the machine (scrubbed there, redacted again by Porter). */
export const ArtifactUpload = Schema.Struct({
  kind: ArtifactKind,
  /** What the agent's CLI knows it by (Claude Code's session id), or a file name. */
  name: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(200))),
  content: Schema.String.pipe(Schema.check(Schema.isMaxLength(2 * MAX_ARTIFACT_BYTES)))
})

/** The artifact was kept; where people can read it, when that is known. */
export const ArtifactStored = Schema.Struct({ url: Schema.optional(Schema.String) })

/** The session a continuation's agent resumes. */
export const SessionHandover = Schema.Struct({
  agent: Schema.String,
  name: Schema.String,
  content: Schema.String
})

const TaskPath = { taskId: TaskId }

/** `POST /callbacks/tasks/:taskId`: a machine's events (its task token). */
export class Callbacks extends HttpApiGroup.make("callbacks").add(
  HttpApiEndpoint.post("send", "/callbacks/tasks/:taskId", {
    params: TaskPath,
    payload: CallbackEvent,
    success: CallbackAnswer,
    error: [TaskEnded, NotFound, PayloadTooLarge, Unavailable]
  })
).middleware(TaskAuth) {}

/** `POST /callbacks/tasks/:taskId/changes`: a machine's change set, which Porter commits. */
export class Changes extends HttpApiGroup.make("changes").add(
  HttpApiEndpoint.post("publish", "/callbacks/tasks/:taskId/changes", {
    params: TaskPath,
    payload: ChangeSet,
    success: Published,
    error: [Refused, TaskEnded, NotFound, PayloadTooLarge, Unavailable]
  }).annotateMerge(OpenApi.annotations({
    description: "The agent's commits as a change set. Porter checks them (paths, links, workflows, secrets) and " +
      "commits them with its own token on the task's branch, then opens the pull request. A refusal (422) ends " +
      "the task failed, with every reason on the issue."
  }))
).middleware(TaskAuth) {}

/** The machine hands over its agent's session, the transcript and the diff; a continuation fetches its session. */
export class Artifacts extends HttpApiGroup.make("artifacts").add(
  HttpApiEndpoint.post("upload", "/callbacks/tasks/:taskId/artifacts", {
    params: TaskPath,
    payload: ArtifactUpload,
    success: ArtifactStored,
    error: [TaskEnded, NotFound, PayloadTooLarge, Unavailable]
  }).annotateMerge(OpenApi.annotations({
    description: "The agent's session, the run's transcript or its diff. Porter redacts every secret it knows of and " +
      "keeps it for the retention period (and copies it to the mirror, a secret gist, when there is one)."
  })),
  HttpApiEndpoint.get("session", "/callbacks/tasks/:taskId/session", {
    params: TaskPath,
    success: SessionHandover,
    error: [TaskEnded, NotFound, Unavailable]
  }).annotateMerge(OpenApi.annotations({
    description: "For a continuation (`@porter continue`): the agent session of the task it continues, to resume it. " +
      "404 when there is none to resume (another agent ran it, or nothing was kept)."
  }))
).middleware(TaskAuth) {}

/** Git's smart HTTP for one task's repository, read-only: `git clone <publicUrl>/git/tasks/<taskId>`. */
export class Git extends HttpApiGroup.make("git").add(
  HttpApiEndpoint.get("refs", "/git/tasks/:taskId/info/refs", {
    params: TaskPath,
    query: { service: Schema.Literal("git-upload-pack") },
    error: [TaskEnded, NotFound, Unavailable]
  }),
  HttpApiEndpoint.post("uploadPack", "/git/tasks/:taskId/git-upload-pack", {
    params: TaskPath,
    // Git's own protocol, passed through as bytes.
    payload: Schema.Unknown,
    error: [TaskEnded, NotFound, PayloadTooLarge, Unavailable]
  })
).middleware(TaskAuth) {}

/** An API of the runner's groups alone (the same groups as in `Api`), for the runner's client. */
export class CallbacksApi extends HttpApi.make("porter").add(Callbacks).add(Changes).add(Artifacts).middleware(
  Validation
) {}
