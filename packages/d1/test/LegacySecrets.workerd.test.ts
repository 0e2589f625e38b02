// Rows written by the earlier D1SecretStore (hand AES-256-GCM over crypto.subtle), committed in
// fixtures/legacy-secrets.json, must open with the current code on a real local D1: read, resolve,
// refuse when tampered with, and rotate.
import { afterAll, assert, describe, it, layer } from "@effect/vitest"
import { SecretStore } from "@porter/core"
import { D1SecretStore, EncryptionKeys } from "@porter/d1"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { createDecipheriv } from "node:crypto"
import { readFileSync } from "node:fs"
import { KEYS, SECRETS } from "./fixtures/legacy-secrets.input.ts"
import { clientLayer, raw, start } from "./utils.ts"

interface Row {
  readonly scope_key: string
  readonly name: string
  readonly key_id: string
  readonly iv: string
  readonly ciphertext: string
  readonly updated_at: number
}
const ROWS = JSON.parse(
  readFileSync(new URL("./fixtures/legacy-secrets.json", import.meta.url), "utf8")
) as ReadonlyArray<
  Row
>

const d1 = await start()
afterAll(() => d1.dispose())
const Sql = clientLayer(d1.db)

const k1 = { id: "k1", key: Redacted.make(KEYS.k1) }
const k2 = { id: "k2", key: Redacted.make(KEYS.k2) }
const k3 = { id: "k3", key: Redacted.make(EncryptionKeys.generate()) }

const storeWith = (keys: EncryptionKeys.EncryptionKeysOptions) =>
  Effect.map(
    Layer.build(Layer.fresh(D1SecretStore.layer(keys)).pipe(Layer.provide(Sql))),
    (context) => Context.get(context, D1SecretStore.D1SecretStore)
  )

/** Replaces the table's content with `rows`. */
const load = (rows: ReadonlyArray<Row>) =>
  Effect.gen(function*() {
    yield* raw`DELETE FROM secrets`
    for (const r of rows) {
      yield* raw`INSERT INTO secrets (scope_key, name, key_id, iv, ciphertext, updated_at)
        VALUES (${r.scope_key}, ${r.name}, ${r.key_id}, ${r.iv}, ${r.ciphertext}, ${r.updated_at})`
    }
  })

const scopeOf = (key: string) => SecretStore.parseScopeKey(key)!
const nameOf = (name: string) => name as SecretStore.SecretName
const valueOf = (row: Pick<Row, "scope_key" | "name">) =>
  SECRETS.find((s) => s.scope === row.scope_key && s.name === row.name)!.value

/** Flips one bit of base64 `text` at byte `at` (negative: from the end). */
const flip = (text: string, at: number) => {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
  const index = at < 0 ? bytes.length + at : at
  bytes[index] = bytes[index]! ^ 1
  return btoa(String.fromCharCode(...bytes))
}

/** `get` fails with `SecretDecryptionFailed` naming the row and its key id, and no plaintext. */
const refused = (store: D1SecretStore.D1SecretStore["Service"], row: Row, label: string) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(store.get(scopeOf(row.scope_key), nameOf(row.name)))
    assert.strictEqual(error._tag, "SecretDecryptionFailed", label)
    assert.include(error.message, row.key_id, label)
    const seen = `${JSON.stringify(error)} ${String(error)}`
    for (const secret of SECRETS) if (secret.value.length > 0) assert.notInclude(seen, secret.value, label)
  })

describe("the legacy fixture", () => {
  it("is plain AES-256-GCM: node:crypto opens every row with the row's associated data", () => {
    assert.strictEqual(ROWS.length, SECRETS.length)
    assert.sameMembers([...new Set(ROWS.map((r) => r.key_id))], ["k1", "k2"])
    for (const row of ROWS) {
      const key = Buffer.from(KEYS[row.key_id as "k1" | "k2"], "base64")
      const sealed = Buffer.from(row.ciphertext, "base64")
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(row.iv, "base64"))
      decipher.setAAD(D1SecretStore.associatedData(row.scope_key, row.name, row.key_id))
      decipher.setAuthTag(sealed.subarray(-16))
      const plain = Buffer.concat([decipher.update(sealed.subarray(0, -16)), decipher.final()]).toString("utf8")
      assert.strictEqual(plain, valueOf(row), `${row.scope_key}/${row.name}`)
    }
  })
})

layer(Sql, { excludeTestServices: true })("rows written by the earlier D1SecretStore", (it) => {
  it.effect("open with the current code: get, resolve, list", () =>
    Effect.gen(function*() {
      yield* load(ROWS)
      const store = yield* storeWith({ current: k2, old: [k1] })
      for (const row of ROWS) {
        const value = yield* store.get(scopeOf(row.scope_key), nameOf(row.name))
        assert.strictEqual(Redacted.value(Option.getOrThrow(value)), valueOf(row), `${row.scope_key}/${row.name}`)
      }
      const chain = { userId: "583231", repo: "octo/hello", installationId: "9" }
      const openai = Option.getOrThrow(yield* store.resolve(nameOf("OPENAI_API_KEY"), chain))
      assert.deepStrictEqual(openai.scope, SecretStore.scopes.user("583231"))
      assert.strictEqual(Redacted.value(openai.value), "sk-user-583231")
      const npm = Option.getOrThrow(yield* store.resolve(nameOf("NPM_TOKEN"), chain))
      assert.strictEqual(Redacted.value(npm.value), "npm_line1\nline2\ttab")
      assert.strictEqual((yield* store.list()).length, ROWS.length)
      // Without the retired key, its rows name it.
      const onlyK2 = yield* storeWith({ current: k2 })
      const k1Row = ROWS.find((r) => r.key_id === "k1")!
      yield* refused(onlyK2, k1Row, "k1 not configured")
    }))

  it.effect("refuse tampering with SecretDecryptionFailed: ciphertext, tag, IV, key id, scope, name", () =>
    Effect.gen(function*() {
      const store = yield* storeWith({ current: k2, old: [k1] })
      const [first] = ROWS.filter((r) => r.key_id === "k1")
      const target = first!
      const cases: ReadonlyArray<readonly [string, Row]> = [
        ["ciphertext, first byte", { ...target, ciphertext: flip(target.ciphertext, 0) }],
        ["tag, last byte", { ...target, ciphertext: flip(target.ciphertext, -1) }],
        ["tag cut off", { ...target, ciphertext: btoa(atob(target.ciphertext).slice(0, -16)) }],
        ["IV", { ...target, iv: flip(target.iv, 11) }],
        ["IV too short", { ...target, iv: btoa(atob(target.iv).slice(0, 8)) }],
        ["relabelled k2", { ...target, key_id: "k2" }],
        ["not base64", { ...target, ciphertext: "***" }]
      ]
      for (const [label, row] of cases) {
        yield* load([row])
        yield* refused(store, row, label)
      }
      // The same row copied to another scope, or to another name in its scope.
      const moved: ReadonlyArray<readonly [string, Row]> = [
        ["another scope", { ...target, scope_key: "user:1" }],
        ["another name", { ...target, name: "STOLEN" }]
      ]
      for (const [label, row] of moved) {
        yield* load([target, row])
        yield* refused(store, row, label)
      }
    }))

  it.effect("rotate: k1 rows move under k2, then everything moves on to a new key", () =>
    Effect.gen(function*() {
      yield* load(ROWS)
      const report = yield* (yield* storeWith({ current: k2, old: [k1] })).rotate({ batchSize: 2 })
      const k1Count = ROWS.filter((r) => r.key_id === "k1").length
      assert.deepStrictEqual(report, { rotated: k1Count, failed: 0, failures: [], currentKeyId: "k2" })
      const untouched = yield* raw<Row>`SELECT scope_key, name, key_id, iv, ciphertext, updated_at FROM secrets
        WHERE key_id = 'k2' ORDER BY key_id, scope_key, name`
      for (const row of ROWS.filter((r) => r.key_id === "k2")) {
        assert.deepInclude(untouched, row, "rows already under k2 are left byte for byte")
      }
      const onlyK2 = yield* storeWith({ current: k2 })
      for (const row of ROWS) {
        const value = yield* onlyK2.get(scopeOf(row.scope_key), nameOf(row.name))
        assert.strictEqual(Redacted.value(Option.getOrThrow(value)), valueOf(row))
      }
      const next = yield* storeWith({ current: k3, old: [k2] })
      assert.deepStrictEqual(yield* next.rotate(), {
        rotated: ROWS.length,
        failed: 0,
        failures: [],
        currentKeyId: "k3"
      })
      const onlyK3 = yield* storeWith({ current: k3 })
      for (const row of ROWS) {
        const value = yield* onlyK3.get(scopeOf(row.scope_key), nameOf(row.name))
        assert.strictEqual(Redacted.value(Option.getOrThrow(value)), valueOf(row))
      }
    }))
})
