/**
 * GitHubClient: a small REST client on `fetch` (runs in workerd and Node). It takes Octokit's route strings
 * (`"GET /repos/{owner}/{repo}"`, expanded by `internal/RestRoute` as `@octokit/endpoint` does), authenticates each
 * call with the token it is given, retries 5xx answers, network failures and rate limits with core's `RetryAfter`
 * schedule (a short, bounded, jittered backoff that honours `Retry-After` and the rate-limit reset), and decodes
 * answers with Schema (only the fields Porter reads). Redirects are followed (a job's log answers with one).
 *
 * Each attempt is given up after `timeoutMs` (30 s by default; the request is aborted) and counts as
 * "no answer", which is retried like a network failure: a GitHub that accepts connections but never
 * answers cannot hold a webhook's handling, or a sweep, forever.
 *
 * What it cannot do: GraphQL, pagination helpers, long waits. A rate limit that asks for a wait
 * longer than `retry.maxDelayMs` fails at once (the orchestration retries reports on its own).
 * Non-idempotent calls (POST) are retried too: on a 5xx, GitHub has normally not acted.
 *
 * @since 0.1.0
 */
import { RetryAfter } from "@porter/core"
import { Config, Context, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import * as RestRoute from "./internal/RestRoute.ts"

/**
 * A failed GitHub call. `message` names the route template and GitHub's own message — never a
 * token. `status` is the HTTP status (absent when GitHub could not be reached).
 *
 * @category errors
 * @since 0.1.0
 */
export class GitHubError extends Schema.TaggedError<GitHubError>()("GitHubError", {
  message: Schema.String,
  status: Schema.optional(Schema.Number)
}) {}

/** @category models */
export interface RetryOptions {
  /** Retries after the first attempt (default 2). */
  readonly times?: number
  /** First backoff delay; doubles on each retry, with jitter (default 300 ms). */
  readonly baseDelayMs?: number
  /**
   * A wait longer than this (from `Retry-After` or a rate-limit reset) is not waited for: the call fails at once
   * (default 10 s). The backoff is capped to it.
   */
  readonly maxDelayMs?: number
}

/** @category models */
export interface ClientOptions {
  /** REST root: `https://api.github.com`, a GitHub Enterprise `/api/v3` root, or the testkit emulator. */
  readonly apiUrl?: string
  readonly userAgent?: string
  readonly retry?: RetryOptions
  /** One attempt gets this long to answer before it is aborted (and retried); default 30 s. */
  readonly timeoutMs?: number
  /** The fetch to use; defaults to `FetchHttpClient.Fetch` from the context (the global `fetch`). */
  readonly fetch?: typeof globalThis.fetch
}

/** @category models */
export interface RequestOptions<A> {
  /** URL template values, query parameters and body fields, as Octokit takes them (`internal/RestRoute`). */
  readonly params?: Readonly<Record<string, unknown>>
  /** Sent as `Authorization: Bearer …` (installation token, personal access token or App JWT). */
  readonly token?: Redacted.Redacted<string>
  /** Decodes the answer's body; omit for answers Porter does not read. */
  readonly schema?: Schema.Decoder<A>
}

/** @category models */
export interface Response<A> {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly data: A
}

/**
 * @category services
 * @since 0.1.0
 */
export class GitHubClient extends Context.Service<GitHubClient, {
  readonly apiUrl: string
  readonly request: <A = unknown>(route: string, options?: RequestOptions<A>) => Effect.Effect<Response<A>, GitHubError>
}>()("@porter/github/GitHubClient") {}

/** GitHub's REST API, unless `GITHUB_API_URL` names another (GitHub Enterprise, the emulator). */
export const DEFAULT_API_URL = "https://api.github.com"

const defaultRetry: Required<RetryOptions> = { times: 2, baseDelayMs: 300, maxDelayMs: 10_000 }

/** @since 0.1.0 */
export const DEFAULT_TIMEOUT_MS = 30_000

/** A failed attempt: GitHub's answer (status, headers, its message), or no answer (`status` undefined). */
interface Failure {
  readonly status: number | undefined
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly message: string
}

const clip = (text: string, max = 200) => (text.length > max ? `${text.slice(0, max)}…` : text)

/** fetch could not get an answer. */
const unreachable = (error: unknown): Failure => ({
  status: undefined,
  headers: {},
  message: `could not reach GitHub (${clip(String(error instanceof Error ? error.message : error), 120)})`
})

/** GitHub's message in an error answer's body (`{ "message": … }`, or the text). */
const messageOf = (data: unknown): string => {
  const message = typeof data === "object" && data !== null ? (data as { message?: unknown }).message : undefined
  return typeof message === "string"
    ? message
    : typeof data === "string" && data.length > 0
    ? data
    : "no message"
}

const headersOf = (headers: Headers): Record<string, string> => {
  const out: Record<string, string> = {}
  headers.forEach((value, name) => {
    out[name] = value
  })
  return out
}

/** How long GitHub asks us to wait, if it says so (`Retry-After`, or the primary rate limit's reset, in epoch s). */
const requestedWait = (failure: Failure, now: number): Duration.Duration | undefined => {
  const retryAfter = RetryAfter.parse(failure.headers["retry-after"], now)
  if (retryAfter !== undefined) return retryAfter
  if (failure.headers["x-ratelimit-remaining"] === "0") {
    const reset = Number(failure.headers["x-ratelimit-reset"])
    if (Number.isFinite(reset)) return Duration.millis(Math.max(0, reset * 1000 - now))
  }
  return undefined
}

const isRateLimited = (failure: Failure): boolean =>
  failure.status === 429 ||
  (failure.status === 403 &&
    (failure.headers["retry-after"] !== undefined ||
      failure.headers["x-ratelimit-remaining"] === "0" ||
      /rate limit/i.test(failure.message)))

const isRetryable = (failure: Failure): boolean =>
  failure.status === undefined || failure.status >= 500 || isRateLimited(failure)

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: ClientOptions = {}) {
  const apiUrl = (options.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, "")
  const retry = { ...defaultRetry, ...options.retry }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const noAnswer: Failure = {
    status: undefined,
    headers: {},
    message: `could not reach GitHub (no answer within ${Math.round(timeoutMs / 100) / 10} s)`
  }
  const fetch = options.fetch ?? (yield* FetchHttpClient.Fetch)
  const userAgent = options.userAgent ?? "porter"

  type Params = Readonly<Record<string, unknown>>
  type Token = Redacted.Redacted<string> | undefined

  const attempt = (route: string, params: Params, token: Token) =>
    Effect.tryPromise({
      try: async (signal) => {
        const call = RestRoute.toRequest(apiUrl, route, params)
        const headers: Record<string, string> = {
          accept: "application/vnd.github+json",
          "user-agent": userAgent,
          "x-github-api-version": "2022-11-28"
        }
        if (token !== undefined) headers["authorization"] = `Bearer ${Redacted.value(token)}`
        if (call.body !== undefined) headers["content-type"] = "application/json; charset=utf-8"
        let response: globalThis.Response
        try {
          response = await fetch(call.url, { method: call.method, headers, body: call.body ?? null, signal })
        } catch (error) {
          throw unreachable(error)
        }
        const answer = { status: response.status, headers: headersOf(response.headers) }
        let data: unknown
        try {
          data = await RestRoute.readBody(response, call.method)
        } catch (error) {
          throw unreachable(error)
        }
        // As Octokit: a 304 or a 4xx/5xx is a failure (other redirects were followed).
        if (response.status >= 400 || response.status === 304) {
          throw { ...answer, message: clip(messageOf(data)) } satisfies Failure
        }
        return { ...answer, data }
      },
      catch: (error) =>
        typeof error === "object" && error !== null && "headers" in error ? error as Failure : unreachable(error)
    }).pipe(
      // Interrupting the attempt aborts its fetch (the signal above).
      Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.fail(noAnswer) })
    )

  // A long wait (over `maxDelayMs`) belongs to the caller's schedule (or the next sweep), not to this request.
  const schedule = RetryAfter.schedule<Failure>({
    times: retry.times,
    base: retry.baseDelayMs,
    maxDelay: retry.maxDelayMs,
    while: isRetryable,
    requested: requestedWait
  })
  const send = (route: string, params: Params, token: Token) => Effect.retry(attempt(route, params, token), schedule)

  const request = <A = unknown>(route: string, requestOptions: RequestOptions<A> = {}) =>
    Effect.gen(function*() {
      const response = yield* send(route, requestOptions.params ?? {}, requestOptions.token).pipe(
        Effect.mapError((failure) =>
          new GitHubError({
            message: `GitHub ${route}: ${failure.status ?? "no answer"} ${failure.message}`,
            ...(failure.status !== undefined ? { status: failure.status } : {})
          })
        )
      )
      yield* Effect.annotateCurrentSpan({ status: response.status })
      const data = requestOptions.schema === undefined
        ? response.data as A
        : yield* Schema.decodeUnknownEffect(requestOptions.schema)(response.data).pipe(
          Effect.mapError((error) =>
            new GitHubError({
              message: `GitHub ${route}: unexpected answer (${clip(error.message, 160)})`,
              status: response.status
            })
          )
        )
      return { status: response.status, headers: response.headers, data } satisfies Response<A>
    }).pipe(Effect.withSpan("GitHubClient.request", { attributes: { route } }))

  return GitHubClient.of({ apiUrl, request })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: ClientOptions = {}): Layer.Layer<GitHubClient> =>
  Layer.effect(GitHubClient, make(options))

/**
 * Reads `GITHUB_API_URL` (default `https://api.github.com`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: Omit<ClientOptions, "apiUrl"> = {}
): Layer.Layer<GitHubClient, Config.ConfigError> =>
  Layer.effect(
    GitHubClient,
    Effect.flatMap(
      Config.String("GITHUB_API_URL").pipe(Config.withDefault(DEFAULT_API_URL)),
      (apiUrl) => make({ ...options, apiUrl })
    )
  )
