import { assert, describe, it } from "@effect/vitest"
import * as Hooks from "@porter/worker/async-hooks"
import * as Background from "@porter/worker/background"
import { Deferred, Effect, Logger, Ref } from "effect"

/** A fake `ExecutionContext` that records what it was asked to wait for. */
const fakeContext = () => {
  const waits: Array<Promise<unknown>> = []
  return { waits, ctx: { waitUntil: (promise: Promise<unknown>) => void waits.push(promise) } }
}

/**
 * Whether `promise` has settled by the time the microtask and macrotask queues have run once (a timer, then the check
 * phase): no wall-clock wait, so a promise held by a gate the test has not opened is reported unsettled every time.
 */
const settledSoon = (promise: Promise<unknown>) =>
  Effect.promise(() =>
    Promise.race([
      promise.then(() => true, () => true),
      new Promise<boolean>((resolve) => setTimeout(() => setImmediate(() => resolve(false)), 0))
    ])
  )

describe("WorkerBackground", () => {
  it.live("hands the work to waitUntil and returns before it is done", () =>
    Effect.gen(function*() {
      const { ctx, waits } = fakeContext()
      const background = Background.make({ keepAliveMs: 5_000 })
      const gate = yield* Deferred.make<void>()
      const done = yield* Ref.make(false)
      yield* background.run(Effect.andThen(Deferred.await(gate), Ref.set(done, true))).pipe(
        Effect.provideService(Background.CurrentExecutionContext, ctx)
      )
      assert.strictEqual(waits.length, 1)
      assert.isFalse(yield* Ref.get(done))
      assert.isFalse(yield* settledSoon(waits[0]!))
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.promise(() => waits[0]!)
      assert.isTrue(yield* Ref.get(done))
    }))

  it.live("keeps a request alive while another request's run is in flight, at most keepAliveMs", () =>
    Effect.gen(function*() {
      const first = fakeContext()
      const second = fakeContext()
      const background = Background.make({ keepAliveMs: 5_000 })
      const gateA = yield* Deferred.make<void>()
      const gateB = yield* Deferred.make<void>()
      yield* background.run(Deferred.await(gateA)).pipe(
        Effect.provideService(Background.CurrentExecutionContext, first.ctx)
      )
      yield* background.run(Deferred.await(gateB)).pipe(
        Effect.provideService(Background.CurrentExecutionContext, second.ctx)
      )
      yield* Deferred.succeed(gateA, undefined)
      // The first request's own work is done, but the second's may be running on its I/O context.
      assert.isFalse(yield* settledSoon(first.waits[0]!))
      yield* Deferred.succeed(gateB, undefined)
      yield* Effect.promise(() => Promise.all([first.waits[0]!, second.waits[0]!]))

      // A run that never ends holds the others at most keepAliveMs.
      const bounded = Background.make({ keepAliveMs: 50 })
      const third = fakeContext()
      const never = yield* Deferred.make<void>()
      const short = yield* Deferred.make<void>()
      yield* bounded.run(Deferred.await(never)).pipe(
        Effect.provideService(Background.CurrentExecutionContext, fakeContext().ctx)
      )
      yield* bounded.run(Deferred.await(short)).pipe(
        Effect.provideService(Background.CurrentExecutionContext, third.ctx)
      )
      yield* Deferred.succeed(short, undefined)
      yield* Effect.promise(() => third.waits[0]!).pipe(Effect.timeout("5 seconds"))
    }))

  it.live("a request's wait that timed out leaves nothing behind, while a run stays in flight", () =>
    Effect.gen(function*() {
      const tracked = Background.makeTracked({ keepAliveMs: 20 })
      const never = yield* Deferred.make<void>()
      yield* tracked.service.run(Deferred.await(never)).pipe(
        Effect.provideService(Background.CurrentExecutionContext, fakeContext().ctx)
      )
      const requests = Array.from({ length: 50 }, fakeContext)
      for (const request of requests) {
        yield* tracked.service.run(Effect.void).pipe(
          Effect.provideService(Background.CurrentExecutionContext, request.ctx)
        )
      }
      yield* Effect.promise(() => Promise.all(requests.map((request) => request.waits[0]!)))
      assert.strictEqual(tracked.waiting(), 0)
      // And a wait that is woken (the last run ended) leaves too.
      const woken = fakeContext()
      const gate = yield* Deferred.make<void>()
      const slow = Background.makeTracked({ keepAliveMs: 5_000 })
      yield* slow.service.run(Deferred.await(gate)).pipe(
        Effect.provideService(Background.CurrentExecutionContext, fakeContext().ctx)
      )
      yield* slow.service.run(Effect.void).pipe(Effect.provideService(Background.CurrentExecutionContext, woken.ctx))
      assert.isFalse(yield* settledSoon(woken.waits[0]!))
      assert.strictEqual(slow.waiting(), 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.promise(() => woken.waits[0]!).pipe(Effect.timeout("1 second"))
      assert.strictEqual(slow.waiting(), 0)
    }))

  it.live("failures are logged, never rejected; without a request the work runs inline", () =>
    Effect.gen(function*() {
      const { ctx, waits } = fakeContext()
      const background = Background.make()
      yield* background.run(Effect.die(new Error("boom"))).pipe(
        Effect.provideService(Background.CurrentExecutionContext, ctx)
      )
      yield* Effect.promise(() => waits[0]!)
      const done = yield* Ref.make(false)
      yield* background.run(Effect.andThen(Effect.sleep("10 millis"), Ref.set(done, true)))
      assert.isTrue(yield* Ref.get(done), "inline: done when run returns")
      yield* background.run(Effect.die(new Error("inline boom")))
    }).pipe(Effect.provide(Logger.layer([]))))
})

describe("WorkerAsyncHooks", () => {
  it("hides AsyncResource from node:async_hooks until restored, and nothing else", () => {
    class AsyncResource {}
    class AsyncLocalStorage {}
    const original = (id: string): unknown =>
      id === "node:async_hooks" ? { AsyncResource, AsyncLocalStorage } : { name: id }
    const target = { process: { getBuiltinModule: original } }
    const restore = Hooks.hide(target)
    const hooks = target.process.getBuiltinModule("node:async_hooks") as Record<string, unknown>
    assert.isUndefined(hooks["AsyncResource"])
    assert.strictEqual(hooks["AsyncLocalStorage"], AsyncLocalStorage)
    assert.deepStrictEqual(target.process.getBuiltinModule("node:fs"), { name: "node:fs" })
    restore()
    assert.strictEqual(target.process.getBuiltinModule, original)
    assert.strictEqual(
      (target.process.getBuiltinModule("node:async_hooks") as Record<string, unknown>)["AsyncResource"],
      AsyncResource
    )
  })

  it("does nothing where there is no process.getBuiltinModule", () => {
    const target: { process?: unknown } = {}
    Hooks.hide(target)()
    assert.deepStrictEqual(target, {})
  })
})
