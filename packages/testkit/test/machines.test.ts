// The local machines server on its own: Fly's wire behaviour, machine processes, faults.
import { assert, describe, it, layer } from "@effect/vitest"
import {
  fakeMachineCommand,
  type MachineView,
  runnerCommand,
  type Server,
  start,
  startPromise
} from "@porter/testkit/fly"
import { Context, Effect, Layer } from "effect"

class Local extends Context.Service<Local, Server>()("test/LocalMachines") {}

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

/** Calls the server like a client would (the path is relative to its `/v1` base). */
const call = (method: string, path: string, body?: unknown, token?: string | null) =>
  Effect.flatMap(Local, (server) =>
    Effect.promise(async (): Promise<Answer> => {
      const headers: Record<string, string> = {}
      if (token !== null) headers["authorization"] = `Bearer ${token ?? server.token}`
      if (body !== undefined) headers["content-type"] = "application/json"
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      })
      const text = await response.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {
        // text answers (logs, empty bodies)
      }
      return { status: response.status, headers: response.headers, body: parsed }
    }))

const config = (env: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  config: {
    image: "registry.fly.io/porter-runner:0.1.0",
    env,
    guest: { cpu_kind: "shared", cpus: 1, memory_mb: 256 },
    auto_destroy: true,
    restart: { policy: "no" },
    metadata: { porter: "1" },
    ...extra
  }
})

const create = (env: Record<string, string>, extra: Record<string, unknown> = {}) =>
  Effect.flatMap(call("POST", "/apps/porter-local/machines", config(env, extra)), (answer) => {
    assert.strictEqual(answer.status, 200, JSON.stringify(answer.body))
    return Effect.succeed(answer.body as { id: string; state: string; [key: string]: unknown })
  })

const waitFor = (id: string, state: MachineView["state"]) =>
  Effect.flatMap(Local, (server) => Effect.promise(() => server.waitFor(id, state, 20_000)))

const logged = (id: string, text: string) =>
  Effect.gen(function*() {
    const server = yield* Local
    for (let i = 0; i < 1_000 && !server.logs(id).includes(text); i++) yield* Effect.sleep(10)
    assert.include(server.logs(id), text)
  })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const eventually = (check: () => boolean, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500 && !check(); i++) yield* Effect.sleep(10)
    assert.isTrue(check(), what)
  })

describe("local machines server", () => {
  layer(Layer.effect(Local, start({ command: fakeMachineCommand(), apps: ["other-app"] })), {
    timeout: 60_000,
    excludeTestServices: true
  })(
    "Fly's API",
    (it) => {
      it.effect("checks the bearer token like Fly", () =>
        Effect.gen(function*() {
          const server = yield* Local
          for (const token of [null, "wrong"]) {
            const answer = yield* call("GET", "/apps/porter-local/machines", undefined, token)
            assert.strictEqual(answer.status, 401)
            assert.deepStrictEqual(answer.body, { error: "Authenticate: token validation error", status: "unknown" })
          }
          const flyV1 = yield* Effect.promise(() =>
            fetch(`${server.url}/apps/porter-local/machines`, { headers: { authorization: `FlyV1 ${server.token}` } })
          )
          assert.strictEqual(flyV1.status, 200)
          assert.isNotNull(flyV1.headers.get("fly-request-id"))
        }))

      it.effect("creates machines that answer like Fly's, and lists them with Fly's filters", () =>
        Effect.gen(function*() {
          const machine = yield* create({ FAKE_MACHINE: "sleep" }, {
            metadata: { porter: "1", porter_task_id: "t-list" }
          })
          assert.match(machine.id, /^[0-9a-f]{14}$/)
          assert.strictEqual(machine.state, "created")
          assert.strictEqual(machine["region"], "local")
          assert.match(machine["instance_id"] as string, /^[0-9A-Z]{26}$/)
          assert.deepStrictEqual(machine["image_ref"], {
            registry: "registry.fly.io",
            repository: "porter-runner",
            tag: "0.1.0",
            digest: "",
            labels: {}
          })
          assert.isFalse(Number.isNaN(Date.parse(machine["created_at"] as string)))
          assert.deepStrictEqual((machine["config"] as { metadata: unknown }).metadata, {
            porter: "1",
            porter_task_id: "t-list"
          })

          const waited = yield* call("GET", `/apps/porter-local/machines/${machine.id}/wait?state=started&timeout=20`)
          assert.strictEqual(waited.status, 200)
          assert.strictEqual(waited.body.state, "started")
          const shown = yield* call("GET", `/apps/porter-local/machines/${machine.id}`)
          assert.strictEqual(shown.body.state, "started")

          const ids = (answer: Answer) => (answer.body as Array<{ id: string }>).map((m) => m.id)
          assert.deepStrictEqual(
            ids(yield* call("GET", "/apps/porter-local/machines?metadata.porter_task_id=t-list")),
            [machine.id]
          )
          assert.deepStrictEqual(
            ids(yield* call("GET", "/apps/porter-local/machines?metadata.porter_task_id=other")),
            []
          )
          assert.include(ids(yield* call("GET", "/apps/porter-local/machines?state=started,stopped")), machine.id)
          assert.notInclude(ids(yield* call("GET", "/apps/porter-local/machines?state=stopped")), machine.id)
          assert.deepStrictEqual(ids(yield* call("GET", "/apps/other-app/machines")), [])
          const summary = yield* call("GET", "/apps/porter-local/machines?summary=true&metadata.porter_task_id=t-list")
          assert.isUndefined(summary.body[0].config)

          // Both streams, each read on its own: the stderr line may come in after the stdout one.
          yield* logged(machine.id, "fake machine stderr line")
          const logs = yield* call("GET", `/apps/porter-local/machines/${machine.id}/logs`)
          assert.include(logs.body, "mode=sleep")
          assert.include(logs.body, "fake machine stderr line")

          assert.strictEqual(
            (yield* call("DELETE", `/apps/porter-local/machines/${machine.id}`)).status,
            412,
            "running: needs force"
          )
          assert.deepStrictEqual((yield* call("DELETE", `/apps/porter-local/machines/${machine.id}?force=true`)).body, {
            ok: true
          })
          yield* waitFor(machine.id, "destroyed")
          assert.deepStrictEqual(
            ids(yield* call("GET", "/apps/porter-local/machines?metadata.porter_task_id=t-list")),
            []
          )
          assert.deepStrictEqual(
            ids(yield* call("GET", "/apps/porter-local/machines?metadata.porter_task_id=t-list&include_deleted=true")),
            [machine.id]
          )
          assert.strictEqual((yield* call("GET", `/apps/porter-local/machines/${machine.id}`)).body.state, "destroyed")
          assert.strictEqual(
            (yield* call("DELETE", `/apps/porter-local/machines/${machine.id}?force=true`)).status,
            404
          )
        }))

      it.effect("answers unknown apps and machines with Fly's 404s", () =>
        Effect.gen(function*() {
          const app = yield* call("GET", "/apps/nope/machines")
          assert.strictEqual(app.status, 404)
          assert.strictEqual(app.body.error, "Could not find App \"nope\"")
          assert.strictEqual((yield* call("GET", "/apps/porter-local/machines/00000000000000")).status, 404)
          assert.strictEqual((yield* call("GET", "/apps/nope")).status, 404)
          assert.strictEqual((yield* call("GET", "/apps/other-app")).body.name, "other-app")
          assert.strictEqual((yield* call("POST", "/apps", { name: "fresh-app", org_slug: "personal" })).status, 201)
          assert.strictEqual((yield* call("POST", "/apps", { name: "fresh-app", org_slug: "personal" })).status, 422)
          assert.strictEqual((yield* call("GET", "/apps/fresh-app/machines")).status, 200)
        }))

      it.effect("refuses configurations Fly refuses, naming the field", () =>
        Effect.gen(function*() {
          const refuse = (extra: Record<string, unknown>, field: string) =>
            Effect.gen(function*() {
              const answer = yield* call("POST", "/apps/porter-local/machines", config({}, extra))
              assert.strictEqual(answer.status, 422, JSON.stringify(answer.body))
              assert.include(answer.body.error, field)
            })
          yield* refuse({ image: "" }, "config.image")
          yield* refuse({ guest: { cpu_kind: "shared", cpus: 2, memory_mb: 1000 } }, "config.guest.memory_mb")
          yield* refuse({ guest: { cpu_kind: "shared", cpus: 1, memory_mb: 4096 } }, "config.guest.memory_mb")
          yield* refuse({ guest: { cpu_kind: "shared", cpus: 3, memory_mb: 1024 } }, "config.guest.cpus")
          yield* refuse({ guest: { cpu_kind: "gpu", cpus: 1, memory_mb: 256 } }, "config.guest.cpu_kind")
          yield* refuse({ restart: { policy: "sometimes" } }, "config.restart.policy")
          const malformed = yield* call("POST", "/apps/porter-local/machines", { config: { env: { N: 1 } } })
          assert.strictEqual(malformed.status, 400)
        }))

      it.effect("runs each machine with only its own environment", () =>
        Effect.gen(function*() {
          process.env["PORTER_HOST_ONLY_VARIABLE"] = "must-not-leak"
          const machine = yield* create({ FAKE_MACHINE: "env", TASK_ID: "t-env", SECRET_KEY: "s3cret" })
          yield* logged(machine.id, "\"SECRET_KEY\"")
          const line = (yield* Local).logs(machine.id).split("\n").find((l) => l.startsWith("{"))!
          const env = JSON.parse(line) as Record<string, string>
          delete process.env["PORTER_HOST_ONLY_VARIABLE"]
          assert.strictEqual(env["SECRET_KEY"], "s3cret")
          assert.strictEqual(env["TASK_ID"], "t-env")
          assert.strictEqual(env["FLY_MACHINE_ID"], machine.id)
          assert.strictEqual(env["FLY_APP_NAME"], "porter-local")
          assert.strictEqual(env["FLY_VM_MEMORY_MB"], "256")
          assert.strictEqual(env["PATH"], process.env["PATH"])
          assert.isUndefined(env["PORTER_HOST_ONLY_VARIABLE"])
          const unexpected = Object.keys(env).filter((k) =>
            !k.startsWith("FLY_") && !["PATH", "HOME", "SECRET_KEY", "TASK_ID", "FAKE_MACHINE"].includes(k)
          )
          assert.deepStrictEqual(unexpected, [], "nothing else from the host")
          yield* call("DELETE", `/apps/porter-local/machines/${machine.id}?force=true`)
        }))

      it.effect("destroy kills the machine's whole process group", () =>
        Effect.gen(function*() {
          const server = yield* Local
          const machine = yield* create({ FAKE_MACHINE: "grandchild" })
          yield* logged(machine.id, "grandchild ")
          const grandchild = Number(/grandchild (\d+)/.exec(server.logs(machine.id))![1])
          const pid = server.machine(machine.id)!.pid!
          assert.isTrue(alive(pid) && alive(grandchild))
          yield* call("DELETE", `/apps/porter-local/machines/${machine.id}?force=true`)
          yield* waitFor(machine.id, "destroyed")
          yield* eventually(() => !alive(pid) && !alive(grandchild), "machine process and its grandchild are gone")
        }))

      it.effect("a process that exits stops its machine; auto_destroy destroys it, otherwise it can start again", () =>
        Effect.gen(function*() {
          const server = yield* Local
          const kept = yield* create({ FAKE_MACHINE: "exit:7" }, { auto_destroy: false })
          yield* waitFor(kept.id, "stopped")
          assert.strictEqual(server.machine(kept.id)!.exitCode, 7)
          const restarted = yield* call("POST", `/apps/porter-local/machines/${kept.id}/start`)
          assert.deepStrictEqual(restarted.body, { previous_state: "stopped" })
          yield* waitFor(kept.id, "stopped")
          assert.strictEqual(server.machine(kept.id)!.events.filter((e) => e.type === "exit").length, 2)
          assert.strictEqual(
            (yield* call("DELETE", `/apps/porter-local/machines/${kept.id}`)).status,
            200,
            "stopped: no force needed"
          )

          const gone = yield* create({ FAKE_MACHINE: "exit:0" })
          yield* waitFor(gone.id, "destroyed")
          assert.strictEqual(server.machine(gone.id)!.exitCode, 0)
        }))

      it.effect("stop sends the signal, then SIGKILL after the timeout", () =>
        Effect.gen(function*() {
          const server = yield* Local
          const machine = yield* create({ FAKE_MACHINE: "ignore-term" })
          yield* logged(machine.id, "mode=ignore-term")
          const stopped = yield* call("POST", `/apps/porter-local/machines/${machine.id}/stop`, {
            signal: "SIGTERM",
            // Long enough for a busy machine to run the fake's SIGTERM handler (and log it) before SIGKILL.
            timeout: "3s"
          })
          assert.deepStrictEqual(stopped.body, { ok: true })
          yield* waitFor(machine.id, "destroyed")
          assert.include(server.logs(machine.id), "ignoring SIGTERM")
          assert.strictEqual(server.machine(machine.id)!.exitCode, null, "ended by SIGKILL")
        }))

      it.effect("wait answers 408 when the state does not come, 400 for unknown states", () =>
        Effect.gen(function*() {
          const machine = yield* create({ FAKE_MACHINE: "sleep" })
          yield* waitFor(machine.id, "started")
          const late = yield* call("GET", `/apps/porter-local/machines/${machine.id}/wait?state=stopped&timeout=1`)
          assert.strictEqual(late.status, 408)
          assert.strictEqual(
            (yield* call("GET", `/apps/porter-local/machines/${machine.id}/wait?state=running`)).status,
            400
          )
          assert.strictEqual(
            (yield* call("GET", `/apps/porter-local/machines/${machine.id}/wait?state=settled`)).status,
            200
          )
          yield* call("DELETE", `/apps/porter-local/machines/${machine.id}?force=true`)
          const destroyed = yield* call(
            "GET",
            `/apps/porter-local/machines/${machine.id}/wait?state=destroyed&timeout=20`
          )
          assert.strictEqual(destroyed.body.state, "destroyed")
        }))
    }
  )

  layer(Layer.effect(Local, start({ command: fakeMachineCommand() })), { timeout: 60_000, excludeTestServices: true })(
    "faults",
    (it) => {
      it.effect("429 bursts carry Retry-After and are used up", () =>
        Effect.gen(function*() {
          const server = yield* Local
          server.faults.rateLimit({ count: 2, retryAfterSeconds: 3, op: "list" })
          const first = yield* call("GET", "/apps/porter-local/machines")
          assert.strictEqual(first.status, 429)
          assert.strictEqual(first.headers.get("retry-after"), "3")
          assert.strictEqual(first.body.error, "rate limit exceeded")
          assert.strictEqual(
            (yield* call("GET", "/apps/porter-local/machines/00000000000000")).status,
            404,
            "other ops pass"
          )
          assert.strictEqual((yield* call("GET", "/apps/porter-local/machines")).status, 429)
          assert.strictEqual((yield* call("GET", "/apps/porter-local/machines")).status, 200)
          assert.strictEqual(server.faults.pending(), 0)
        }))

      it.effect("5xx and slow answers", () =>
        Effect.gen(function*() {
          const server = yield* Local
          server.faults.serverError({ status: 503 })
          assert.strictEqual((yield* call("GET", "/apps/porter-local/machines")).status, 503)
          server.faults.slow({ delayMs: 300, op: "list" })
          const started = Date.now()
          assert.strictEqual((yield* call("GET", "/apps/porter-local/machines")).status, 200)
          assert.isAtLeast(Date.now() - started, 300)
        }))

      it.effect("a dropped create answer: the client gets no answer, the machine exists", () =>
        Effect.gen(function*() {
          const server = yield* Local
          server.faults.dropCreateResponse()
          const before = server.machines().length
          const failed = yield* Effect.promise(() =>
            fetch(`${server.url}/apps/porter-local/machines`, {
              method: "POST",
              headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
              body: JSON.stringify(config({ FAKE_MACHINE: "sleep" }))
            }).then(() => false, () => true)
          )
          assert.isTrue(failed, "the connection closed without an answer")
          const made = server.machines().slice(before)
          assert.strictEqual(made.length, 1)
          yield* waitFor(made[0]!.id, "started")
          yield* call("DELETE", `/apps/porter-local/machines/${made[0]!.id}?force=true`)
        }))

      it.effect("machines that fail to launch, die after starting, or are killed", () =>
        Effect.gen(function*() {
          const server = yield* Local
          server.faults.failLaunch()
          const failed = yield* create({ FAKE_MACHINE: "sleep" })
          yield* waitFor(failed.id, "failed")
          assert.include(server.logs(failed.id), "launch failed")

          server.faults.dieAfterStart({ afterMs: 50 })
          const dying = yield* create({ FAKE_MACHINE: "sleep" })
          yield* waitFor(dying.id, "destroyed")
          assert.strictEqual(server.machine(dying.id)!.exitCode, null)

          const killed = yield* create({ FAKE_MACHINE: "sleep" })
          yield* waitFor(killed.id, "started")
          const pid = server.machine(killed.id)!.pid!
          yield* Effect.promise(() => server.faults.kill(killed.id))
          yield* waitFor(killed.id, "destroyed")
          assert.isFalse(alive(pid))
          yield* call("DELETE", `/apps/porter-local/machines/${failed.id}?force=true`)
        }))
    }
  )

  it.live("close() kills every machine; the Promise API works without Effect", () =>
    Effect.promise(async () => {
      const server = await startPromise({ command: fakeMachineCommand() })
      const response = await fetch(`${server.url}/apps/${server.app}/machines`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
        body: JSON.stringify(config({ FAKE_MACHINE: "ignore-term" }))
      })
      const { id } = await response.json() as { id: string }
      const started = await server.waitFor(id, "started")
      await server.close()
      assert.isFalse(alive(started.pid!), "killed, even though it ignores SIGTERM")
      const refused = await fetch(`${server.url}/apps/${server.app}/machines`).then(() => false, () => true)
      assert.isTrue(refused, "the server is gone")
    }), 30_000)

  it.live("runs the Porter runner by default", () =>
    Effect.promise(async () => {
      const command = runnerCommand()
      assert.strictEqual(command.command, process.execPath)
      assert.deepStrictEqual(command.args?.[0], "--conditions=@porter/source")
      assert.match(command.args?.[1] ?? "", /packages\/runner\/src\/main\.ts$/)
      const server = await startPromise()
      try {
        // Without its environment the runner refuses to run, and says so in the machine's output.
        const response = await fetch(`${server.url}/apps/${server.app}/machines`, {
          method: "POST",
          headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
          body: JSON.stringify({ config: { image: "registry.fly.io/porter-runner:0.1.0", env: {} } })
        })
        const { id } = await response.json() as { id: string }
        const stopped = await server.waitFor(id, "stopped", 30_000)
        assert.notStrictEqual(stopped.exitCode, 0)
        assert.include(stopped.output, "porter-runner")
        assert.include(stopped.output, "REPO_FULL_NAME")
      } finally {
        await server.close()
      }
    }), 60_000)
})
