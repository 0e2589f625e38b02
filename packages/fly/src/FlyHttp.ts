/**
 * How Porter calls the Fly Machines API: `HttpClient` with the base URL and the token (`mapRequest`), non-2xx as
 * errors (`filterStatusOk`), a per-attempt timeout, then `Effect.retry` with core's `RetryAfter` schedule — the
 * same rule as the GitHub client: wait what `Retry-After` asks (at least the backoff), otherwise exponential backoff
 * with jitter, bounded by a count and a total time budget; a `Retry-After` past the budget ends the call at once.
 * 429, 408, 5xx, capacity errors, timeouts and network faults are retried; every other status fails at once.
 *
 * The retried unit is the whole call (request, timeout, decoding), not only the HTTP exchange, which is why this is
 * not `HttpClient.retryTransient`: before repeating a call whose answer was lost (network fault, timeout, 5xx after
 * the request went out) it runs a `recover` step — for a create, look the task's machine up — so a lost answer never
 * becomes a second machine; and Fly's capacity errors (412 `insufficient_capacity`) are retried too.
 *
 * The token stays `Redacted` until the `Authorization` header is built; nothing here logs it, and error texts
 * from Fly are scrubbed of it before they travel on.
 */
import { RetryAfter } from "@porter/core"
import { Cause, Clock, Data, Duration, Effect, Option, Redacted, Schedule, Schema } from "effect"
import { HttpClient, HttpClientError, HttpClientRequest } from "effect/http"
import type { HttpClientResponse } from "effect/http"
import { ErrorResponse } from "./FlyApi.ts"

/** How calls are retried on 429, 5xx and transport failures: attempts, backoff, a time budget. */
export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  readonly attempts: number
  /** Backoff before the second attempt; doubles after each, with jitter (80–120 % of the step). */
  readonly baseDelayMs: number
  /** Caps the backoff (a `Retry-After` may ask for longer, within the budget). */
  readonly maxDelayMs: number
  /** No retry starts later than this after the first failure (a longer `Retry-After` ends the call). */
  readonly budgetMs: number
}

/** 5 attempts from 250 ms up to 8 s apart, within 30 s. */
export const defaultRetryPolicy: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000, budgetMs: 30_000 }

/** Why a call to the Machines API failed. */
export type FailureKind =
  /** Fly answered with a non-2xx status. */
  | "status"
  /** The request may or may not have reached Fly (connection reset, refused, DNS…). */
  | "transport"
  /** No answer within the per-attempt timeout. */
  | "timeout"
  /** Fly answered 2xx with a body that does not match the API description. */
  | "malformed"
  /** The request could not be built (bad URL, unencodable body); never sent. */
  | "invalid"

/** A failed Fly API call (after retries, when retried). Callers turn it into a `ProvisionError`. */
export class FlyApiError extends Data.TaggedError("FlyApiError")<{
  readonly kind: FailureKind
  readonly op: string
  readonly status?: number | undefined
  /** `ErrorResponse.error`, scrubbed of the token. */
  readonly flyError?: string | undefined
  /** `ErrorResponse.status` (`insufficient_capacity`, …). */
  readonly flyStatus?: string | undefined
  readonly retryAfterMs?: number | undefined
  /** Fly's `fly-request-id` header, for support requests. */
  readonly requestId?: string | undefined
  /** Transport or decoding detail (never contains the token). */
  readonly detail?: string | undefined
  readonly attempts: number
  readonly elapsedMs: number
}> {
  override get message(): string {
    const what = this.kind === "status" ? `HTTP ${this.status}` : this.kind
    return `Fly ${this.op} failed (${what}${this.flyError ? `: ${this.flyError}` : ""}${
      this.detail ? `: ${this.detail}` : ""
    }) after ${this.attempts} attempt(s)`
  }
}

/** Worth another attempt (Fly's create docs ask callers to retry capacity errors). */
export const isRetryable = (error: FlyApiError): boolean =>
  error.kind === "transport" || error.kind === "timeout" ||
  (error.kind === "status" &&
    (error.status === 429 || error.status === 408 || (error.status ?? 0) >= 500 ||
      error.flyStatus === "insufficient_capacity"))

/** The call may have taken effect although its answer never arrived. */
export const mayHaveApplied = (error: FlyApiError): boolean =>
  error.kind === "transport" || error.kind === "timeout" || (error.kind === "status" && (error.status ?? 0) >= 500)

/**
 * The `Authorization` value: Fly's macaroon tokens are printed as `FlyV1 fm2_…` and go out as they are; bare
 * tokens are bearer tokens.
 */
export const authorization = (token: Redacted.Redacted<string>): string => {
  const value = Redacted.value(token).trim()
  return value.startsWith("FlyV1 ") ? value : `Bearer ${value}`
}

/** Whole seconds or an HTTP date (`RetryAfter.parse`), as milliseconds from `now`. */
export const parseRetryAfter = (header: string | undefined, now: number): number | undefined => {
  const wait = RetryAfter.parse(header, now)
  return wait === undefined ? undefined : Duration.toMillis(wait)
}

const scrub = (text: string, token: Redacted.Redacted<string>): string => {
  const raw = Redacted.value(token).trim()
  let out = text.slice(0, 500)
  for (const secret of [raw, raw.replace(/^FlyV1 /, "")]) {
    if (secret.length >= 8) out = out.split(secret).join("<redacted>")
  }
  return out
}

const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorResponse))

/** The Machines API's base URL, retry policy and per-request timeout. */
export interface ClientOptions {
  /** The Machines API base, e.g. `https://api.machines.dev/v1` (spec paths are appended). */
  readonly apiUrl: string
  readonly retry: RetryPolicy
  readonly requestTimeoutMs: number
}

/** One call: its name in errors, the request, the token, how its answer decodes and what a failure may recover to. */
export interface CallOptions<A> {
  /** Names the call in errors and logs (`create`, `get`, …). */
  readonly op: string
  readonly request: HttpClientRequest.HttpClientRequest
  readonly token: Redacted.Redacted<string>
  readonly decode: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, unknown>
  /** Overrides the per-attempt timeout (long-polling calls). */
  readonly timeoutMs?: number
  /**
   * Runs before an attempt once an earlier one may have taken effect without an answer; `Some` ends the call with
   * that result. Failures of `recover` count as failed attempts.
   */
  readonly recover?: Effect.Effect<Option.Option<A>, FlyApiError>
  /** Statuses that are answers, not errors (e.g. 404 on destroy): decoded by `onStatus`. */
  readonly onStatus?: (status: number) => Option.Option<A>
}

/** The Machines API client: typed calls with Fly's retries, `Retry-After` and errors. */
export interface FlyHttp {
  readonly apiUrl: string
  /** One attempt, no retries. */
  readonly attempt: <A>(options: CallOptions<A>) => Effect.Effect<A, FlyApiError>
  /** Attempts with the retry policy. */
  readonly call: <A>(options: CallOptions<A>) => Effect.Effect<A, FlyApiError>
}

/** The Machines API client over an `HttpClient`. */
export const make = (options: ClientOptions): Effect.Effect<FlyHttp, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (base) => {
    const apiUrl = options.apiUrl.replace(/\/+$/, "")
    const client = base.pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(apiUrl)),
      HttpClient.filterStatusOk
    )

    const fromResponse = (
      op: string,
      token: Redacted.Redacted<string>,
      response: HttpClientResponse.HttpClientResponse,
      now: number
    ) =>
      Effect.gen(function*() {
        const text = yield* Effect.orElseSucceed(response.text, () => "")
        const body = decodeErrorBody(text)
        const flyError = Option.isSome(body) && body.value.error ? body.value.error : text.trim() || undefined
        return new FlyApiError({
          kind: "status",
          op,
          status: response.status,
          flyError: flyError === undefined ? undefined : scrub(flyError, token),
          flyStatus: Option.isSome(body) ? body.value.status ?? undefined : undefined,
          retryAfterMs: parseRetryAfter(response.headers["retry-after"], now),
          requestId: response.headers["fly-request-id"],
          attempts: 1,
          elapsedMs: 0
        })
      })

    const classify = <A>(call: CallOptions<A>, error: unknown): Effect.Effect<A, FlyApiError> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const base = { op: call.op, attempts: 1, elapsedMs: 0 }
        if (HttpClientError.isHttpClientError(error)) {
          const reason = error.reason
          switch (reason._tag) {
            case "StatusCodeError": {
              const answered = call.onStatus?.(reason.response.status)
              if (answered !== undefined && Option.isSome(answered)) return answered.value
              return yield* Effect.flip(fromResponse(call.op, call.token, reason.response, now))
            }
            case "TransportError":
              return yield* new FlyApiError({
                ...base,
                kind: "transport",
                detail: scrub(describe(reason.cause), call.token)
              })
            case "EncodeError":
            case "InvalidUrlError":
              return yield* new FlyApiError({ ...base, kind: "invalid", detail: scrub(reason.message, call.token) })
            case "DecodeError":
            case "EmptyBodyError":
              return yield* new FlyApiError({ ...base, kind: "malformed", detail: scrub(reason.message, call.token) })
          }
        }
        if (Cause.isTimeoutError(error)) {
          return yield* new FlyApiError({ ...base, kind: "timeout", detail: "no answer in time" })
        }
        return yield* new FlyApiError({ ...base, kind: "malformed", detail: scrub(describe(error), call.token) })
      })

    const attempt = <A>(call: CallOptions<A>): Effect.Effect<A, FlyApiError> =>
      client.execute(
        call.request.pipe(
          HttpClientRequest.setHeader("authorization", authorization(call.token)),
          HttpClientRequest.acceptJson
        )
      ).pipe(
        Effect.flatMap(call.decode),
        Effect.timeout(call.timeoutMs ?? options.requestTimeoutMs),
        Effect.catch((error) => classify(call, error))
      )

    const policy = options.retry
    const schedule = (op: string) =>
      RetryAfter.schedule<FlyApiError>({
        times: policy.attempts - 1,
        base: policy.baseDelayMs,
        maxBackoff: policy.maxDelayMs,
        // A wait Fly asks for is bounded by the budget only.
        maxDelay: policy.budgetMs,
        budget: policy.budgetMs,
        while: isRetryable,
        requested: (error) => (error.retryAfterMs === undefined ? undefined : Duration.millis(error.retryAfterMs))
      }).pipe(
        Schedule.tap(({ attempt, duration, input }) =>
          Effect.logWarning("Fly API call failed; retrying", {
            op,
            attempt,
            kind: input.kind,
            status: input.status,
            requestId: input.requestId,
            delayMs: Math.round(Duration.toMillis(duration))
          })
        )
      )

    const call = <A>(call: CallOptions<A>): Effect.Effect<A, FlyApiError> =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        let attempts = 0
        // Set once an attempt may have taken effect without an answer: every later attempt recovers first.
        let recoverFirst = false
        const once = Effect.suspend(() => {
          attempts++
          return recoverFirst && call.recover
            ? Effect.flatMap(call.recover, Option.match({ onNone: () => attempt(call), onSome: Effect.succeed }))
            : attempt(call)
        }).pipe(Effect.tapError((error) => Effect.sync(() => (recoverFirst ||= mayHaveApplied(error)))))
        return yield* Effect.retry(once, schedule(call.op)).pipe(
          Effect.catch((error) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.fail(new FlyApiError({ ...error, attempts, elapsedMs: now - start })))
          )
        )
      })

    return { apiUrl, attempt, call } satisfies FlyHttp
  })

const describe = (u: unknown): string => {
  if (u instanceof Error) {
    const cause = u.cause instanceof Error ? `: ${u.cause.message}` : ""
    return `${u.message}${cause}`
  }
  return String(u)
}
