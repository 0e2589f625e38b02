/**
 * Callbacks: `POST CALLBACK_URL` with `Authorization: Bearer CALLBACK_TOKEN` and a `CallbackEvent`
 * body (scrubbed of every secret), and `POST CALLBACK_URL/changes` with the agent's change set, through the client
 * derived from Porter's API definition (`@porter/core`'s `CallbacksClient`). Network errors, 5xx and 429 are retried
 * with exponential backoff (a change set a few times: Porter's publish is idempotent for a retry of the same one);
 * 409 means the task already ended (cancelled, timed out) and becomes `TaskEnded`; 422 on a change set is Porter's
 * refusal (`ChangesRefused`: the task has ended failed, every reason is on the issue); other refusals (400, 401, 404,
 * 413) are not retried. An answer may ask the runner to stop and hand over its work (`stop`: a checkpoint).
 *
 * Artifacts (`POST …/artifacts`: the agent's session, the transcript, the diff) are scrubbed before they leave, like
 * every callback; `session` fetches the session a continuation resumes (`GET …/session`).
 */
import { type ArtifactStore, Callback, CallbacksClient, type ChangeSet, Ids } from "@porter/core"
import { Context, Duration, Effect, Layer, Option, type Redacted, Schedule, Schema } from "effect"
import { HttpClient, HttpClientError } from "effect/http"
import { Scrubber, scrubDeep } from "./Scrubber.ts"

/** The server answered 409: the task is over, the runner must stop. */
export class TaskEnded extends Schema.TaggedError<TaskEnded>()("TaskEnded", {
  state: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `the task has already ended${this.state ? ` (${this.state})` : ""}`
  }
}

/** The server refused the callback for good (bad token, unknown task, malformed body). */
export class CallbackRefused extends Schema.TaggedError<CallbackRefused>()("CallbackRefused", {
  status: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `the callback was refused with HTTP ${this.status}: ${this.detail}`
  }
}

/** The server could not be reached, or kept failing, through every retry. */
export class CallbackUnreachable extends Schema.TaggedError<CallbackUnreachable>()("CallbackUnreachable", {
  detail: Schema.String
}) {
  override get message(): string {
    return `the callback could not be delivered: ${this.detail}`
  }
}

/** Porter refused the change set (422): the task has ended failed and Porter commented every reason on the issue. */
export class ChangesRefused extends Schema.TaggedError<ChangesRefused>()("ChangesRefused", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Porter refused the agent's changes: ${this.problems.join("; ")}`
  }
}

/** Why a callback did not get through: the task ended, Porter refused it, or Porter could not be reached. */
export type CallbackError = TaskEnded | CallbackRefused | CallbackUnreachable

/** What Porter answered a callback: whether it asks the runner to stop its agent and hand over its work, and why. */
export interface Answer {
  readonly stop: string | undefined
}

/** The runner's calls to Porter: events, the change set, artifacts, the session to resume. */
export class Callbacks extends Context.Service<Callbacks, {
  readonly send: (event: Callback.CallbackEvent) => Effect.Effect<Answer, CallbackError>
  /** Hands one artifact of the run to Porter (scrubbed); where people can read it, when Porter says. */
  readonly artifact: (
    artifact: { readonly kind: ArtifactStore.ArtifactKind; readonly name: string; readonly content: string }
  ) => Effect.Effect<string | undefined, CallbackError>
  /** The agent session this continuation resumes; `undefined` when Porter has none for it. */
  readonly session: Effect.Effect<
    { readonly agent: string; readonly name: string; readonly content: string } | undefined,
    CallbackError
  >
  /** Sends the agent's work; what Porter made of it (branch, commits, pull request). The summary is scrubbed. */
  readonly publish: (
    changeSet: ChangeSet.ChangeSet
  ) => Effect.Effect<ChangeSet.Published, CallbackError | ChangesRefused>
}>()("@porter/runner/Callbacks") {}

/** Where Porter is (`CALLBACK_URL`), the task token, and the retries and timeouts of calls. */
export interface Options {
  readonly url: string
  readonly token: Redacted.Redacted<string>
  /** Retries after the first attempt (default 8). */
  readonly retries?: number
  /** First backoff delay (default 500 ms), doubled each retry, jittered. */
  readonly retryBaseMs?: number
  /** Per-attempt timeout (default 15 s). */
  readonly timeoutMs?: number
  /** Per-attempt timeout of a change set (default 5 min: Porter commits it and opens the pull request meanwhile). */
  readonly publishTimeoutMs?: number
}

/** A change set is retried at most this many times (each retry sends the whole body again). */
const PUBLISH_RETRIES = 4

const encodeEvent = Schema.encodeUnknownEffect(Callback.CallbackEvent)
const decodeEvent = Schema.decodeUnknownEffect(Callback.CallbackEvent)

/** `CALLBACK_URL` is `<Porter's URL>/callbacks/tasks/<task id>`: the API's base URL and the task. */
const endpointOf = (url: string): { readonly baseUrl: string; readonly taskId: Ids.TaskId } | undefined => {
  const match = /^(.*)\/callbacks\/tasks\/([^/?#]+)\/?$/.exec(url)
  const taskId = match === null ? Option.none() : Schema.decodeUnknownOption(Ids.TaskId)(match[2])
  return match !== null && Option.isSome(taskId) ? { baseUrl: match[1]!, taskId: taskId.value } : undefined
}

/** `Callbacks` on an `HttpClient` and the scrubber. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const { scrub } = yield* Scrubber
  const retries = options.retries ?? 8
  const endpoint = endpointOf(options.url)
  // Exponential, capped at 30 s between attempts; a Retry-After on a 429 or 503 sets the least wait.
  const schedule = Schedule.jittered(
    Schedule.min([Schedule.exponential(Duration.millis(options.retryBaseMs ?? 500)), Schedule.spaced("30 seconds")])
  )
  const clientWith = (timeoutMs: number, times: number) =>
    CallbacksClient.make({
      baseUrl: endpoint?.baseUrl ?? options.url,
      token: options.token,
      transformClient: (http) =>
        http.pipe(
          // A request that gets no answer in time counts as unreachable (and is retried).
          HttpClient.transform((response, request) =>
            Effect.timeoutOrElse(response, {
              duration: Duration.millis(timeoutMs),
              orElse: () =>
                Effect.fail(
                  new HttpClientError.HttpClientError({
                    reason: new HttpClientError.TransportError({ request, description: "timed out" })
                  })
                )
            })
          ),
          HttpClient.retryTransient({ schedule, times })
        )
    })
  const client = yield* clientWith(options.timeoutMs ?? 15_000, retries)
  const publishClient = yield* clientWith(options.publishTimeoutMs ?? 300_000, Math.min(retries, PUBLISH_RETRIES))

  /** Porter's refusals, as the runner's errors (messages scrubbed: they may quote what was sent). */
  const refusal = (
    error: { readonly _tag: string; readonly message: string; readonly state?: string }
  ): CallbackError => {
    switch (error._tag) {
      case "TaskEnded":
        return new TaskEnded({ ...(error.state !== undefined ? { state: error.state } : {}) })
      case "Unauthorized":
      case "NotFound":
      case "BadRequest":
      case "PayloadTooLarge":
        return new CallbackRefused({
          status: statusOf[error._tag as keyof typeof statusOf],
          detail: scrub(error.message).slice(0, 300)
        })
      case "Unavailable":
        return new CallbackUnreachable({ detail: `HTTP 503 ${scrub(error.message)}` })
      default:
        return new CallbackUnreachable({ detail: scrub(error.message) })
    }
  }

  const send = Effect.fn("Callbacks.send")(function*(event: Callback.CallbackEvent) {
    yield* Effect.annotateCurrentSpan({ type: event.type })
    if (endpoint === undefined) {
      return yield* new CallbackRefused({ status: 0, detail: "CALLBACK_URL is not a Porter callback URL" })
    }
    // Every string of the event is scrubbed of the machine's secrets before it leaves.
    const payload = yield* encodeEvent(event).pipe(
      Effect.map((encoded) => scrubDeep(scrub, encoded)),
      Effect.flatMap(decodeEvent),
      Effect.orDie
    )
    const answer = yield* client.callbacks.send({ params: { taskId: endpoint.taskId }, payload }).pipe(
      Effect.mapError(refusal)
    )
    return { stop: answer.stop } satisfies Answer
  })

  const artifact = Effect.fn("Callbacks.artifact")(function*(
    artifact: { readonly kind: ArtifactStore.ArtifactKind; readonly name: string; readonly content: string }
  ) {
    if (endpoint === undefined) {
      return yield* new CallbackRefused({ status: 0, detail: "CALLBACK_URL is not a Porter callback URL" })
    }
    const payload = { kind: artifact.kind, name: scrub(artifact.name), content: scrub(artifact.content) }
    const stored = yield* publishClient.artifacts.upload({ params: { taskId: endpoint.taskId }, payload }).pipe(
      Effect.mapError(refusal)
    )
    return stored.url
  })

  const session = Effect.gen(function*() {
    if (endpoint === undefined) {
      return yield* new CallbackRefused({ status: 0, detail: "CALLBACK_URL is not a Porter callback URL" })
    }
    return yield* client.artifacts.session({ params: { taskId: endpoint.taskId } }).pipe(
      Effect.map((found): { readonly agent: string; readonly name: string; readonly content: string } | undefined =>
        found
      ),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined)),
      Effect.mapError(refusal)
    )
  }).pipe(Effect.withSpan("Callbacks.session"))

  const publish = Effect.fn("Callbacks.publish")(function*(changeSet: ChangeSet.ChangeSet) {
    yield* Effect.annotateCurrentSpan({ commits: changeSet.commits.length })
    if (endpoint === undefined) {
      return yield* new CallbackRefused({ status: 0, detail: "CALLBACK_URL is not a Porter callback URL" })
    }
    // The summary is the agent's prose: scrubbed like every callback. File contents are not rewritten (the secret
    // check before refuses what holds a secret).
    const payload = changeSet.summary === undefined ? changeSet : { ...changeSet, summary: scrub(changeSet.summary) }
    return yield* publishClient.changes.publish({ params: { taskId: endpoint.taskId }, payload }).pipe(
      Effect.mapError((error): CallbackError | ChangesRefused =>
        error._tag === "Refused" ? new ChangesRefused({ problems: error.problems.map(scrub) }) : refusal(error)
      )
    )
  })

  return Callbacks.of({ send, publish, artifact, session })
})

const statusOf = { Unauthorized: 401, NotFound: 404, BadRequest: 400, PayloadTooLarge: 413 } as const

/** `Callbacks` with its options. */
export const layer = (options: Options): Layer.Layer<Callbacks, never, Scrubber | HttpClient.HttpClient> =>
  Layer.effect(Callbacks, make(options))
