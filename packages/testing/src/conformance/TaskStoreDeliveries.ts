/**
 * The TaskStore contract, webhook deliveries and notices: a delivery is claimed once however many claims race, an
 * unfinished one comes back for retry (leased to one sweeper at a time), and a notice is claimed once per quiet period.
 */
import { assert } from "@effect/vitest"
import { Ids, TaskStore } from "@porter/core"
import { Effect } from "effect"
import type { TaskStoreIt } from "./TaskStoreFixtures.ts"

const store = TaskStore.TaskStore

/** Registers the delivery and notice tests of the `TaskStore` contract with `it`. */
export const register = (it: TaskStoreIt) => {
  it.effect("claims a delivery exactly once, also when 50 claims race", () =>
    Effect.gen(function*() {
      const s = yield* store
      const id = `race-${Date.now()}-${Math.random()}` as Ids.DeliveryId
      const results = yield* Effect.all(
        Array.from({ length: 50 }, () => s.claimDelivery({ id, receivedAt: 1, payload: "{}" })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Boolean).length, 1)
      assert.isFalse(yield* s.claimDelivery({ id, receivedAt: 2, payload: "{}" }))
    }))

  it.effect("claims of many deliveries at once: each claimed once, each stored with its own payload", () =>
    Effect.gen(function*() {
      const s = yield* store
      const tag = `${Date.now()}-${Math.random()}`
      // 40 distinct deliveries (more than a SQL store inserts in one statement), 20 of them claimed twice.
      const claims = Array.from({ length: 60 }, (_, i) => {
        const n = i < 40 ? i : (i - 40) * 2
        return { id: `many-${n}-${tag}` as Ids.DeliveryId, receivedAt: -1_000 + n, payload: `{"n":${n}}` }
      })
      const results = yield* Effect.all(claims.map((claim) => s.claimDelivery(claim)), {
        concurrency: "unbounded"
      })
      for (let n = 0; n < 40; n++) {
        const won = claims.flatMap((claim, i) => (claim.id === `many-${n}-${tag}` && results[i] ? [i] : []))
        assert.strictEqual(won.length, 1, `delivery ${n} claimed once`)
      }
      const pending = (yield* s.retryDeliveries(0, 1000)).filter((d) => d.id.endsWith(tag))
      assert.strictEqual(pending.length, 40)
      for (const delivery of pending) {
        const n = Number(delivery.id.split("-")[1])
        assert.deepStrictEqual([delivery.receivedAt, delivery.payload], [-1_000 + n, `{"n":${n}}`])
      }
      yield* Effect.forEach(pending, (delivery) => s.completeDelivery(delivery.id, 1))
    }))

  it.effect("retries deliveries that were never completed, counting attempts", () =>
    Effect.gen(function*() {
      const s = yield* store
      const tag = `${Date.now()}-${Math.random()}`
      const stale = `stale-${tag}` as Ids.DeliveryId
      const done = `done-${tag}` as Ids.DeliveryId
      const young = `young-${tag}` as Ids.DeliveryId
      yield* s.claimDelivery({ id: stale, receivedAt: 1_000, payload: "{\"a\":1}" })
      yield* s.claimDelivery({ id: done, receivedAt: 1_000, payload: "{}" })
      yield* s.completeDelivery(done, 1_500)
      yield* s.claimDelivery({ id: young, receivedAt: 9_000, payload: "{}" })
      const first = (yield* s.retryDeliveries(5_000, 1000)).filter((d) => d.id.endsWith(tag))
      assert.deepStrictEqual(first.map((d) => d.id), [stale])
      assert.strictEqual(first[0]!.payload, "{\"a\":1}")
      assert.strictEqual(first[0]!.receivedAt, 1_000)
      const second = (yield* s.retryDeliveries(5_000, 1000)).filter((d) => d.id.endsWith(tag))
      assert.strictEqual(second[0]!.attempts, first[0]!.attempts + 1)
      yield* s.completeDelivery(stale, 6_000)
      assert.strictEqual((yield* s.retryDeliveries(5_000, 1000)).filter((d) => d.id.endsWith(tag)).length, 0)
    }))

  it.effect("a leased retry hands each delivery to one of racing sweepers, once per retry period", () =>
    Effect.gen(function*() {
      const s = yield* store
      const tag = `${Date.now()}-${Math.random()}`
      const id = `leased-${tag}` as Ids.DeliveryId
      yield* s.claimDelivery({ id, receivedAt: 1_000, payload: "{}" })
      const mine = (list: ReadonlyArray<TaskStore.PendingDelivery>) => list.filter((d) => d.id === id)
      const raced = yield* Effect.all(
        Array.from({ length: 10 }, () => s.retryDeliveries(5_000, 1000, 6_000)),
        { concurrency: "unbounded" }
      )
      const taken = raced.flatMap(mine)
      assert.strictEqual(taken.length, 1)
      assert.strictEqual(taken[0]!.attempts, 2)
      assert.deepStrictEqual(mine(yield* s.retryDeliveries(5_000, 1000, 6_500)), [], "leased until 6,000 is old")
      const again = mine(yield* s.retryDeliveries(7_000, 1000, 9_000))
      assert.deepStrictEqual(again.map((d) => [d.id, d.attempts]), [[id, 3]])
      yield* s.completeDelivery(id, 9_500)
      assert.deepStrictEqual(mine(yield* s.retryDeliveries(20_000, 1000, 30_000)), [])
    }))

  it.effect("claimNotice: once per quiet period, one of racing claims", () =>
    Effect.gen(function*() {
      const s = yield* store
      const key = `refused:${Date.now()}-${Math.random()}`
      const results = yield* Effect.all(
        Array.from({ length: 10 }, () => s.claimNotice(key, 1_000, 3_600_000)),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Boolean).length, 1)
      assert.isFalse(yield* s.claimNotice(key, 1_000 + 3_599_999, 3_600_000))
      assert.isTrue(yield* s.claimNotice(key, 1_000 + 3_600_000, 3_600_000))
      assert.isFalse(yield* s.claimNotice(key, 1_000 + 3_600_001, 3_600_000))
      assert.isTrue(yield* s.claimNotice(`${key}-other`, 1_000, 3_600_000))
    }))
}
