// Identifiers: the TaskId layout (task_ + 10 Crockford base32 characters of time + 16 of
// randomness) and the base64url text, pinned before the encoders moved onto effect/encoding.
import { assert, describe, it } from "@effect/vitest"
import { Ids } from "@porter/core"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"

describe("Ids", () => {
  it.effect("TaskId: task_, 10 characters of Clock time, 16 random ones, all Crockford base32", () =>
    Effect.gen(function*() {
      const atZero = yield* Ids.makeTaskId
      assert.match(atZero, /^task_0000000000[0-9a-hjkmnp-tv-z]{16}$/)
      yield* TestClock.setTime(1_795_000_000_123)
      const ids = yield* Effect.all(Array.from({ length: 50 }, () => Ids.makeTaskId))
      for (const id of ids) {
        assert.match(id, /^task_01m7q5cqkv[0-9a-hjkmnp-tv-z]{16}$/)
        assert.isTrue(Schema.is(Ids.TaskId)(id))
      }
      assert.strictEqual(new Set(ids).size, ids.length)
      assert.strictEqual(Ids.shortTaskId(ids[0]!), ids[0]!.slice(-8))
      yield* TestClock.setTime(2 ** 48 - 1)
      assert.match(yield* Ids.makeTaskId, /^task_7zzzzzzzzz/)
    }))

  it("toBase64Url: url-safe alphabet, no padding", () => {
    assert.strictEqual(Ids.toBase64Url(new Uint8Array(0)), "")
    assert.strictEqual(Ids.toBase64Url(Uint8Array.of(0xfb, 0xff, 0xbf, 0x00, 0x01)), "-_-_AAE")
    assert.strictEqual(
      Ids.toBase64Url(Uint8Array.from({ length: 40 }, (_, i) => i * 7)),
      "AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK-2vcTL0tng5-71_AMKEQ"
    )
    const long = Uint8Array.from({ length: 300 }, (_, i) => (i * 31 + 7) & 0xff)
    assert.strictEqual(Ids.toBase64Url(long), Buffer.from(long).toString("base64url"))
  })

  it("randomToken and randomBytes", () => {
    assert.match(Ids.randomToken(), /^[A-Za-z0-9_-]{43}$/)
    assert.match(Ids.randomToken(12), /^[A-Za-z0-9_-]{16}$/)
    assert.strictEqual(Ids.randomBytes(16).length, 16)
    assert.notStrictEqual(Ids.randomToken(), Ids.randomToken())
  })
})
