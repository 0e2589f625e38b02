// `porter secrets rotate` end to end on a local D1: secrets stored under key k1 are re-encrypted under k2 by the
// Worker, through the CLI; afterwards the Worker runs without k1 and every secret is still there under k2.
import type { D1Database } from "@cloudflare/workers-types"
import { assert, describe, it } from "@effect/vitest"
import { SecretStore } from "@porter/core"
import { D1Storage, EncryptionKeys } from "@porter/d1"
import * as LocalStack from "@porter/worker/stack"
import { Effect, Option, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { lines, porter } from "./support/Porter.ts"

const adminToken = "rotate-admin-token-0123456789abcdef"

/** A local stack on the D1 kept in `dir`, with these encryption keys; closed after `use`. */
const withStack = <A>(
  dir: string,
  keys: Record<string, string>,
  use: (url: string, db: D1Database) => Effect.Effect<A>
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const stack = yield* LocalStack.start({ adminToken, persistTo: dir, workerEnv: keys }).pipe(Effect.orDie)
      const db = (yield* Effect.promise(() => stack.worker.miniflare.getD1Database("DB"))) as unknown as D1Database
      const result = yield* use(stack.worker.url, db)
      const rows = yield* Effect.promise(async () =>
        (await db.prepare("SELECT name, key_id FROM secrets ORDER BY name").all<{ name: string; key_id: string }>())
          .results
      )
      return { result, rows }
    })
  )

const cli = (url: string, ...args: Array<string>) =>
  Effect.promise(() => porter([...args, "--url", url, "--admin-token", adminToken]))

describe("porter secrets rotate", () => {
  it.live("re-encrypts every secret under the new key; the old key can then go", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(path.join(tmpdir(), "porter-rotate-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const k1 = EncryptionKeys.generate()
      const k2 = EncryptionKeys.generate()

      const before = yield* withStack(dir, { PORTER_ENCRYPTION_KEY: k1, PORTER_ENCRYPTION_KEY_ID: "k1" }, (url) =>
        Effect.gen(function*() {
          for (const [name, scope] of [["ANTHROPIC_API_KEY", "global"], ["OPENAI_API_KEY", "repository:acme/app"]]) {
            const set = yield* cli(url, "secrets", "set", name!, "--scope", scope!, "--value", `value-of-${name}`)
            assert.strictEqual(set.code, 0, set.stderr)
          }
        }))
      assert.deepStrictEqual(
        before.rows.map((r) =>
          r.key_id
        ),
        ["k1", "k1"]
      )

      const rotated = yield* withStack(dir, {
        PORTER_ENCRYPTION_KEY: k2,
        PORTER_ENCRYPTION_KEY_ID: "k2",
        PORTER_ENCRYPTION_OLD_KEYS: `k1:${k1}`
      }, (url) =>
        cli(url, "secrets", "rotate"))
      assert.strictEqual(rotated.result.code, 0, rotated.result.stderr)
      assert.deepStrictEqual(lines(rotated.result.stdout), [
        `Re-encrypted 2 secrets under key k2 on ${/on (\S+)\.$/.exec(rotated.result.stdout.trim())![1]}.`
      ])
      assert.deepStrictEqual(rotated.rows.map((r) => r.key_id), ["k2", "k2"])
      assert.notInclude(rotated.result.stdout + rotated.result.stderr, "value-of-")

      // k1 is gone: nothing is left to rotate and nothing fails to decrypt; the secrets are all still listed.
      const after = yield* withStack(dir, { PORTER_ENCRYPTION_KEY: k2, PORTER_ENCRYPTION_KEY_ID: "k2" }, (url, db) =>
        Effect.gen(function*() {
          const again = yield* cli(url, "secrets", "rotate", "--json")
          const listed = yield* cli(url, "secrets", "ls", "--json")
          // Read back with k2 alone, as the Worker's store does.
          const value = yield* Effect.gen(function*() {
            const secrets = yield* SecretStore.SecretStore
            return yield* secrets.get(
              SecretStore.scopes.repository("acme/app"),
              "OPENAI_API_KEY" as SecretStore.SecretName
            )
          }).pipe(
            Effect.provide(D1Storage.layer({ db, keys: { current: { id: "k2", key: Redacted.make(k2) } } })),
            Effect.orDie
          )
          return { again, listed, value: Option.map(value, Redacted.value) }
        }))
      assert.deepStrictEqual(after.result.value, Option.some("value-of-OPENAI_API_KEY"))
      assert.strictEqual(after.result.again.code, 0, after.result.again.stderr)
      const report = JSON.parse(after.result.again.stdout) as { rotated: number; failed: number; currentKeyId: string }
      assert.deepStrictEqual([report.rotated, report.failed, report.currentKeyId], [0, 0, "k2"])
      assert.deepStrictEqual(
        (JSON.parse(after.result.listed.stdout) as ReadonlyArray<{ name: string }>).map((s) =>
          s.name
        ).sort(),
        ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
      )
    }).pipe(Effect.scoped), 240_000)
})
