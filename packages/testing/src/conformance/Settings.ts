/** The Settings contract, run by every adapter. */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { Settings } from "@porter/core"
import { Effect, Layer } from "effect"

let serial = 0
const unique = () => `${Date.now().toString(36)}${(serial++).toString(36)}`

/** Registers the `Settings` contract's tests against `layer`. */
export const run = <E>(name: string, layer: Layer.Layer<Settings.Settings, E>) =>
  describe(`Settings conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("defaults when nothing is stored", () =>
        Effect.gen(function*() {
          const s = yield* Settings.Settings
          const got = yield* s.forRepo(`conf-${unique()}/repo`, 123_456_789)
          assert.strictEqual(got.mentionName, Settings.defaults.mentionName)
          assert.strictEqual(got.maxActivePerRepo, Settings.defaults.maxActivePerRepo)
        }))

      it.effect("repository beats installation; unset keys fall through", () =>
        Effect.gen(function*() {
          const s = yield* Settings.Settings
          const repo = `conf-${unique()}/repo`
          const installationId = 700_000 + serial++
          yield* s.set({ _tag: "installation", installationId: String(installationId) }, {
            defaultAgent: "codex",
            maxActivePerUser: 9
          })
          yield* s.set({ _tag: "repository", repo }, { defaultAgent: "opencode", allowedUsers: ["octocat"] })
          const got = yield* s.forRepo(repo, installationId)
          assert.strictEqual(got.defaultAgent, "opencode")
          assert.strictEqual(got.maxActivePerUser, 9)
          assert.deepStrictEqual(got.allowedUsers, ["octocat"])
          const elsewhere = yield* s.forRepo(`conf-${unique()}/repo`, installationId)
          assert.strictEqual(elsewhere.defaultAgent, "codex")
        }))

      it.effect("settings added later (no column of their own) are stored, merged and resolved like the rest", () =>
        Effect.gen(function*() {
          const s = yield* Settings.Settings
          const repo = `conf-${unique()}/repo`
          const scope = { _tag: "repository" as const, repo }
          yield* s.set(scope, { allowWorkflowChanges: true })
          yield* s.set(scope, { mentionName: "bot" })
          assert.deepStrictEqual(yield* s.get(scope), { mentionName: "bot", allowWorkflowChanges: true })
          assert.isTrue((yield* s.forRepo(repo)).allowWorkflowChanges)
          yield* s.set(scope, { allowWorkflowChanges: false })
          assert.isFalse((yield* s.forRepo(repo)).allowWorkflowChanges)
          assert.isFalse((yield* s.forRepo(`conf-${unique()}/repo`)).allowWorkflowChanges)
        }))

      it.effect("set merges into what is stored; get and delete", () =>
        Effect.gen(function*() {
          const s = yield* Settings.Settings
          const scope = { _tag: "repository" as const, repo: `conf-${unique()}/repo` }
          yield* s.set(scope, { mentionName: "bot" })
          yield* s.set(scope, { stateLabels: true })
          assert.deepStrictEqual(yield* s.get(scope), { mentionName: "bot", stateLabels: true })
          assert.isTrue(yield* s.delete(scope))
          assert.deepStrictEqual(yield* s.get(scope), {})
          assert.isFalse(yield* s.delete(scope))
        }))
    })
  })
