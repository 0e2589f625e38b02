// Settings on a real local D1 (workerd via Miniflare): the per-isolate cache, what is stored, and
// what is refused. Time is the TestClock's, so the cache's lifetime is exact.
import { afterAll, assert, layer } from "@effect/vitest"
import { Settings } from "@porter/core"
import { D1Settings } from "@porter/d1"
import { Context, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { clientLayer, raw, start } from "./utils.ts"

const d1 = await start()
afterAll(() => d1.dispose())

const Sql = clientLayer(d1.db)

/** A settings service as one Worker isolate holds it. */
const isolate = (options: D1Settings.D1SettingsOptions = {}) =>
  Effect.map(
    Layer.build(Layer.fresh(D1Settings.layer(options)).pipe(Layer.provide(Sql))),
    (context) => Context.get(context, Settings.Settings)
  )

let serial = 0
const repo = () => `settings-${Date.now().toString(36)}-${serial++}/repo`

layer(Sql)("D1Settings on local D1", (it) => {
  it.effect("another isolate's write shows after the cache lifetime; this isolate's own write at once", () =>
    Effect.gen(function*() {
      const here = yield* isolate({ cacheTtl: "30 seconds" })
      const there = yield* isolate({ cacheTtl: "30 seconds" })
      const name = repo()
      const scope = { _tag: "repository" as const, repo: name }
      assert.strictEqual((yield* here.forRepo(name)).defaultAgent, "claude")

      yield* there.set(scope, { defaultAgent: "codex" })
      assert.strictEqual((yield* here.forRepo(name)).defaultAgent, "claude", "cached in this isolate")
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual((yield* here.forRepo(name)).defaultAgent, "claude")
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* here.forRepo(name)).defaultAgent, "codex", "expired, read again")

      yield* here.set(scope, { defaultAgent: "amp" })
      assert.strictEqual((yield* here.forRepo(name)).defaultAgent, "amp", "own write clears the cache")
      assert.isTrue(yield* here.delete(scope))
      assert.strictEqual((yield* here.forRepo(name)).defaultAgent, "claude", "own delete clears the cache")
    }))

  it.effect("a cache lifetime of zero reads D1 every time", () =>
    Effect.gen(function*() {
      const here = yield* isolate({ cacheTtl: 0 })
      const there = yield* isolate()
      const name = repo()
      assert.strictEqual((yield* here.forRepo(name)).maxActivePerRepo, 5)
      yield* there.set({ _tag: "repository", repo: name }, { maxActivePerRepo: 2 })
      assert.strictEqual((yield* here.forRepo(name)).maxActivePerRepo, 2)
    }))

  it.effect("every setting round-trips through its column; unset columns stay NULL", () =>
    Effect.gen(function*() {
      const here = yield* isolate()
      const scope = { _tag: "installation" as const, installationId: `${Date.now()}${serial++}` }
      const patch: Settings.SettingsPatch = {
        mentionName: "robot-2",
        defaultAgent: "opencode",
        allowedUsers: ["octocat", "hubot"],
        deniedUsers: [],
        maxActivePerRepo: 7,
        maxActivePerUser: 2,
        defaultTimeoutMs: 600_000,
        maxTimeoutMs: 3_600_000,
        stateLabels: true
      }
      yield* here.set(scope, patch)
      assert.deepStrictEqual(yield* here.get(scope), patch)
      const partial = { _tag: "repository" as const, repo: repo() }
      yield* here.set(partial, { stateLabels: false })
      const rows = yield* raw<Record<string, unknown>>`
        SELECT * FROM settings WHERE scope_key = ${Settings.settingsScopeKey(partial)}`
      assert.strictEqual(rows[0]!.state_labels, 0)
      assert.strictEqual(rows[0]!.mention_name, null)
      assert.deepStrictEqual(yield* here.get(partial), { stateLabels: false })
    }))

  it.effect("an invalid patch is refused and nothing is stored", () =>
    Effect.gen(function*() {
      const here = yield* isolate()
      const scope = { _tag: "repository" as const, repo: repo() }
      const error = yield* Effect.flip(here.set(scope, { maxActivePerRepo: 0 }))
      assert.strictEqual(error._tag, "StoreError")
      const badName = yield* Effect.flip(here.set(scope, { mentionName: "no spaces allowed" }))
      assert.strictEqual(badName._tag, "StoreError")
      assert.deepStrictEqual(yield* here.get(scope), {})
    }))

  it.effect("a hand-edited row that breaks the rules fails with StoreError instead of applying", () =>
    Effect.gen(function*() {
      const here = yield* isolate({ cacheTtl: 0 })
      const name = repo()
      // Not a JSON array of logins.
      yield* raw`INSERT INTO settings (scope_key, allowed_users, updated_at)
        VALUES (${`repository:${name}`}, 'octocat', 1)`
      const error = yield* Effect.flip(here.forRepo(name))
      assert.strictEqual(error._tag, "StoreError")
    }))
})
