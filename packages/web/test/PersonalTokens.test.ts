// Personal tokens (for MCP clients): shown once and stored hashed, verified only while live and unrevoked, carrying the
// GitHub sign-in they were made from — and the newest one after the user signs in again.
import { assert, describe, it } from "@effect/vitest"
import { PersonalTokens, SessionKeys, TokenStore } from "@porter/web"
import { Effect, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"

const keys = Layer.effect(
  SessionKeys.SessionKeys,
  SessionKeys.make(Redacted.make("a-test-session-secret-of-32-characters"))
)
const live = PersonalTokens.layer.pipe(Layer.provideMerge(Layer.merge(keys, TokenStore.layerMemory)))

const session = (token: string, userId = 42) => ({
  idHash: "h",
  userId,
  login: "octocat",
  token: Redacted.make(token),
  expiresAt: Number.MAX_SAFE_INTEGER,
  csrf: ""
})

describe("PersonalTokens", () => {
  it.effect("a token is stored hashed, verified while live, refused once revoked or ended", () =>
    Effect.gen(function*() {
      const tokens = yield* PersonalTokens.PersonalTokens
      const store = yield* TokenStore.TokenStore
      const made = yield* tokens.create(session("ghu_first"), { name: "laptop", days: 7 })
      const secret = Redacted.value(made.token)
      assert.match(secret, /^porter_pat_[A-Za-z0-9_-]{43}$/)
      const [row] = yield* store.listByUser(42)
      assert.notInclude(JSON.stringify(row), secret)
      assert.notInclude(JSON.stringify(row), "ghu_first")

      const verified = Option.getOrThrow(yield* tokens.verify(secret))
      assert.strictEqual(verified.userId, 42)
      assert.strictEqual(Redacted.value(verified.githubToken), "ghu_first")
      // Another last character (the 32 random bytes leave it 16 values, "A" among them: replacing it with a fixed
      // one would sometimes give the token back unchanged).
      const tampered = `${secret.slice(0, -1)}${secret.endsWith("A") ? "E" : "A"}`
      assert.isTrue(Option.isNone(yield* tokens.verify(tampered)))
      assert.isTrue(Option.isNone(yield* tokens.verify("porter_pat_short")))

      yield* TestClock.adjust("8 days")
      assert.isTrue(Option.isNone(yield* tokens.verify(secret)))
      const other = yield* tokens.create(session("ghu_first"), { name: "ci" })
      assert.isFalse(yield* tokens.revoke(7, other.stored.id))
      assert.isTrue(yield* tokens.revoke(42, other.stored.id))
      assert.isTrue(Option.isNone(yield* tokens.verify(Redacted.value(other.token))))
    }).pipe(Effect.provide(live)))

  it.effect("signing in again gives the user's live tokens the new GitHub sign-in; others' are untouched", () =>
    Effect.gen(function*() {
      const tokens = yield* PersonalTokens.PersonalTokens
      const mine = yield* tokens.create(session("ghu_old"), { name: "editor" })
      const theirs = yield* tokens.create(session("ghu_theirs", 43), { name: "editor" })
      assert.strictEqual(yield* tokens.adopt(session("ghu_new")), 1)
      const verified = Option.getOrThrow(yield* tokens.verify(Redacted.value(mine.token)))
      assert.strictEqual(Redacted.value(verified.githubToken), "ghu_new")
      const untouched = Option.getOrThrow(yield* tokens.verify(Redacted.value(theirs.token)))
      assert.strictEqual(Redacted.value(untouched.githubToken), "ghu_theirs")
    }).pipe(Effect.provide(live)))

  it.effect("at most 20 live tokens per user", () =>
    Effect.gen(function*() {
      const tokens = yield* PersonalTokens.PersonalTokens
      for (let i = 0; i < PersonalTokens.MAX_PER_USER; i++) {
        yield* tokens.create(session("ghu_x", 50), { name: `t${i}` })
      }
      const refused = yield* Effect.flip(tokens.create(session("ghu_x", 50), { name: "one more" }))
      assert.strictEqual(refused._tag, "TooManyTokens")
    }).pipe(Effect.provide(live)))
})
