/**
 * Callbacks: `POST CALLBACK_URL` with `Authorization: Bearer CALLBACK_TOKEN` and a `CallbackEvent`
 * body (scrubbed of every secret). Network errors, 5xx and 429 are retried with exponential
 * backoff; 409 means the task already ended (cancelled, timed out) and becomes `TaskEnded`; other
 * refusals (400, 401, 404, 413) are not retried.
 */
import { Callback } from "@porter/core"
import { Context, Duration, Effect, Layer, Redacted, Schedule, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
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

export type CallbackError = TaskEnded | CallbackRefused | CallbackUnreachable

export class Callbacks extends Context.Service<Callbacks, {
  readonly send: (event: Callback.CallbackEvent) => Effect.Effect<void, CallbackError>
}>()("@porter/runner/Callbacks") {}

export interface Options {
  readonly url: string
  readonly token: Redacted.Redacted<string>
  /** Retries after the first attempt (default 8). */
  readonly retries?: number
  /** First backoff delay (default 500 ms), doubled each retry, jittered. */
  readonly retryBaseMs?: number
  /** Per-attempt timeout (default 15 s). */
  readonly timeoutMs?: number
}

const encodeEvent = Schema.encodeUnknownEffect(Callback.CallbackEvent)
const AnswerBody = Schema.Struct({ state: Schema.optional(Schema.String), error: Schema.optional(Schema.String) })
const decodeAnswer = Schema.decodeUnknownOption(AnswerBody)

export const make = Effect.fnUntraced(function*(options: Options) {
  const { scrub } = yield* Scrubber
  const base = yield* HttpClient.HttpClient
  const retries = options.retries ?? 8
  // Exponential, capped at 30 s between attempts.
  const schedule = Schedule.jittered(
    Schedule.min([Schedule.exponential(Duration.millis(options.retryBaseMs ?? 500)), Schedule.spaced("30 seconds")])
  )
  const client = base.pipe(
    HttpClient.mapRequest((request) =>
      request.pipe(HttpClientRequest.bearerToken(options.token), HttpClientRequest.acceptJson)
    ),
    HttpClient.transformResponse(Effect.timeout(Duration.millis(options.timeoutMs ?? 15_000))),
    HttpClient.filterStatusOk,
    HttpClient.retryTransient({ schedule, times: retries })
  )

  const send = Effect.fn("Callbacks.send")(function*(event: Callback.CallbackEvent) {
    yield* Effect.annotateCurrentSpan({ type: event.type })
    const encoded = yield* encodeEvent(event).pipe(Effect.orDie)
    const body = scrubDeep(scrub, encoded)
    yield* client.execute(HttpClientRequest.post(options.url).pipe(HttpClientRequest.bodyJsonUnsafe(body))).pipe(
      Effect.catch(Effect.fnUntraced(function*(error) {
        if (error._tag === "TimeoutError") return yield* new CallbackUnreachable({ detail: "timed out" })
        const response = error.response
        if (response === undefined) return yield* new CallbackUnreachable({ detail: scrub(error.message) })
        const answer = yield* response.json.pipe(Effect.map(decodeAnswer), Effect.orElseSucceed(() => undefined))
        const detail = answer?._tag === "Some" ? answer.value.error ?? answer.value.state ?? "" : ""
        if (response.status === 409) {
          return yield* new TaskEnded(answer?._tag === "Some" && answer.value.state ? { state: answer.value.state } : {})
        }
        if (response.status >= 500 || response.status === 429 || response.status === 408) {
          return yield* new CallbackUnreachable({ detail: `HTTP ${response.status} ${scrub(detail)}`.trim() })
        }
        return yield* new CallbackRefused({ status: response.status, detail: scrub(detail).slice(0, 300) })
      }))
    )
  })

  return Callbacks.of({ send })
})

export const layer = (options: Options): Layer.Layer<Callbacks, never, Scrubber | HttpClient.HttpClient> =>
  Layer.effect(Callbacks, make(options))
