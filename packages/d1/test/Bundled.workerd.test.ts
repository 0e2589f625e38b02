// The package in workerd itself: bundled like a Worker (esbuild, wrangler's conditions), run by
// Miniflare against its D1 binding. WebCrypto AES-GCM, the driver and the stores all run inside
// workerd; a secret sealed there opens in Node and the other way round (same key, same format).
import type { D1Database } from "@cloudflare/workers-types"
import { assert, describe, it } from "@effect/vitest"
import { Ids, SecretStore } from "@porter/core"
import { D1SecretStore, EncryptionKeys } from "@porter/d1"
import * as D1Testing from "@porter/d1/testing"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import * as esbuild from "esbuild"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { fileURLToPath } from "node:url"
import { clientLayer } from "./utils.ts"

const bundle = Effect.promise(async () => {
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["@porter/source", "workerd", "worker", "browser"],
    write: false,
    logLevel: "error"
  })
  return result.outputFiles[0]!.text
})

describe("in workerd", () => {
  it.live("stores, seals, races and rotates inside a Worker, compatible with Node", () =>
    Effect.gen(function*() {
      const script = yield* bundle
      const oldKey = EncryptionKeys.generate()
      const newKey = EncryptionKeys.generate()
      const miniflare = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new Miniflare(convertV4MiniflareOptions({
            modules: true,
            script,
            compatibilityDate: "2026-01-01",
            d1Databases: { DB: "porter-workerd" },
            bindings: {
              PORTER_ENCRYPTION_KEY: newKey,
              PORTER_ENCRYPTION_KEY_ID: "k2",
              PORTER_ENCRYPTION_OLD_KEYS: `k1:${oldKey}`
            }
          }))
        ),
        (mf) => Effect.promise(() => mf.dispose())
      )
      const db = (yield* Effect.promise(() => miniflare.getD1Database("DB"))) as unknown as D1Database
      yield* Effect.promise(() => D1Testing.applyMigrations(db))

      // Node seals a secret under the old key; the Worker (k2 current, k1 old) must open it and rotate it.
      const repo = "workerd/check"
      const scope = SecretStore.scopes.repository(repo)
      const storeWith = (id: string, key: string) =>
        Effect.map(
          Layer.build(
            D1SecretStore.layer({ current: { id, key: Redacted.make(key) } }).pipe(Layer.provide(clientLayer(db)))
          ),
          (context) => Context.get(context, D1SecretStore.D1SecretStore)
        )
      const node = yield* storeWith("k1", oldKey)
      yield* node.set(scope, "NODE_SECRET" as SecretStore.SecretName, Redacted.make("written-in-node"))

      const taskId = yield* Ids.makeTaskId
      const response = yield* Effect.promise(async () => {
        const res = await miniflare.dispatchFetch("http://worker.test/", {
          method: "POST",
          body: JSON.stringify({ repo, fromNode: "NODE_SECRET", delivery: `workerd-${taskId}`, taskId })
        })
        return { status: res.status, body: await res.json() as Record<string, unknown> }
      })
      assert.strictEqual(response.status, 200, JSON.stringify(response.body))
      assert.deepStrictEqual(response.body, {
        readBack: "written-in-workerd",
        fromNode: "written-in-node",
        winners: 1,
        lateAccepted: 0,
        finalState: "succeeded",
        rotated: 1,
        currentKeyId: "k2",
        mentionName: "porter"
      })

      // And back: Node, configured like the Worker, opens what workerd sealed and rotated.
      const after = yield* storeWith("k2", newKey)
      const read = (secret: string) =>
        Effect.map(after.get(scope, secret as SecretStore.SecretName), (v) => Redacted.value(Option.getOrThrow(v)))
      assert.strictEqual(yield* read("WORKERD_SECRET"), "written-in-workerd")
      assert.strictEqual(yield* read("NODE_SECRET"), "written-in-node")
    }).pipe(Effect.scoped), { timeout: 90_000 })
})
