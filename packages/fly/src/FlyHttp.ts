/**
 * How Porter calls the Fly Machines API: `HttpClient` with the base URL and the token (`mapRequest`), non-2xx as
 * errors (`filterStatusOk`), a per-attempt timeout, then a bounded retry loop.
 *
 * The loop is written out rather than `HttpClient.retryTransient` because it must do two things that one cannot:
 * - before repeating a call whose answer was lost (network fault, timeout, 5xx after the request went out), run a
 *   `recover` step — for a create, look the task's machine up — so a lost answer never becomes a second machine;
 * - give up at once when `Retry-After` asks for a wait longer than the remaining time budget, instead of sleeping
 *   past it.
 * 429, 5xx, capacity errors, timeouts and network faults are retried with exponential backoff and jitter (at least `Retry-After`),
 * bounded by a count and a total time. Every other status fails at once.
 *
 * The token stays `Redacted` until the `Authorization` header is built; nothing here logs it, and error texts
 * from Fly are scrubbed of it before they travel on.
 */
import { Cause, Clock, Data, Effect, Option, Random, Redacted, Schema } from "effect"
import { HttpClient, HttpClientError, HttpClientRequest } from "effect/http"
import type { HttpClientResponse } from "effect/http"
import { ErrorResponse } from "./FlyApi.ts"

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  readonly attempts: number
  /** Backoff before the second attempt; doubles after each, with jitter (50–100 % of the step). */
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** No retry starts later than this after the first attempt (a longer `Retry-After` ends the call). */
  readonly budgetMs: number
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000, budgetMs: 30_000 }

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

/** Seconds or an HTTP date, as milliseconds from `now`. */
export const parseRetryAfter = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined) return undefined
  const text = header.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
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

export interface ClientOptions {
  /** The Machines API base, e.g. `https://api.machines.dev/v1` (spec paths are appended). */
  readonly apiUrl: string
  readonly retry: RetryPolicy
  readonly requestTimeoutMs: number
}

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

export interface FlyHttp {
  readonly apiUrl: string
  /** One attempt, no retries. */
  readonly attempt: <A>(options: CallOptions<A>) => Effect.Effect<A, FlyApiError>
  /** Attempts with the retry policy. */
  readonly call: <A>(options: CallOptions<A>) => Effect.Effect<A, FlyApiError>
}

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

    const call = <A>(call: CallOptions<A>): Effect.Effect<A, FlyApiError> =>
      Effect.gen(function*() {
        const policy = options.retry
        const start = yield* Clock.currentTimeMillis
        let recoverFirst = false
        for (let n = 1;; n++) {
          const once = recoverFirst && call.recover
            ? Effect.flatMap(call.recover, Option.match({ onNone: () => attempt(call), onSome: Effect.succeed }))
            : attempt(call)
          const result = yield* Effect.result(once)
          if (result._tag === "Success") return result.success
          const error = result.failure
          if (mayHaveApplied(error)) recoverFirst = true
          const now = yield* Clock.currentTimeMillis
          const elapsedMs = now - start
          const final = new FlyApiError({ ...error, attempts: n, elapsedMs })
          if (!isRetryable(error) || n >= policy.attempts) return yield* final
          const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1))
          const jittered = Math.round(step / 2 + (yield* Random.next) * (step / 2))
          const delayMs = Math.max(jittered, error.retryAfterMs ?? 0)
          if (elapsedMs + delayMs > policy.budgetMs) return yield* final
          yield* Effect.logWarning("Fly API call failed; retrying", {
            op: call.op,
            attempt: n,
            kind: error.kind,
            status: error.status,
            requestId: error.requestId,
            delayMs
          })
          yield* Effect.sleep(delayMs)
        }
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
