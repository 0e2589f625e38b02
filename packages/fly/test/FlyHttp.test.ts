// FlyHttp's retries on the TestClock, against a scripted HttpClient: what is waited for, when the call gives up,
// and the lookup before repeating a call whose answer may have been lost.
import { assert, describe, it } from "@effect/vitest"
import { FlyHttp } from "@porter/fly"
import { Clock, Effect, Fiber, Option, Redacted } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { TestClock } from "effect/testing"

const TOKEN = Redacted.make("fo1_test_token_0000000")

type Answer = () => Response

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => () =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

/**
 * Calls `op` through FlyHttp over an HttpClient that gives `answers` in turn (the last one again once they run out),
 * moving the TestClock on until the call ends. Returns the call's result and when (virtual millis) each request came.
 */
const scripted = <A>(
  answers: ReadonlyArray<Answer>,
  use: (http: FlyHttp.FlyHttp) => Effect.Effect<A, FlyHttp.FlyApiError>
) =>
  Effect.gen(function*() {
    const requests: Array<number> = []
    const client = HttpClient.make((request) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        requests.push(now)
        return HttpClientResponse.fromWeb(request, (answers[requests.length - 1] ?? answers.at(-1)!)())
      })
    )
    const http = yield* FlyHttp.make({
      apiUrl: "http://127.0.0.1:9/v1",
      retry: FlyHttp.defaultRetryPolicy,
      requestTimeoutMs: 30_000
    }).pipe(Effect.provideService(HttpClient.HttpClient, client))
    const fiber = yield* Effect.forkChild(Effect.result(use(http)))
    const clock = yield* TestClock.testClockWith(Effect.succeed)
    while (fiber.pollUnsafe() === undefined && clock.currentTimeMillisUnsafe() < 120_000) {
      // Response bodies are read on the real event loop; then the virtual clock moves on.
      yield* TestClock.withLive(Effect.sleep(1))
      yield* TestClock.adjust("50 millis")
    }
    return { result: yield* Fiber.join(fiber), requests }
  })

const get = (http: FlyHttp.FlyHttp, recover?: Effect.Effect<Option.Option<string>, FlyHttp.FlyApiError>) =>
  http.call({
    op: "get",
    token: TOKEN,
    request: HttpClientRequest.get("/apps/a/machines/m"),
    decode: () => Effect.succeed("answered"),
    ...(recover !== undefined ? { recover } : {})
  })

const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((at, i) => at - times[i]!)

describe("FlyHttp.call on the TestClock", () => {
  it.effect("a 429 burst waits Retry-After each time, then succeeds", () =>
    Effect.gen(function*() {
      const limited = json(429, { error: "rate limited" }, { "retry-after": "3" })
      const { requests, result } = yield* scripted([limited, limited, json(200, {})], get)
      assert.deepStrictEqual(result._tag === "Success" && result.success, "answered")
      assert.strictEqual(requests.length, 3)
      for (const gap of gaps(requests)) {
        assert.isAtLeast(gap, 3_000)
        assert.isBelow(gap, 3_150)
      }
    }))

  it.effect("a Retry-After beyond the time budget ends the call at once", () =>
    Effect.gen(function*() {
      const { requests, result } = yield* scripted([json(429, {}, { "retry-after": "120" })], get)
      assert.strictEqual(requests.length, 1)
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") {
        assert.strictEqual(result.failure.status, 429)
        assert.strictEqual(result.failure.retryAfterMs, 120_000)
        assert.strictEqual(result.failure.attempts, 1)
      }
    }))

  it.effect("5xx that do not stop: five attempts with growing, jittered waits, then the last failure", () =>
    Effect.gen(function*() {
      const { requests, result } = yield* scripted([json(503, { error: "unavailable" })], get)
      assert.strictEqual(requests.length, 5)
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") {
        assert.strictEqual(result.failure.attempts, 5)
        assert.include(result.failure.message, "HTTP 503: unavailable")
        assert.strictEqual(result.failure.elapsedMs, requests.at(-1)! - requests[0]!)
      }
      // 250, 500, 1000, 2000 ms, each 80–120 % (plus the 50 ms steps of the clock).
      for (const [i, gap] of gaps(requests).entries()) {
        assert.isAtLeast(gap, 250 * 2 ** i * 0.8)
        assert.isAtMost(gap, 250 * 2 ** i * 1.2 + 50)
      }
    }))

  it.effect("after a 5xx the call looks first: a found result ends it without a second request", () =>
    Effect.gen(function*() {
      let lookups = 0
      const recover = Effect.sync(() => {
        lookups++
        return Option.some("recovered")
      })
      const { requests, result } = yield* scripted([json(500, {}), json(200, {})], (http) => get(http, recover))
      assert.deepStrictEqual(result._tag === "Success" && result.success, "recovered")
      assert.strictEqual(lookups, 1)
      assert.strictEqual(requests.length, 1)
    }))

  it.effect("a 4xx is not retried and no lookup is made", () =>
    Effect.gen(function*() {
      let lookups = 0
      const recover = Effect.sync(() => {
        lookups++
        return Option.none<string>()
      })
      const { requests, result } = yield* scripted([json(422, { error: "bad" })], (http) => get(http, recover))
      assert.strictEqual(result._tag, "Failure")
      assert.strictEqual(requests.length, 1)
      assert.strictEqual(lookups, 0)
    }))
})
