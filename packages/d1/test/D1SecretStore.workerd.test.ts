// The encrypted secret store on a real local D1 (workerd via Miniflare): what is stored, what
// tampering does, key rotation, and the key configuration.
import { afterAll, assert, describe, it, layer } from "@effect/vitest"
import { SecretStore } from "@porter/core"
import { D1SecretStore, EncryptionKeys } from "@porter/d1"
import { ConfigProvider, Context, Effect, Exit, Layer, Option, Redacted } from "effect"
import { clientLayer, raw, start } from "./utils.ts"

const d1 = await start()
afterAll(() => d1.dispose())

const k1 = { id: "k1", key: Redacted.make(EncryptionKeys.generate()) }
const k2 = { id: "k2", key: Redacted.make(EncryptionKeys.generate()) }
const Sql = clientLayer(d1.db)

/** A store with `keys`, as a Worker configured with them would have. */
const storeWith = (keys: EncryptionKeys.EncryptionKeysOptions) =>
  Effect.map(
    Layer.build(Layer.fresh(D1SecretStore.layer(keys)).pipe(Layer.provide(Sql))),
    (context) => Context.get(context, D1SecretStore.D1SecretStore)
  )

let serial = 0
const fresh = () => SecretStore.scopes.repository(`secret-${Date.now().toString(36)}-${serial++}/repo`)
const name = (n: string) => n as SecretStore.SecretName
const PLAINTEXT = "sk-live-PLAINTEXT-never-leaves-as-text"

interface Row {
  readonly scope_key: string
  readonly name: string
  readonly key_id: string
  readonly iv: string
  readonly ciphertext: string
}
const rowOf = (scope: SecretStore.SecretScope, secret: string) =>
  Effect.map(
    raw<Row>`SELECT scope_key, name, key_id, iv, ciphertext FROM secrets
      WHERE scope_key = ${SecretStore.scopeKey(scope)} AND name = ${secret}`,
    (rows) => rows[0]!
  )

/** Flips one bit of base64 `text` at byte `at`. */
const flip = (text: string, at: number) => {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
  bytes[at] = bytes[at]! ^ 1
  return btoa(String.fromCharCode(...bytes))
}

/** The store refuses the row with `SecretDecryptionFailed`, and the plaintext shows nowhere. */
const assertRefused = (exit: Exit.Exit<unknown, unknown>, keyId?: string) => {
  assert.isTrue(Exit.isFailure(exit))
  const text = `${JSON.stringify(exit)} ${String(exit)}`
  assert.notInclude(text, PLAINTEXT)
  assert.include(text, "SecretDecryptionFailed")
  if (keyId !== undefined) assert.include(text, keyId)
}

layer(Sql, { excludeTestServices: true })("D1SecretStore on local D1", (it) => {
  it.effect("stores ciphertext only, with a fresh IV on every write", () =>
    Effect.gen(function*() {
      const store = yield* storeWith({ current: k1 })
      const scope = fresh()
      yield* store.set(scope, name("API_KEY"), Redacted.make(PLAINTEXT))
      const first = yield* rowOf(scope, "API_KEY")
      yield* store.set(scope, name("API_KEY"), Redacted.make(PLAINTEXT))
      const second = yield* rowOf(scope, "API_KEY")
      const everything = JSON.stringify(yield* raw`SELECT * FROM secrets`)
      assert.notInclude(everything, PLAINTEXT)
      assert.notInclude(everything, btoa(PLAINTEXT).slice(0, 20))
      assert.strictEqual(first.key_id, "k1")
      assert.strictEqual(atob(first.iv).length, 12)
      assert.notStrictEqual(first.iv, second.iv)
      assert.notStrictEqual(first.ciphertext, second.ciphertext)
      const back = yield* store.get(scope, name("API_KEY"))
      assert.strictEqual(Redacted.value(Option.getOrThrow(back)), PLAINTEXT)
    }))

  it.effect("a tampered ciphertext or IV fails with SecretDecryptionFailed and no plaintext", () =>
    Effect.gen(function*() {
      const store = yield* storeWith({ current: k1 })
      for (const [column, at] of [["ciphertext", 0], ["ciphertext", 20], ["iv", 5]] as const) {
        const scope = fresh()
        yield* store.set(scope, name("API_KEY"), Redacted.make(PLAINTEXT))
        const row = yield* rowOf(scope, "API_KEY")
        const tampered = flip(row[column], at)
        if (column === "iv") yield* raw`UPDATE secrets SET iv = ${tampered} WHERE scope_key = ${row.scope_key}`
        else yield* raw`UPDATE secrets SET ciphertext = ${tampered} WHERE scope_key = ${row.scope_key}`
        assertRefused(yield* Effect.exit(store.get(scope, name("API_KEY"))), "k1")
        const repo = SecretStore.scopeKey(scope).slice("repository:".length)
        assertRefused(yield* Effect.exit(store.resolve(name("API_KEY"), { repo })))
      }
      // Not base64 at all, and a truncated IV: the same typed error, not a defect.
      const scope = fresh()
      yield* store.set(scope, name("API_KEY"), Redacted.make(PLAINTEXT))
      yield* raw`UPDATE secrets SET ciphertext = '***' WHERE scope_key = ${SecretStore.scopeKey(scope)}`
      assertRefused(yield* Effect.exit(store.get(scope, name("API_KEY"))))
      yield* store.set(scope, name("API_KEY"), Redacted.make(PLAINTEXT))
      yield* raw`UPDATE secrets SET iv = 'AAAA' WHERE scope_key = ${SecretStore.scopeKey(scope)}`
      assertRefused(yield* Effect.exit(store.get(scope, name("API_KEY"))))
    }))

  it.effect("a row copied to another scope or name, or relabelled with another key, does not decrypt", () =>
    Effect.gen(function*() {
      const store = yield* storeWith({ current: k1, old: [k2] })
      const victim = fresh()
      const attackerId = `${Date.now()}${serial++}`
      const attacker = SecretStore.scopes.user(attackerId)
      yield* store.set(victim, name("ANTHROPIC_API_KEY"), Redacted.make(PLAINTEXT))
      const row = yield* rowOf(victim, "ANTHROPIC_API_KEY")
      // Same ciphertext, IV and key id in another user's scope: what a row-copying attacker would try.
      yield* raw`INSERT INTO secrets (scope_key, name, key_id, iv, ciphertext, updated_at)
        VALUES (${SecretStore.scopeKey(attacker)}, ${row.name}, ${row.key_id}, ${row.iv}, ${row.ciphertext}, 1)`
      assertRefused(yield* Effect.exit(store.get(attacker, name("ANTHROPIC_API_KEY"))), "k1")
      assertRefused(yield* Effect.exit(store.resolve(name("ANTHROPIC_API_KEY"), { userId: attackerId })))
      // …under another name in the same scope.
      yield* raw`INSERT INTO secrets (scope_key, name, key_id, iv, ciphertext, updated_at)
        VALUES (${row.scope_key}, 'OPENAI_API_KEY', ${row.key_id}, ${row.iv}, ${row.ciphertext}, 1)`
      assertRefused(yield* Effect.exit(store.get(victim, name("OPENAI_API_KEY"))))
      // …or relabelled as encrypted with the other configured key.
      yield* raw`UPDATE secrets SET key_id = 'k2' WHERE scope_key = ${row.scope_key} AND name = 'ANTHROPIC_API_KEY'`
      assertRefused(yield* Effect.exit(store.get(victim, name("ANTHROPIC_API_KEY"))), "k2")
    }))

  it.effect("a row under a key that is no longer configured names that key", () =>
    Effect.gen(function*() {
      const scope = fresh()
      yield* (yield* storeWith({ current: k2 })).set(scope, name("FLY_API_TOKEN"), Redacted.make(PLAINTEXT))
      const exit = yield* Effect.exit((yield* storeWith({ current: k1 })).get(scope, name("FLY_API_TOKEN")))
      assertRefused(exit, "k2")
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "cannot be decrypted with key k2")
    }))

  it.effect("rotation re-encrypts every row under the current key, in batches, and keeps them readable", () =>
    Effect.gen(function*() {
      yield* raw`DELETE FROM secrets`
      const before = yield* storeWith({ current: k1 })
      const scopes = Array.from({ length: 23 }, () => fresh())
      for (const [i, scope] of scopes.entries()) yield* before.set(scope, name("TOKEN"), Redacted.make(`value-${i}`))
      const untouched = fresh()
      // Written under the new key already: rotation leaves it alone.
      const after = yield* storeWith({ current: k2, old: [k1] })
      yield* after.set(untouched, name("TOKEN"), Redacted.make("already-k2"))
      const untouchedRow = yield* rowOf(untouched, "TOKEN")
      // Old rows still decrypt before rotating.
      assert.strictEqual(Redacted.value(Option.getOrThrow(yield* after.get(scopes[0]!, name("TOKEN")))), "value-0")

      const report = yield* after.rotate({ batchSize: 5 })
      assert.deepStrictEqual(report, { rotated: 23, failed: 0, failures: [], currentKeyId: "k2" })
      const keyIds = yield* raw<{ key_id: string; n: number }>`
        SELECT key_id, count(*) AS n FROM secrets GROUP BY key_id`
      assert.deepStrictEqual(keyIds.map((r) => [r.key_id, r.n]), [["k2", 24]])
      assert.deepStrictEqual(yield* rowOf(untouched, "TOKEN"), untouchedRow)

      // The old key can go now: a store with only k2 reads everything.
      const only = yield* storeWith({ current: k2 })
      for (const [i, scope] of scopes.entries()) {
        assert.strictEqual(Redacted.value(Option.getOrThrow(yield* only.get(scope, name("TOKEN")))), `value-${i}`)
      }
      assert.deepStrictEqual(yield* only.rotate(), { rotated: 0, failed: 0, failures: [], currentKeyId: "k2" })
    }))

  it.effect("rotation reports rows it cannot decrypt, rotates the rest, and terminates", () =>
    Effect.gen(function*() {
      yield* raw`DELETE FROM secrets`
      const old = yield* storeWith({ current: k1 })
      const good = [fresh(), fresh(), fresh()]
      for (const scope of good) yield* old.set(scope, name("TOKEN"), Redacted.make(PLAINTEXT))
      const broken = fresh()
      yield* old.set(broken, name("TOKEN"), Redacted.make(PLAINTEXT))
      const row = yield* rowOf(broken, "TOKEN")
      yield* raw`UPDATE secrets SET ciphertext = ${flip(row.ciphertext, 3)} WHERE scope_key = ${row.scope_key}`
      const lost = fresh()
      yield* raw`INSERT INTO secrets (scope_key, name, key_id, iv, ciphertext, updated_at)
        VALUES (${SecretStore.scopeKey(lost)}, 'TOKEN', 'k0', ${row.iv}, ${row.ciphertext}, 1)`

      const report = yield* (yield* storeWith({ current: k2, old: [k1] })).rotate({ batchSize: 1 })
      assert.strictEqual(report.rotated, 3)
      assert.strictEqual(report.failed, 2)
      assert.sameDeepMembers([...report.failures], [
        { scope: SecretStore.scopeKey(broken), name: "TOKEN", keyId: "k1" },
        { scope: SecretStore.scopeKey(lost), name: "TOKEN", keyId: "k0" }
      ])
      assert.notInclude(JSON.stringify(report), PLAINTEXT)
    }))

  it.effect("rotation does not overwrite a value set while it runs", () =>
    Effect.gen(function*() {
      yield* raw`DELETE FROM secrets`
      const scope = fresh()
      yield* (yield* storeWith({ current: k1 })).set(scope, name("TOKEN"), Redacted.make("old"))
      const writer = yield* storeWith({ current: k2, old: [k1] })
      // A binding that lets `set` write the new value after rotation read the row but before its
      // write reaches D1: the race a concurrent `porter secrets set` would cause.
      const racing = new Proxy(d1.db, {
        get(target, property) {
          if (property !== "prepare") {
            const value = Reflect.get(target, property)
            return typeof value === "function" ? value.bind(target) : value
          }
          return (query: string) => {
            const statement = target.prepare(query)
            if (!query.includes("json_each")) return statement
            return {
              bind: (...params: Array<unknown>) => ({
                all: async () => {
                  await Effect.runPromise(writer.set(scope, name("TOKEN"), Redacted.make("new")))
                  return statement.bind(...params).all()
                }
              })
            }
          }
        }
      })
      const rotating = Context.get(
        yield* Layer.build(
          Layer.fresh(D1SecretStore.layer({ current: k2, old: [k1] })).pipe(Layer.provide(clientLayer(racing)))
        ),
        D1SecretStore.D1SecretStore
      )
      const report = yield* rotating.rotate()
      assert.strictEqual(report.rotated, 0)
      assert.strictEqual(Redacted.value(Option.getOrThrow(yield* writer.get(scope, name("TOKEN")))), "new")
    }))
})

describe("EncryptionKeys", () => {
  const urlSafe = (base64: string) => base64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")
  const fromEnv = (env: Record<string, string>) =>
    EncryptionKeys.fromConfig.pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))

  it.effect("reads the current key, its id and the old keys from the environment", () =>
    Effect.gen(function*() {
      const keys = yield* fromEnv({
        PORTER_ENCRYPTION_KEY: Redacted.value(k2.key),
        PORTER_ENCRYPTION_KEY_ID: "k2",
        PORTER_ENCRYPTION_OLD_KEYS: ` k1:${Redacted.value(k1.key)} , k0:${urlSafe(EncryptionKeys.generate())}`
      })
      assert.strictEqual(keys.currentId, "k2")
      assert.deepStrictEqual(keys.ids, ["k2", "k1", "k0"])
      const defaults = yield* fromEnv({ PORTER_ENCRYPTION_KEY: Redacted.value(k1.key) })
      assert.strictEqual(defaults.currentId, "k1")
    }))

  it.effect("refuses keys that are not 32 bytes, with a message that names the variable and not the key", () =>
    Effect.gen(function*() {
      const short = btoa("sixteen-byte-key")
      const error = yield* Effect.flip(fromEnv({ PORTER_ENCRYPTION_KEY: short }))
      assert.strictEqual(error._tag, "EncryptionKeyError")
      assert.include(error.message, "PORTER_ENCRYPTION_KEY")
      assert.include(error.message, "32")
      assert.notInclude(error.message, short)
      const notBase64 = yield* Effect.flip(fromEnv({ PORTER_ENCRYPTION_KEY: "not base64 at all!" }))
      assert.include(notBase64.message, "base64")
      const badOld = yield* Effect.flip(fromEnv({
        PORTER_ENCRYPTION_KEY: Redacted.value(k1.key),
        PORTER_ENCRYPTION_OLD_KEYS: `k0=${Redacted.value(k2.key)}`
      }))
      assert.include(badOld.message, "PORTER_ENCRYPTION_OLD_KEYS")
      assert.notInclude(badOld.message, Redacted.value(k2.key))
      const twice = yield* Effect.flip(fromEnv({
        PORTER_ENCRYPTION_KEY: Redacted.value(k1.key),
        PORTER_ENCRYPTION_OLD_KEYS: `k1:${Redacted.value(k2.key)}`
      }))
      assert.include(twice.message, "configured twice")
      const missing = yield* Effect.flip(fromEnv({}))
      assert.notStrictEqual(missing._tag, "EncryptionKeyError")
    }))

  it.effect("a store layer with a bad key fails when it is built", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(
          D1SecretStore.layer({ current: { id: "k1", key: Redacted.make("c2hvcnQ=") } }).pipe(Layer.provide(Sql))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "EncryptionKeyError")
    }))
})
