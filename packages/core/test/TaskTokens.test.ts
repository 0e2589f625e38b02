// Task tokens: the exact token format machines already hold (pinned values computed with the
// hand-written WebCrypto code before it moved onto effect/crypto), issue/verify, and the
// string comparison other modules use for the admin token.
import { assert, describe, it } from "@effect/vitest"
import { TaskTokens } from "@porter/core"
import { ConfigProvider, Effect, Redacted } from "effect"

const SECRET = Redacted.make("porter-test-secret")
const TASK = "task_01jd2v5h8k0000000000000000"
// base64url, no padding, of HMAC-SHA256("porter-test-secret", "porter-task-token:" + TASK).
const PINNED = "ktYLSIQRVCtqVtlLEqk58uJcs5qBFbsot8adUfKRHnQ"

describe("TaskTokens", () => {
  it.effect("issues the same bytes as before: base64url(HMAC-SHA256(secret, \"porter-task-token:\" + id))", () =>
    Effect.gen(function*() {
      const tokens = yield* TaskTokens.make(SECRET)
      assert.strictEqual(Redacted.value(yield* tokens.issue(TASK)), PINNED)
      const unicode = yield* TaskTokens.make(Redacted.make("ünïcode secret ✓"))
      assert.strictEqual(
        Redacted.value(yield* unicode.issue("task_zzzzzzzzzzzzzzzzzzzzzzzzzz")),
        "43TzTzloM8LhD5NwsOD8NEmfC0PS5TTORY7BnxM1wNw"
      )
    }))

  it.effect("verifies its own tokens and nothing else", () =>
    Effect.gen(function*() {
      const tokens = yield* TaskTokens.make(SECRET)
      assert.isTrue(yield* tokens.verify(TASK, PINNED))
      const other = yield* TaskTokens.make(Redacted.make("another secret"))
      const refused: ReadonlyArray<readonly [string, string]> = [
        ["another task", Redacted.value(yield* tokens.issue("task_01jd2v5h8k0000000000000001"))],
        ["another secret", Redacted.value(yield* other.issue(TASK))],
        ["empty", ""],
        ["truncated", PINNED.slice(0, -1)],
        ["one character longer", `${PINNED}A`],
        ["padded", `${PINNED}=`],
        // Same 32 bytes once decoded (the last character's two spare bits differ): the text is compared.
        ["non-canonical last character", `${PINNED.slice(0, -1)}R`],
        ["standard base64 alphabet", PINNED.replaceAll("_", "/").replaceAll("-", "+") + "+"],
        ["not base64url", "!".repeat(43)],
        ["one bit off", `${PINNED.slice(0, -2)}nR`]
      ]
      for (const [label, presented] of refused) {
        assert.isFalse(yield* tokens.verify(TASK, presented), label)
      }
    }))

  it.effect("layerConfig reads PORTER_TASK_TOKEN_SECRET", () =>
    Effect.gen(function*() {
      const tokens = yield* TaskTokens.TaskTokens
      assert.strictEqual(Redacted.value(yield* tokens.issue(TASK)), PINNED)
    }).pipe(
      Effect.provide(TaskTokens.layerConfig()),
      Effect.provide(
        ConfigProvider.layer(ConfigProvider.fromEnv({ env: { PORTER_TASK_TOKEN_SECRET: "porter-test-secret" } }))
      )
    ))

  it("timingSafeEqual compares strings exactly (UTF-8 bytes)", () => {
    assert.isTrue(TaskTokens.timingSafeEqual("", ""))
    assert.isTrue(TaskTokens.timingSafeEqual("admin-token", "admin-token"))
    assert.isTrue(TaskTokens.timingSafeEqual("ünï ✓", "ünï ✓"))
    assert.isFalse(TaskTokens.timingSafeEqual("admin-token", "admin-tokeN"))
    assert.isFalse(TaskTokens.timingSafeEqual("admin-token", "admin-token "))
    assert.isFalse(TaskTokens.timingSafeEqual("admin-token", ""))
    assert.isFalse(TaskTokens.timingSafeEqual("", "admin-token"))
    assert.isFalse(TaskTokens.timingSafeEqual("é", "e\u0301"))
  })
})
