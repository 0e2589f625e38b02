// The shared retry rule, on the TestClock: the times at which attempts start are the schedule's delays.
import { assert, describe, it } from "@effect/vitest"
import { RetryAfter } from "@porter/core"
import { Clock, Duration, Effect, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"

interface Failure {
  readonly retryable: boolean
  /** Seconds the failure asks to wait. */
  readonly asks?: number
}

const options = (overrides: Partial<RetryAfter.Options<Failure>> = {}): RetryAfter.Options<Failure> => ({
  times: 3,
  base: "100 millis",
  maxDelay: "10 seconds",
  while: (failure) => failure.retryable,
  requested: (failure) => (failure.asks === undefined ? undefined : Duration.seconds(failure.asks)),
  ...overrides
})

/**
 * Runs attempts that fail with `failures` in turn (then succeed) under the schedule, advancing the TestClock
 * until it ends; returns when each attempt started (millis since the first) and how it ended.
 */
const run = (failures: ReadonlyArray<Failure>, schedule: Schedule.Schedule<unknown, Failure>) =>
  Effect.gen(function*() {
    const started: Array<number> = []
    const t0 = yield* Clock.currentTimeMillis
    const attempt = Effect.gen(function*() {
      started.push((yield* Clock.currentTimeMillis) - t0)
      const failure = failures[started.length - 1]
      if (failure !== undefined) return yield* Effect.fail(failure)
      return "ok" as const
    })
    const fiber = yield* Effect.forkChild(Effect.result(Effect.retry(attempt, schedule)))
    // 10 ms steps: fine enough to see when each attempt starts, far beyond any delay here.
    for (let i = 0; i < 10_000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("10 millis")
    const result = yield* Fiber.join(fiber)
    return { started, result }
  })

describe("RetryAfter.schedule", () => {
  it.effect("backs off exponentially with jitter, and gives up after `times` retries with the last failure", () =>
    Effect.gen(function*() {
      const failures = Array.from({ length: 5 }, (): Failure => ({ retryable: true }))
      const { result, started } = yield* run(failures, RetryAfter.schedule(options()))
      assert.strictEqual(started.length, 4, "one attempt and three retries")
      assert.strictEqual(result._tag, "Failure")
      assert.strictEqual(result._tag === "Failure" && result.failure, failures[3])
      const gaps = started.slice(1).map((at, i) => at - started[i]!)
      // 100, 200, 400 ms, each within 80–120 % (the TestClock moves in 10 ms steps).
      for (const [i, gap] of gaps.entries()) {
        const step = 100 * 2 ** i
        assert.isAtLeast(gap, step * 0.8 - 10, `retry ${i + 1}`)
        assert.isAtMost(gap, step * 1.2 + 10, `retry ${i + 1}`)
      }
    }))

  it.effect("succeeds as soon as an attempt does", () =>
    Effect.gen(function*() {
      const { result, started } = yield* run([{ retryable: true }], RetryAfter.schedule(options()))
      assert.deepStrictEqual(result._tag === "Success" && result.success, "ok")
      assert.strictEqual(started.length, 2)
    }))

  it.effect("waits what the failure asks for (at least the backoff), then succeeds", () =>
    Effect.gen(function*() {
      const { result, started } = yield* run(
        [{ retryable: true, asks: 1 }, { retryable: true, asks: 2 }],
        RetryAfter.schedule(options())
      )
      assert.strictEqual(result._tag, "Success")
      assert.strictEqual(started.length, 3)
      assert.isAtLeast(started[1]!, 1_000)
      assert.isBelow(started[1]!, 1_020)
      assert.isAtLeast(started[2]! - started[1]!, 2_000)
      assert.isBelow(started[2]! - started[1]!, 2_020)
    }))

  it.effect("a wait asked for that is longer than maxDelay ends the retries at once", () =>
    Effect.gen(function*() {
      const long: Failure = { retryable: true, asks: 3_600 }
      const { result, started } = yield* run([long], RetryAfter.schedule(options()))
      assert.deepStrictEqual(started, [0], "no retry, no wait")
      assert.strictEqual(result._tag === "Failure" && result.failure, long)
    }))

  it.effect("the backoff is capped at maxDelay", () =>
    Effect.gen(function*() {
      const failures: ReadonlyArray<Failure> = [{ retryable: true }, { retryable: true }, { retryable: true }]
      const { started } = yield* run(
        failures,
        RetryAfter.schedule(options({ base: "1 second", maxDelay: "1500 millis" }))
      )
      assert.strictEqual(started.length, 4)
      for (const [i, gap] of started.slice(1).map((at, i) => at - started[i]!).entries()) {
        assert.isAtMost(gap, 1_510, `retry ${i + 1}`)
      }
    }))

  it.effect("maxBackoff caps the backoff while waits asked for may go up to maxDelay", () =>
    Effect.gen(function*() {
      const failures: ReadonlyArray<Failure> = [{ retryable: true }, { retryable: true, asks: 5 }]
      const { result, started } = yield* run(
        failures,
        RetryAfter.schedule(options({ base: "1 second", maxBackoff: "500 millis", maxDelay: "10 seconds" }))
      )
      assert.strictEqual(result._tag, "Success")
      assert.isAtMost(started[1]!, 510)
      assert.isAtLeast(started[2]! - started[1]!, 5_000)
    }))

  it.effect("a failure not worth retrying ends at once", () =>
    Effect.gen(function*() {
      const { result, started } = yield* run([{ retryable: false }], RetryAfter.schedule(options()))
      assert.deepStrictEqual(started, [0])
      assert.strictEqual(result._tag, "Failure")
    }))

  it.effect("no retry starts past the budget", () =>
    Effect.gen(function*() {
      const failures = Array.from({ length: 10 }, (): Failure => ({ retryable: true, asks: 2 }))
      const { result, started } = yield* run(failures, RetryAfter.schedule(options({ times: 10, budget: "5 seconds" })))
      assert.strictEqual(result._tag, "Failure")
      // Retries at ~2 s and ~4 s; the next would start at ~6 s, past the budget.
      assert.strictEqual(started.length, 3)
      assert.isAtMost(started.at(-1)!, 5_000)
    }))
})

describe("RetryAfter.parse", () => {
  it("reads whole seconds and HTTP dates; ignores the rest", () => {
    assert.strictEqual(Duration.toMillis(RetryAfter.parse("3", 0)!), 3_000)
    assert.strictEqual(Duration.toMillis(RetryAfter.parse(" 120 ", 0)!), 120_000)
    assert.strictEqual(Duration.toMillis(RetryAfter.parse(new Date(10_000).toUTCString(), 4_000)!), 6_000)
    assert.strictEqual(Duration.toMillis(RetryAfter.parse(new Date(1_000).toUTCString(), 4_000)!), 0, "a past date")
    assert.isUndefined(RetryAfter.parse("soon", 0))
    assert.isUndefined(RetryAfter.parse("-1", 0))
    assert.isUndefined(RetryAfter.parse(undefined, 0))
  })
})
