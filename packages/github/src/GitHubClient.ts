/**
 * GitHubClient: a small REST client over `@octokit/core` (fetch-based, runs in workerd and Node).
 * It routes (`"GET /repos/{owner}/{repo}"`), authenticates each call with the token it is given,
 * retries 5xx answers, network failures and rate limits with core's `RetryAfter` schedule (a short, bounded,
 * jittered backoff that honours `Retry-After` and the rate-limit reset), and decodes answers with Schema (only the
 * fields Porter reads). Octokit does the HTTP, so the retry is `Effect.retry` rather than `HttpClient.retryTransient`.
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
import { Octokit } from "@octokit/core"
import { RetryAfter } from "@porter/core"
import { Config, Context, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { FetchHttpClient } from "effect/http"

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
  /** URL template values, query parameters and body fields, as Octokit takes them. */
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

interface OctokitFailure {
  readonly status?: unknown
  readonly message?: unknown
  readonly response?: {
    readonly headers?: Readonly<Record<string, string | undefined>>
    readonly data?: unknown
  }
}

/** A failure Octokit reports (a `RequestError`, or anything thrown by fetch). */
interface Failure {
  readonly status: number | undefined
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly message: string
}

const clip = (text: string, max = 200) => (text.length > max ? `${text.slice(0, max)}…` : text)

const toFailure = (error: unknown): Failure => {
  const e = (typeof error === "object" && error !== null ? error : {}) as OctokitFailure
  const headers = e.response?.headers ?? {}
  const data = e.response?.data
  const status = typeof e.status === "number" && e.status > 0 ? e.status : undefined
  if (e.response === undefined) {
    // No answer: Octokit wraps fetch's own error as status 500.
    return { status: undefined, headers, message: `could not reach GitHub (${clip(String(e.message ?? error), 120)})` }
  }
  const withMessage = typeof data === "object" && data !== null ? (data as { message?: unknown }).message : undefined
  const ghMessage = typeof withMessage === "string"
    ? withMessage
    : typeof data === "string" && data.length > 0
    ? data
    : "no message"
  return { status, headers, message: clip(ghMessage) }
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
  const octokit = new Octokit({
    baseUrl: apiUrl,
    userAgent: options.userAgent ?? "porter",
    request: { fetch },
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
  })

  type Params = Readonly<Record<string, unknown>>
  type Token = Redacted.Redacted<string> | undefined

  const attempt = (route: string, params: Params, token: Token) =>
    Effect.tryPromise({
      try: async (signal) => {
        const response = await octokit.request(route, {
          ...params,
          headers: {
            "x-github-api-version": "2022-11-28",
            ...(token !== undefined ? { authorization: `Bearer ${Redacted.value(token)}` } : {})
          },
          request: { signal }
        })
        const headers: Record<string, string | undefined> = {}
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers[name] = String(value)
        }
        return { status: response.status, headers, data: response.data as unknown }
      },
      catch: toFailure
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
