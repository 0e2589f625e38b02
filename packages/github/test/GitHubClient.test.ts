import { assert, describe, it } from "@effect/vitest"
import { GitHubClient } from "@porter/github"
import { Effect, Fiber, Redacted, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as FakeGitHub from "./utils/FakeGitHub.ts"

const TOKEN = Redacted.make("ghs_secretTokenValue1234567890")

const client = (url: string, retry: GitHubClient.RetryOptions = { baseDelayMs: 5 }) =>
  GitHubClient.make({ apiUrl: url, retry })

/**
 * Runs `effect` on the TestClock, moving it on in small steps while answers come on the real event loop (a local
 * server, Octokit's promises). Returns the result and the virtual time it took.
 */
const onTestClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const clock = yield* TestClock.testClockWith(Effect.succeed)
    const started = clock.currentTimeMillisUnsafe()
    const fiber = yield* Effect.forkChild(effect)
    while (fiber.pollUnsafe() === undefined && clock.currentTimeMillisUnsafe() - started < 600_000) {
      yield* TestClock.withLive(Effect.sleep(1))
      yield* TestClock.adjust("10 millis")
    }
    const result = yield* Fiber.join(fiber)
    return [result, clock.currentTimeMillisUnsafe() - started] as const
  })

describe("GitHubClient", () => {
  it.live("routes, authenticates with a bearer token and decodes only the fields it is given", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      server.route((r) =>
        FakeGitHub.is(r, "POST", "/repos/o/r/issues/7/comments")
          ? { status: 201, body: { id: 42, body: "hi", user: { login: "porter[bot]" }, extra: [1, 2, 3] } }
          : undefined
      )
      const gh = yield* client(server.url)
      const response = yield* gh.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
        params: { owner: "o", repo: "r", issue_number: 7, body: "hi" },
        token: TOKEN,
        schema: Schema.Struct({ id: Schema.Int })
      })
      assert.strictEqual(response.status, 201)
      assert.deepStrictEqual(response.data, { id: 42 })
      const [request] = server.requests
      assert.strictEqual(request!.headers.authorization, `Bearer ${Redacted.value(TOKEN)}`)
      assert.strictEqual(request!.headers["x-github-api-version"], "2022-11-28")
      assert.deepStrictEqual(request!.json, { body: "hi" })
    }))

  it.live("retries 5xx answers, then gives up with the status", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      let calls = 0
      server.route(
        () => (++calls <= 2 ? { status: 502, body: { message: "Bad gateway" } } : { status: 200, body: { id: 1 } })
      )
      const gh = yield* client(server.url, { times: 2, baseDelayMs: 5 })
      const ok = yield* gh.request("GET /repos/{owner}/{repo}", { params: { owner: "o", repo: "r" } })
      assert.strictEqual(ok.status, 200)
      assert.strictEqual(calls, 3)

      calls = -10
      const error = yield* Effect.flip(gh.request("GET /repos/{owner}/{repo}", { params: { owner: "o", repo: "r" } }))
      assert.strictEqual(error.status, 502)
      assert.strictEqual(calls, -7, "one attempt and two retries")
      assert.include(error.message, "GET /repos/{owner}/{repo}")
      assert.include(error.message, "Bad gateway")
    }))

  it.live("does not retry client errors (404, 422, plain 403)", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      server.route((r) => r.url.startsWith("/a") ? { status: 404, body: { message: "Not Found" } } : undefined)
      server.route((r) => r.url.startsWith("/b") ? { status: 422, body: { message: "Validation Failed" } } : undefined)
      server.route((r) =>
        r.url.startsWith("/c")
          ? { status: 403, body: { message: "Resource not accessible by integration" } }
          : undefined
      )
      const gh = yield* client(server.url)
      for (const [path, status] of [["/a", 404], ["/b", 422], ["/c", 403]] as const) {
        const error = yield* Effect.flip(gh.request(`GET ${path}`))
        assert.strictEqual(error.status, status)
      }
      assert.strictEqual(server.requests.length, 3)
    }))

  it.effect("honours Retry-After on a secondary rate limit; waits longer than allowed are not waited for", () =>
    Effect.gen(function*() {
      const clock = yield* TestClock.testClockWith(Effect.succeed)
      const server = yield* FakeGitHub.start
      let calls = 0
      server.route((r) => {
        if (!r.url.startsWith("/limited")) return undefined
        return ++calls === 1
          ? {
            status: 403,
            headers: { "retry-after": "1" },
            body: { message: "You have exceeded a secondary rate limit." }
          }
          : { status: 200, body: {} }
      })
      server.route((r) =>
        r.url.startsWith("/long")
          ? { status: 429, headers: { "retry-after": "3600" }, body: { message: "Too many requests" } }
          : undefined
      )
      server.route((r) =>
        r.url.startsWith("/primary")
          ? {
            status: 403,
            headers: {
              "x-ratelimit-remaining": "0",
              "x-ratelimit-reset": String(Math.floor(clock.currentTimeMillisUnsafe() / 1000) + 3600)
            },
            body: { message: "API rate limit exceeded" }
          }
          : undefined
      )
      // Per-attempt timeout out of reach: the virtual clock moves on while the local server answers.
      const gh = yield* GitHubClient.make({
        apiUrl: server.url,
        retry: { times: 2, baseDelayMs: 5, maxDelayMs: 5_000 },
        timeoutMs: 3_600_000
      })
      const [, waited] = yield* onTestClock(gh.request("GET /limited"))
      assert.isAtLeast(waited, 1_000, "waited for Retry-After: 1 (virtual time)")
      assert.strictEqual(calls, 2)

      const [long] = yield* onTestClock(Effect.flip(gh.request("GET /long")))
      assert.strictEqual(long.status, 429)
      const [primary] = yield* onTestClock(Effect.flip(gh.request("GET /primary")))
      assert.strictEqual(primary.status, 403)
      assert.strictEqual(
        server.requests.filter((r) => r.url !== "/limited").length,
        2,
        "no retry for waits over maxDelayMs"
      )
    }))

  it.live("an unreachable API is retried, then reported without a status; no error ever shows the token", () =>
    Effect.gen(function*() {
      const gh = yield* client("http://127.0.0.1:9", { times: 1, baseDelayMs: 1 })
      const error = yield* Effect.flip(
        gh.request("GET /repos/{owner}/{repo}", { params: { owner: "o", repo: "r" }, token: TOKEN })
      )
      assert.isUndefined(error.status)
      assert.include(error.message, "could not reach GitHub")
      const server = yield* FakeGitHub.start
      server.route(() => ({ status: 401, body: { message: "Bad credentials" } }))
      const refused = yield* Effect.flip(
        (yield* client(server.url)).request("GET /repos/{owner}/{repo}", {
          params: { owner: "o", repo: "r" },
          token: TOKEN
        })
      )
      for (const e of [error, refused]) {
        const shown = `${e.message} ${String(e)} ${JSON.stringify(e)}`
        assert.notInclude(shown, Redacted.value(TOKEN))
      }
      assert.strictEqual(refused.status, 401)
    }))

  it.live("an answer that does not decode is a GitHubError with the status", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      server.route(() => ({ status: 200, body: { id: "not a number" } }))
      const error = yield* Effect.flip(
        (yield* client(server.url)).request("GET /x", { schema: Schema.Struct({ id: Schema.Int }) })
      )
      assert.strictEqual(error._tag, "GitHubError")
      assert.strictEqual(error.status, 200)
      assert.include(error.message, "unexpected answer")
    }))

  it.live("an answer that never comes is given up after the per-attempt timeout, then retried", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      let calls = 0
      server.route((r) =>
        r.url.startsWith("/slow") ? (++calls === 1 ? { status: 0, hang: true } : { status: 200, body: {} }) : undefined
      )
      server.route((r) => r.url.startsWith("/hung") ? { status: 0, hang: true } : undefined)
      const gh = yield* GitHubClient.make({ apiUrl: server.url, retry: { times: 1, baseDelayMs: 1 }, timeoutMs: 1_000 })
      const ok = yield* gh.request("GET /slow")
      assert.strictEqual(ok.status, 200)
      assert.strictEqual(calls, 2, "the hung attempt was abandoned and retried")
      const error = yield* Effect.flip(gh.request("GET /hung", { token: TOKEN }))
      assert.isUndefined(error.status)
      assert.include(error.message, "no answer within 1 s")
      assert.notInclude(error.message, Redacted.value(TOKEN))
      assert.strictEqual(server.requests.filter((r) => r.url === "/hung").length, 2, "one attempt and one retry")
    }))
  for (
    const [what, limited, askedMs] of [
      ["Retry-After", { "retry-after": "5" }, 5_000],
      // The primary limit's reset is in epoch seconds; the TestClock starts at 0.
      ["the rate-limit reset", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "7" }, 7_000]
    ] as const
  ) {
    it.effect(`on the TestClock: ${what} is waited for, then the call succeeds`, () =>
      Effect.gen(function*() {
        const clock = yield* TestClock.testClockWith(Effect.succeed)
        const calls: Array<number> = []
        const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
          new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })
        const fetch: typeof globalThis.fetch = async () => {
          calls.push(clock.currentTimeMillisUnsafe())
          return calls.length === 1 ? json(403, { message: "API rate limit exceeded" }, limited) : json(200, { id: 1 })
        }
        const gh = yield* GitHubClient.make({ apiUrl: "http://127.0.0.1:9", fetch, retry: { maxDelayMs: 10_000 } })
        const fiber = yield* Effect.forkChild(gh.request("GET /x"))
        while (fiber.pollUnsafe() === undefined && clock.currentTimeMillisUnsafe() < 60_000) {
          // Octokit's promises settle on the real event loop; then the virtual clock moves on.
          yield* TestClock.withLive(Effect.sleep(1))
          yield* TestClock.adjust("50 millis")
        }
        const response = yield* Fiber.join(fiber)
        assert.strictEqual(response.status, 200)
        assert.strictEqual(calls.length, 2)
        assert.isAtLeast(calls[1]! - calls[0]!, askedMs)
        assert.isBelow(calls[1]! - calls[0]!, askedMs + 200)
      }))
  }
})
