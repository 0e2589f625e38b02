import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpAdmin, Porter, SecretStore, Settings } from "@porter/core"
import { Fixtures, Machines, TestPorter } from "@porter/testing"

const ADMIN = "admin-token-abcdefghijklmnop"

const makeClient = Effect.gen(function*() {
  const context = yield* Effect.context<TestPorter.Services | Porter.Porter>()
  const { dispose, handler } = HttpRouter.toWebHandler(
    HttpAdmin.routes.pipe(Layer.provide(Layer.mergeAll(Layer.succeedContext(context), HttpServer.layerServices))),
    { disableLogger: true }
  )
  yield* Effect.addFinalizer(() => Effect.promise(dispose))
  return (method: string, path: string, body?: unknown, token: string | undefined = ADMIN) =>
    Effect.promise(async () => {
      const response = await handler(new Request(`http://porter.test${path}`, {
        method,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      }))
      return { status: response.status, body: await response.json() as Record<string, any> }
    })
})

const withAdmin = Effect.provide(TestPorter.layer({
  config: { adminToken: Redacted.make(ADMIN) },
  secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-admin-test" }]
}))

describe("admin API", () => {
  it.effect("is off without an admin token, and refuses wrong tokens", () =>
    Effect.gen(function*() {
      const call = yield* makeClient
      assert.strictEqual((yield* call("GET", "/admin/secrets")).status, 404)
    }).pipe(Effect.provide(TestPorter.layer())))

  it.effect("sets, lists (names only) and deletes secrets", () =>
    Effect.gen(function*() {
      const call = yield* makeClient
      assert.strictEqual((yield* call("GET", "/admin/secrets", undefined, "wrong")).status, 401)
      assert.strictEqual((yield* call("GET", "/admin/secrets", undefined, "")).status, 401)
      const put = yield* call("PUT", "/admin/secrets", { scope: "repository:Octo-Org/Hello-World", name: "OPENAI_API_KEY", value: "sk-openai-secret-value" })
      assert.deepStrictEqual(put, { status: 200, body: { scope: "repository:octo-org/hello-world", name: "OPENAI_API_KEY" } })
      const listed = yield* call("GET", "/admin/secrets?scope=repository:octo-org/hello-world")
      assert.deepStrictEqual(listed.body.secrets.map((s: { name: string }) => s.name), ["OPENAI_API_KEY"])
      assert.notInclude(JSON.stringify(listed.body), "sk-openai-secret-value")
      const stored = yield* (yield* SecretStore.SecretStore).resolve("OPENAI_API_KEY" as SecretStore.SecretName, { repo: "octo-org/hello-world" })
      assert.strictEqual(Redacted.value(Option.getOrThrow(stored).value), "sk-openai-secret-value")
      assert.strictEqual((yield* call("PUT", "/admin/secrets", { scope: "planet:mars", name: "X", value: "y" })).status, 400)
      assert.strictEqual((yield* call("PUT", "/admin/secrets", { scope: "global", name: "lower-case", value: "y" })).status, 400)
      assert.strictEqual((yield* call("PUT", "/admin/secrets", "not an object")).status, 400)
      const deleted = yield* call("DELETE", "/admin/secrets?scope=repository:octo-org/hello-world&name=OPENAI_API_KEY")
      assert.deepStrictEqual(deleted.body, { deleted: true })
    }).pipe(withAdmin))

  it.effect("merges, reads and deletes settings, refusing invalid values", () =>
    Effect.gen(function*() {
      const call = yield* makeClient
      yield* call("PUT", "/admin/settings", { scope: "repository:octo-org/hello-world", settings: { defaultAgent: "codex" } })
      const put = yield* call("PUT", "/admin/settings", { scope: "repository:octo-org/hello-world", settings: { maxActivePerUser: 1 } })
      assert.deepStrictEqual(put.body.settings, { defaultAgent: "codex", maxActivePerUser: 1 })
      const effective = yield* (yield* Settings.Settings).forRepo("octo-org/hello-world")
      assert.strictEqual(effective.defaultAgent, "codex")
      const invalid = yield* call("PUT", "/admin/settings", { scope: "global", settings: { maxActivePerUser: -3 } })
      assert.strictEqual(invalid.status, 400)
      assert.strictEqual((yield* call("GET", "/admin/settings?scope=user:1")).status, 400)
      assert.deepStrictEqual((yield* call("DELETE", "/admin/settings?scope=repository:octo-org/hello-world")).body, { deleted: true })
    }).pipe(withAdmin))

  it.effect("lists, shows and cancels tasks; runs the sweep", () =>
    Effect.gen(function*() {
      const call = yield* makeClient
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const [machine] = yield* (yield* Machines).created
      const id = machine!.spec.taskId
      const list = yield* call("GET", "/admin/tasks?state=provisioning")
      assert.deepStrictEqual(list.body.tasks.map((t: { id: string }) => t.id), [id])
      assert.strictEqual((yield* call("GET", "/admin/tasks?state=bogus")).status, 400)
      const shown = yield* call("GET", `/admin/tasks/${id}`)
      assert.strictEqual(shown.body.task.state, "provisioning")
      assert.isAbove(shown.body.events.length, 2)
      const cancelled = yield* call("POST", `/admin/tasks/${id}/cancel`)
      assert.deepStrictEqual([cancelled.body.cancelled, cancelled.body.task.state], [true, "cancelled"])
      assert.strictEqual((yield* call("POST", `/admin/tasks/${id}/cancel`)).body.cancelled, false)
      assert.strictEqual((yield* call("GET", "/admin/tasks/task_00000000000000000000000000")).status, 404)
      assert.strictEqual((yield* call("POST", "/admin/sweep")).body.checked, 0)
    }).pipe(withAdmin))
})
