/** The SecretStore contract, run by every adapter. */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { SecretStore } from "@porter/core"
import { Effect, Layer, Option, Redacted } from "effect"

let serial = 0
const unique = () => `${Date.now().toString(36)}${(serial++).toString(36)}`
const name = (n: string) => n as SecretStore.SecretName

/** Registers the `SecretStore` contract's tests against `layer`. */
export const run = <E>(name_: string, layer: Layer.Layer<SecretStore.SecretStore, E>) =>
  describe(`SecretStore conformance: ${name_}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("sets, gets and overwrites; values come back Redacted", () =>
        Effect.gen(function*() {
          const s = yield* SecretStore.SecretStore
          const scope = SecretStore.scopes.repository(`conf-${unique()}/repo`)
          yield* s.set(scope, name("ANTHROPIC_API_KEY"), Redacted.make("sk-ant-first"))
          yield* s.set(scope, name("ANTHROPIC_API_KEY"), Redacted.make("sk-ant-second"))
          const got = yield* s.get(scope, name("ANTHROPIC_API_KEY"))
          assert.isTrue(Option.isSome(got))
          const value = Option.getOrThrow(got)
          assert.isTrue(Redacted.isRedacted(value))
          assert.strictEqual(Redacted.value(value), "sk-ant-second")
          assert.notInclude(String(value), "sk-ant")
          assert.notInclude(JSON.stringify({ value }), "sk-ant")
          assert.isTrue(Option.isNone(yield* s.get(scope, name("OPENAI_API_KEY"))))
        }))

      it.effect("keeps scopes apart", () =>
        Effect.gen(function*() {
          const s = yield* SecretStore.SecretStore
          const id = unique()
          const a = SecretStore.scopes.user(`1${serial++}${Date.now()}`)
          const b = SecretStore.scopes.repository(`conf-${id}/repo`)
          yield* s.set(a, name("TOKEN_X"), Redacted.make("user-value"))
          assert.isTrue(Option.isNone(yield* s.get(b, name("TOKEN_X"))))
          yield* s.set(b, name("TOKEN_X"), Redacted.make("repo-value"))
          assert.strictEqual(Redacted.value(Option.getOrThrow(yield* s.get(a, name("TOKEN_X")))), "user-value")
          assert.strictEqual(Redacted.value(Option.getOrThrow(yield* s.get(b, name("TOKEN_X")))), "repo-value")
        }))

      it.effect("resolve falls back user → repository → installation → global", () =>
        Effect.gen(function*() {
          const s = yield* SecretStore.SecretStore
          const id = unique()
          const secret = name(`FALLBACK_${id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`)
          const chain = {
            userId: `9${serial++}${Date.now()}`,
            repo: `conf-${id}/repo`,
            installationId: `8${serial++}${Date.now()}`
          }
          const resolved = () =>
            Effect.map(s.resolve(secret, chain), Option.map((r) => [r.scope._tag, Redacted.value(r.value)]))
          assert.isTrue(Option.isNone(yield* resolved()))
          yield* s.set(SecretStore.scopes.global, secret, Redacted.make("g"))
          assert.deepStrictEqual(Option.getOrThrow(yield* resolved()), ["global", "g"])
          yield* s.set(SecretStore.scopes.installation(chain.installationId), secret, Redacted.make("i"))
          assert.deepStrictEqual(Option.getOrThrow(yield* resolved()), ["installation", "i"])
          yield* s.set(SecretStore.scopes.repository(chain.repo), secret, Redacted.make("r"))
          assert.deepStrictEqual(Option.getOrThrow(yield* resolved()), ["repository", "r"])
          yield* s.set(SecretStore.scopes.user(chain.userId), secret, Redacted.make("u"))
          assert.deepStrictEqual(Option.getOrThrow(yield* resolved()), ["user", "u"])
          yield* s.delete(SecretStore.scopes.global, secret)
        }))

      it.effect("resolveAll finds several names along the chain at once", () =>
        Effect.gen(function*() {
          const s = yield* SecretStore.SecretStore
          const id = unique().toUpperCase().replace(/[^A-Z0-9]/g, "_")
          const chain = { userId: `7${serial++}${Date.now()}`, repo: `conf-${unique()}/repo` }
          const [a, b, c] = [name(`ALL_A_${id}`), name(`ALL_B_${id}`), name(`ALL_C_${id}`)]
          yield* s.set(SecretStore.scopes.repository(chain.repo), a, Redacted.make("repo-a"))
          yield* s.set(SecretStore.scopes.user(chain.userId), a, Redacted.make("user-a"))
          yield* s.set(SecretStore.scopes.repository(chain.repo), b, Redacted.make("repo-b"))
          const found = yield* s.resolveAll([a, b, c], chain)
          assert.deepStrictEqual(
            [...found.entries()].map(([n, r]) => [n, r.scope._tag, Redacted.value(r.value)]).sort(),
            [[a, "user", "user-a"], [b, "repository", "repo-b"]]
          )
          assert.strictEqual((yield* s.resolveAll([], chain)).size, 0)
        }))

      it.effect("rotate reports what it did and leaves every secret readable", () =>
        Effect.gen(function*() {
          const s = yield* SecretStore.SecretStore
          const scope = SecretStore.scopes.repository(`conf-${unique()}/repo`)
          yield* s.set(scope, name("ROTATE_ME"), Redacted.make("still-here"))
          const report = yield* s.rotate()
          assert.strictEqual(report.failed, 0)
          assert.isTrue(report.currentKeyId.length > 0)
          assert.strictEqual(Redacted.value(Option.getOrThrow(yield* s.get(scope, name("ROTATE_ME")))), "still-here")
        }))

      it.effect("repository names are case-insensitive, like GitHub's", () =>
        Effect.gen(function*() {
          const s = yield* SecretStore.SecretStore
          const repo = `Conf-${unique()}/Repo`
          yield* s.set(SecretStore.scopes.repository(repo), name("CASE_TEST"), Redacted.make("v"))
          const found = yield* s.resolve(name("CASE_TEST"), { repo: repo.toLowerCase() })
          assert.isTrue(Option.isSome(found))
        }))

      it.effect("lists names only, and deletes", () =>
        Effect.gen(function*() {
          const s = yield* SecretStore.SecretStore
          const scope = SecretStore.scopes.repository(`conf-${unique()}/repo`)
          yield* s.set(scope, name("B_KEY"), Redacted.make("very-secret-b"))
          yield* s.set(scope, name("A_KEY"), Redacted.make("very-secret-a"))
          const listed = yield* s.list(scope)
          assert.deepStrictEqual(listed.map((l) => l.name), ["A_KEY", "B_KEY"])
          assert.notInclude(JSON.stringify(listed), "very-secret")
          assert.isTrue((yield* s.list()).some((l) => l.name === "A_KEY"))
          assert.isTrue(yield* s.delete(scope, name("A_KEY")))
          assert.isFalse(yield* s.delete(scope, name("A_KEY")))
          assert.deepStrictEqual((yield* s.list(scope)).map((l) => l.name), ["B_KEY"])
          assert.isTrue(Option.isNone(yield* s.get(scope, name("A_KEY"))))
        }))
    })
  })
