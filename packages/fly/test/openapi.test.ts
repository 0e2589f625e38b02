// Every request the adapter sends is checked against Fly's OpenAPI description (see `helpers.ts`: the checking
// HttpClient sits under the adapter in every test of this package). Here: the checker itself can fail, and one
// run covers every operation the adapter uses.
import { assert, describe, it } from "@effect/vitest"
import { Ids, MachineProvisioner } from "@porter/core"
import { FlyApps, FlyMachines } from "@porter/fly"
import { Effect, Redacted } from "effect"
import { check, CheckedRequests, checkResponse, LocalFly, localFly } from "./helpers.ts"

const auth = { authorization: "Bearer t0ken" }
const json = { ...auth, "content-type": "application/json" }
const valid = {
  config: {
    image: "registry.fly.io/porter-runner:0.1.0",
    env: { TASK_ID: "task_x" },
    guest: { cpu_kind: "shared", cpus: 2, memory_mb: 2048 },
    auto_destroy: true,
    restart: { policy: "no" },
    metadata: { porter: "1" }
  }
}
const none = new URLSearchParams()

describe("the OpenAPI check", () => {
  it("accepts a create request as Porter sends it", () => {
    assert.deepStrictEqual(check("POST", "/apps/porter/machines", none, json, valid), {
      operationId: "Machines_create",
      problems: []
    })
  })

  it("rejects what the description does not allow", () => {
    const problems = (
      method: string,
      path: string,
      query: URLSearchParams,
      headers: Record<string, string>,
      body?: unknown
    ) => check(method, path, query, headers, body).problems
    // A misspelt field (the description's objects are checked closed).
    assert.isNotEmpty(
      problems("POST", "/apps/a/machines", none, json, { config: { ...valid.config, autodestroy: true } })
    )
    // Wrong types and values.
    assert.isNotEmpty(
      problems("POST", "/apps/a/machines", none, json, { config: { ...valid.config, guest: { cpus: "2" } } })
    )
    assert.isNotEmpty(
      problems("POST", "/apps/a/machines", none, json, { config: { ...valid.config, restart: { policy: "never" } } })
    )
    assert.isNotEmpty(problems("POST", "/apps/a/machines", none, json, { config: { ...valid.config, env: { N: 1 } } }))
    // Query parameters: undeclared, and of the wrong type or value.
    assert.isNotEmpty(problems("GET", "/apps/a/machines/m1", new URLSearchParams({ force: "true" }), auth))
    assert.isNotEmpty(problems("DELETE", "/apps/a/machines/m1", new URLSearchParams({ force: "yes" }), auth))
    assert.isNotEmpty(problems("GET", "/apps/a/machines/m1/wait", new URLSearchParams({ state: "running" }), auth))
    assert.isNotEmpty(problems("GET", "/apps/a/machines/m1/wait", new URLSearchParams({ timeout: "1.5" }), auth))
    // The documented metadata filter exists on the list only.
    assert.isEmpty(problems("GET", "/apps/a/machines", new URLSearchParams({ "metadata.porter": "1" }), auth))
    assert.isNotEmpty(problems("GET", "/apps/a/machines/m1", new URLSearchParams({ "metadata.porter": "1" }), auth))
    // No token, unknown paths and methods, a body where none belongs.
    assert.isNotEmpty(problems("GET", "/apps/a/machines", none, {}))
    assert.isNotEmpty(problems("GET", "/apps/a/robots", none, auth))
    assert.isNotEmpty(problems("PATCH", "/apps/a/machines/m1", none, json, valid))
    assert.isNotEmpty(problems("DELETE", "/apps/a/machines/m1", none, json, { force: true }))
    assert.isNotEmpty(problems("POST", "/apps", none, json, { name: "x", org: "personal" }))
  })

  it("rejects answers the description does not allow", () => {
    assert.isEmpty(checkResponse("Machines_show", 200, { id: "3d8d413b29d089", state: "started", events: [] }))
    assert.isNotEmpty(checkResponse("Machines_show", 200, { id: "3d8d413b29d089", state: 1 }))
    assert.isNotEmpty(checkResponse("Machines_show", 200, { id: "3d8d413b29d089", colour: "blue" }))
    assert.isNotEmpty(checkResponse("Machines_list", 200, { machines: [] }))
    assert.isEmpty(checkResponse("Machines_show", 404, { error: "machine not found", status: "unknown" }))
    assert.isNotEmpty(checkResponse("Machines_show", 404, { error: "machine not found", status: "gone" }))
    assert.isNotEmpty(checkResponse("Machines_show", 404, { message: "machine not found" }))
  })

  it.live("every operation the adapter uses went out matching the description", () =>
    Effect.gen(function*() {
      const fly = yield* FlyMachines.FlyMachines
      const server = yield* LocalFly
      const taskId = yield* Ids.makeTaskId
      const machine = yield* fly.create({
        taskId,
        env: { TASK_ID: taskId, FAKE_MACHINE: "sleep" },
        secretEnv: { CALLBACK_TOKEN: Redacted.make("callback-token") },
        guest: MachineProvisioner.defaultGuest,
        region: "ams"
      })
      yield* fly.waitFor(machine.id, "started", { timeoutMs: 20_000 })
      // The sleeping machine never stops by itself: this always goes out as a wait request (and times out).
      yield* fly.waitFor(machine.id, "stopped", { timeoutMs: 1_500 }).pipe(Effect.ignore)
      yield* fly.get(machine.id)
      yield* fly.findByTask(taskId)
      yield* fly.list()
      yield* fly.stop(machine.id, { signal: "SIGINT", timeoutMs: 3_000 })
      yield* fly.waitFor(machine.id, "destroyed", { timeoutMs: 20_000 })
      yield* fly.destroy(machine.id)
      yield* FlyApps.ensureApp({
        app: "porter-other",
        org: "personal",
        token: Redacted.make(server.token),
        apiUrl: server.url
      })

      const checked = yield* CheckedRequests
      const operations = new Set(checked.map((r) => r.operationId))
      const used = [
        "Machines_create",
        "Machines_show",
        "Machines_list",
        "Machines_wait",
        "Machines_stop",
        "Machines_delete",
        "Apps_show",
        "Apps_create"
      ]
      for (const id of used) assert.isTrue(operations.has(id), `${id} was exercised`)
      // The server's answers were held to the description as well.
      for (const id of ["Machines_create", "Machines_show", "Machines_list", "Machines_wait", "Apps_show"]) {
        assert.isTrue(
          checked.some((r) => r.operationId === id && r.answerChecked !== undefined),
          `${id} answer checked`
        )
      }
      assert.strictEqual(checked.length, server.requests().length, "the server got exactly the checked requests")
    }).pipe(Effect.provide(localFly())), 30_000)
})
