// The authorization rules as plain functions, the viewer cache, the task list's merge over repositories and the
// settings form decoded with core's schema.
import { assert, describe, it } from "@effect/vitest"
import { Fixtures, InMemoryTaskStore } from "@porter/testing"
import { Access, GitHubAccounts, TaskListing, WebConfig } from "@porter/web"
import { decodeForm, keys, kindOf } from "@porter/web/pages/SettingsPage"
import { keysUsed } from "@porter/web/pages/TaskPage"
import { Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"

const repo = (fullName: string, permission: GitHubAccounts.Permission, installationId = 7) => ({
  fullName,
  installationId,
  permission,
  private: false
})

const viewer = Access.viewerOf(
  { id: 1, login: "Wendy" },
  [
    repo("o/read", "read"),
    repo("o/triage", "triage"),
    repo("o/write", "write"),
    repo("o/maintain", "maintain"),
    repo("o/admin", "admin")
  ],
  new Set(["wendy"])
)

describe("Access rules", () => {
  it("read, steer (write and up), configure (admin); unknown repositories are none", () => {
    const table = ["o/read", "o/triage", "o/write", "o/maintain", "o/admin", "o/other"].map((name) => [
      name,
      Access.canRead(viewer, name),
      Access.canSteer(viewer, name),
      Access.canConfigure(viewer, name)
    ])
    assert.deepStrictEqual(table, [
      ["o/read", true, false, false],
      ["o/triage", true, false, false],
      ["o/write", true, true, false],
      ["o/maintain", true, true, false],
      ["o/admin", true, true, true],
      ["o/other", false, false, false]
    ])
    assert.isTrue(Access.canSteer(viewer, "O/WRITE"), "names compare without case")
  })

  it("operators are configured logins, in any case", () => {
    assert.isTrue(viewer.operator)
    assert.isFalse(Access.isOperator("mallory", new Set(["wendy"])))
  })

  it("GitHub's permissions object gives the strongest role", () => {
    assert.strictEqual(GitHubAccounts.permissionOf({ pull: true, push: true, admin: false }), "write")
    assert.strictEqual(GitHubAccounts.permissionOf({ pull: true, triage: true }), "triage")
    assert.strictEqual(GitHubAccounts.permissionOf({ admin: true, pull: true }), "admin")
    assert.strictEqual(GitHubAccounts.permissionOf({ pull: false }), undefined)
    assert.strictEqual(GitHubAccounts.permissionOf(undefined), undefined)
  })

  it.effect("a viewer is kept for accessTtlMs, then GitHub is asked again", () =>
    Effect.gen(function*() {
      let calls = 0
      const github = Layer.succeed(
        GitHubAccounts.GitHubAccounts,
        GitHubAccounts.GitHubAccounts.of({
          exchange: () => Effect.die("unused"),
          user: () => Effect.die("unused"),
          repositories: () => Effect.sync(() => [repo(`o/r${++calls}`, "write")])
        })
      )
      const config = WebConfig.layer({
        clientId: "x",
        clientSecret: Redacted.make("y"),
        sessionSecret: Redacted.make("0123456789abcdef0123456789abcdef"),
        publicUrl: "http://localhost",
        accessTtlMs: 60_000
      })
      const access = yield* Effect.provide(
        Access.Access,
        Access.layer.pipe(Layer.provide(Layer.merge(github, Layer.orDie(config))))
      )
      const session = { idHash: "h", userId: 5, login: "u", token: Redacted.make("t"), expiresAt: 0, csrf: "c" }
      assert.isTrue(Access.canRead(yield* access.viewer(session), "o/r1"))
      assert.isTrue(Access.canRead(yield* access.viewer(session), "o/r1"))
      yield* TestClock.adjust("61 seconds")
      assert.isTrue(Access.canRead(yield* access.viewer(session), "o/r2"))
      yield* access.forget(5)
      assert.isTrue(Access.canRead(yield* access.viewer(session), "o/r3"))
      assert.strictEqual(calls, 3)
    }))
})

describe("TaskListing", () => {
  const T0 = Date.UTC(2026, 0, 1)
  const seed = Effect.gen(function*() {
    const store = yield* InMemoryTaskStore.make
    const all = [
      Fixtures.storedTask({ repo: "o/a", at: T0 + 1, agent: "claude", login: "ann" }),
      Fixtures.storedTask({ repo: "o/b", at: T0 + 2, agent: "script", login: "bob" }),
      Fixtures.storedTask({ repo: "o/hidden", at: T0 + 3 }),
      Fixtures.storedTask({ repo: "o/a", at: T0 + 4, agent: "script", login: "bob", state: "running" }),
      Fixtures.storedTask({ repo: "o/b", at: T0 + 5, agent: "claude", login: "ann" }),
      Fixtures.storedTask({ repo: "o/a", at: T0 + 6, agent: "claude", login: "Ann" })
    ]
    for (const t of all) yield* store.create(t)
    return { store, all }
  })

  it.effect("merges repositories newest first, pages with `before`, never shows other repositories", () =>
    Effect.gen(function*() {
      const { all, store } = yield* seed
      const first = yield* TaskListing.list(store, { repos: ["o/a", "o/b"], limit: 2 })
      assert.deepStrictEqual(first.tasks.map((t) => t.createdAt - T0), [6, 5])
      const second = yield* TaskListing.list(store, { repos: ["o/a", "o/b"], limit: 2, before: first.next })
      assert.deepStrictEqual(second.tasks.map((t) => t.createdAt - T0), [4, 2])
      const third = yield* TaskListing.list(store, { repos: ["o/a", "o/b"], limit: 2, before: second.next })
      assert.deepStrictEqual(third.tasks.map((t) => t.createdAt - T0), [1])
      assert.isUndefined(third.next)
      assert.strictEqual(all.length, 6)
    }))

  it.effect("filters by state, requester (any case) and agent", () =>
    Effect.gen(function*() {
      const { store } = yield* seed
      const ann = yield* TaskListing.list(store, { repos: ["o/a", "o/b"], user: "ANN", agent: "claude", limit: 10 })
      assert.deepStrictEqual(ann.tasks.map((t) => t.createdAt - T0), [6, 5, 1])
      const running = yield* TaskListing.list(store, { repos: ["o/a", "o/b"], state: "running", limit: 10 })
      assert.deepStrictEqual(running.tasks.map((t) => t.createdAt - T0), [4])
      assert.deepStrictEqual((yield* TaskListing.list(store, { repos: [], limit: 10 })).tasks, [])
    }))

  it.effect("many repositories: one listing across all, the user's repositories kept", () =>
    Effect.gen(function*() {
      const { store } = yield* seed
      const many = ["o/a", "o/b", ...Array.from({ length: TaskListing.FAN_OUT }, (_, i) => `o/x${i}`)]
      const page = yield* TaskListing.list(store, { repos: many, limit: 10 })
      assert.deepStrictEqual(page.tasks.map((t) => t.repo.fullName), ["o/a", "o/b", "o/a", "o/b", "o/a"])
    }))
})

describe("the settings form", () => {
  it("is derived from core's SettingsPatch: every key, with a kind", () => {
    assert.include(keys, "defaultAgent")
    assert.include(keys, "allowWorkflowChanges")
    assert.strictEqual(kindOf("deniedUsers"), "list")
    assert.strictEqual(kindOf("maxTimeoutMs"), "minutes")
    assert.strictEqual(kindOf("stateLabels"), "boolean")
    assert.strictEqual(kindOf("maxActivePerRepo"), "number")
  })

  it.effect("decodes with core's rules: blanks inherit, durations in minutes, lists of logins", () =>
    Effect.gen(function*() {
      const patch = yield* decodeForm({
        mentionName: "",
        defaultAgent: "claude",
        maxTimeoutMs: "90",
        allowedUsers: "@ann, bob\ncarl",
        stateLabels: "false",
        allowWorkflowChanges: "inherit"
      })
      assert.deepStrictEqual(patch, {
        defaultAgent: "claude",
        maxTimeoutMs: 90 * 60_000,
        allowedUsers: ["ann", "bob", "carl"],
        stateLabels: false
      })
      const refused = yield* Effect.flip(decodeForm({ maxActivePerRepo: "0" }))
      assert.include(refused, "maxActivePerRepo")
      yield* Effect.flip(decodeForm({ mentionName: "no spaces allowed" }))
    }))
})

describe("the task page", () => {
  it("reads whose keys ran from the audit line", () => {
    const events = [{
      taskId: "t",
      at: 1,
      kind: "secrets",
      detail: "ANTHROPIC_API_KEY from user:42; FLY_API_TOKEN from global"
    }]
    assert.deepStrictEqual(keysUsed(events as never), [
      { name: "ANTHROPIC_API_KEY", scope: "user:42" },
      { name: "FLY_API_TOKEN", scope: "global" }
    ])
    assert.deepStrictEqual(keysUsed([]), [])
  })
})
