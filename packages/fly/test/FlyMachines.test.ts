// The Fly provisioner against the local machines server: lifecycle, request shape, faults, credentials, errors.
import { assert, describe, it, layer } from "@effect/vitest"
import { Ids, MachineProvisioner } from "@porter/core"
import { FlyApps, FlyHttp, FlyMachines } from "@porter/fly"
import { ConfigProvider, Effect, Fiber, Logger, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { IMAGE, LocalFly, localFly } from "./helpers.ts"

const SECRET = "sk-ant-test-secret-value-0001"

const specFor = (
  taskId: Ids.TaskId,
  extra: Partial<MachineProvisioner.MachineSpec> = {}
): MachineProvisioner.MachineSpec => ({
  taskId,
  env: { TASK_ID: taskId, FAKE_MACHINE: "sleep", CALLBACK_URL: "http://127.0.0.1:9/callbacks" },
  secretEnv: { ANTHROPIC_API_KEY: Redacted.make(SECRET) },
  guest: MachineProvisioner.defaultGuest,
  ...extra
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const Fly = FlyMachines.FlyMachines

/** Machines the server made for a task (destroyed ones included). */
const machinesOf = (taskId: string) =>
  Effect.map(LocalFly, (server) => server.machines().filter((m) => m.metadata["porter_task_id"] === taskId))

const requestsOf = (op: string) => Effect.map(LocalFly, (server) => server.requests().filter((r) => r.op === op))

/** The fake machine has started its script (node takes a moment after the process exists). */
const logged = (id: string, text: string) =>
  Effect.gen(function*() {
    const server = yield* LocalFly
    for (let i = 0; i < 1_000 && !server.logs(id).includes(text); i++) yield* Effect.sleep(10)
    assert.include(server.logs(id), text)
  })

/**
 * Runs `effect` on the TestClock: the clock moves on in small steps while the local server answers on the real event
 * loop, so a Retry-After wait takes no real time. Returns the result and the virtual time the call took.
 */
const onTestClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const clock = yield* TestClock.testClockWith(Effect.succeed)
    const started = clock.currentTimeMillisUnsafe()
    const fiber = yield* Effect.forkChild(effect)
    while (fiber.pollUnsafe() === undefined && clock.currentTimeMillisUnsafe() - started < 300_000) {
      yield* TestClock.withLive(Effect.sleep(1))
      yield* TestClock.adjust("10 millis")
    }
    const result = yield* Fiber.join(fiber)
    return [result, clock.currentTimeMillisUnsafe() - started] as const
  })

describe("FlyMachines", () => {
  layer(localFly(), { excludeTestServices: true, timeout: 60_000 })("against the local machines server", (it) => {
    it.effect("happy path: create → started → destroyed, with the machine Porter asked for", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        const taskId = yield* Ids.makeTaskId
        const machine = yield* fly.create(
          specFor(taskId, { region: "ams", guest: { cpuKind: "shared", cpus: 2, memoryMb: 2048 } })
        )
        assert.strictEqual(machine.taskId, taskId)
        assert.strictEqual(machine.region, "ams")
        assert.isDefined(machine.createdAt)

        const started = yield* fly.waitFor(machine.id, "started", { timeoutMs: 20_000 })
        assert.strictEqual(started.state, "started")
        assert.strictEqual((yield* fly.get(machine.id)).state, "started")

        const made = server.machine(machine.id)!
        assert.strictEqual(made.image, IMAGE)
        assert.isTrue(made.autoDestroy)
        assert.deepStrictEqual(made.guest, { cpuKind: "shared", cpus: 2, memoryMb: 2048 })
        assert.deepStrictEqual(Object.keys(made.metadata).sort(), ["porter", "porter_create_id", "porter_task_id"])
        assert.strictEqual(made.metadata["porter"], "1")
        assert.strictEqual(made.metadata["porter_task_id"], taskId)
        assert.strictEqual(made.env["TASK_ID"], taskId)
        // Secret values are unwrapped only into the request body.
        assert.strictEqual(made.env["ANTHROPIC_API_KEY"], SECRET)
        const body = server.requests().find((r) => r.op === "create")!.body as { config: { restart: unknown } }
        assert.deepStrictEqual(body.config.restart, { policy: "no" })

        const pid = made.pid!
        assert.isTrue(alive(pid))
        yield* logged(machine.id, `task=${taskId}`)
        yield* fly.destroy(machine.id)
        const gone = yield* fly.waitFor(machine.id, "destroyed", { timeoutMs: 20_000 })
        assert.strictEqual(gone.state, "destroyed")
        assert.isFalse(alive(pid), "destroy kills the machine's process")
        assert.include(server.logs(machine.id), `task=${taskId}`)
        assert.isTrue(Option.isNone(yield* fly.findByTask(taskId)))
      }))

    it.effect("a machine whose process exits stops, and auto_destroy then destroys it", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        const taskId = yield* Ids.makeTaskId
        const machine = yield* fly.create(specFor(taskId, { env: { TASK_ID: taskId, FAKE_MACHINE: "exit:3" } }))
        yield* fly.waitFor(machine.id, "destroyed", { timeoutMs: 20_000 })
        const events = server.machine(machine.id)!.events.map((e) => `${e.type}:${e.status}`)
        assert.deepStrictEqual(events, [
          "launch:created",
          "start:starting",
          "start:started",
          "exit:stopped",
          "destroy:destroying",
          "destroy:destroyed"
        ])
        assert.strictEqual(server.machine(machine.id)!.exitCode, 3)
      }))

    it.effect("machines that die are seen as gone", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        const taskId = yield* Ids.makeTaskId
        const machine = yield* fly.create(specFor(taskId))
        yield* fly.waitFor(machine.id, "started", { timeoutMs: 20_000 })
        yield* Effect.promise(() => server.faults.kill(machine.id))
        yield* fly.waitFor(machine.id, "destroyed", { timeoutMs: 20_000 })
        assert.isTrue(Option.isNone(yield* fly.findByTask(taskId)))
        assert.isFalse((yield* fly.list()).some((m) => m.id === machine.id))
        assert.strictEqual(server.machine(machine.id)!.exitCode, null, "killed by a signal")

        server.faults.dieAfterStart()
        const second = yield* fly.create(specFor(taskId))
        yield* fly.waitFor(second.id, "destroyed", { timeoutMs: 20_000 })
        // Waiting for a state a destroyed machine can never reach fails at once.
        const error = yield* Effect.flip(fly.waitFor(second.id, "started", { timeoutMs: 20_000 }))
        assert.strictEqual(error._tag, "ProvisionError")
      }))

    it.effect("stop asks the process to exit; the machine then destroys itself", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        const machine = yield* fly.create(specFor(yield* Ids.makeTaskId))
        yield* fly.waitFor(machine.id, "started", { timeoutMs: 20_000 })
        yield* logged(machine.id, "mode=sleep")
        yield* fly.stop(machine.id, { signal: "SIGTERM", timeoutMs: 5_000 })
        yield* fly.waitFor(machine.id, "destroyed", { timeoutMs: 20_000 })
        assert.include(server.logs(machine.id), "got SIGTERM")
        assert.strictEqual(server.machine(machine.id)!.exitCode, 0)
        const missing = yield* Effect.flip(fly.stop("0000000000dead" as Ids.MachineId))
        assert.strictEqual(missing._tag, "MachineNotFound")
      }))

    it.effect("waitFor gives up after its timeout", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        server.faults.failLaunch()
        const machine = yield* fly.create(specFor(yield* Ids.makeTaskId))
        const error = yield* Effect.flip(fly.waitFor(machine.id, "started", { timeoutMs: 1_500 }))
        assert.strictEqual(error._tag, "FlyWaitTimeout")
        assert.strictEqual((yield* fly.get(machine.id)).state, "failed")
        yield* fly.destroy(machine.id)
      }))

    it.effect("list and findByTask see only Porter's live machines", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        // A machine somebody else made in the same app.
        const foreign = yield* Effect.promise(() =>
          fetch(`${server.url}/apps/${server.app}/machines`, {
            method: "POST",
            headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
            body: JSON.stringify({ config: { image: "nginx:1", env: { FAKE_MACHINE: "sleep" }, auto_destroy: true } })
          }).then((r) => r.json() as Promise<{ id: string }>)
        )
        const taskId = yield* Ids.makeTaskId
        const mine = yield* fly.create(specFor(taskId))
        const listed = yield* fly.list()
        assert.isTrue(listed.some((m) => m.id === mine.id))
        assert.isFalse(listed.some((m) => m.id === foreign.id))
        assert.strictEqual(Option.getOrThrow(yield* fly.findByTask(taskId)).id, mine.id)
        // The lookup asks Fly to filter by metadata (documented list filter), and checks the answer too.
        const lookups = server.requests().filter((r) =>
          r.op === "list" && r.query["metadata.porter_task_id"] === taskId
        )
        assert.isAbove(lookups.length, 0)
        yield* fly.destroy(mine.id)
        yield* fly.destroy(foreign.id as Ids.MachineId)
      }))
  })

  describe("faults", () => {
    it.effect("a 429 burst is retried after Retry-After, then succeeds", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        server.faults.rateLimit({ count: 2, retryAfterSeconds: 1, op: "create" })
        const taskId = yield* Ids.makeTaskId
        const [machine, ms] = yield* onTestClock(fly.create(specFor(taskId)))
        assert.isAtLeast(ms, 2_000, "two Retry-After: 1 waits (virtual time)")
        assert.strictEqual((yield* requestsOf("create")).map((r) => r.status).join(","), "429,429,200")
        assert.deepStrictEqual((yield* machinesOf(taskId)).map((m) => m.id), [machine.id])
      }).pipe(Effect.provide(localFly())), 30_000)

    it.live("500s are retried, with a lookup first, and one machine results", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        server.faults.serverError({ count: 2, op: "create" })
        server.faults.serverError({ count: 1, op: "get" })
        const taskId = yield* Ids.makeTaskId
        const machine = yield* fly.create(specFor(taskId))
        assert.strictEqual((yield* requestsOf("create")).map((r) => r.status).join(","), "500,500,200")
        assert.deepStrictEqual((yield* machinesOf(taskId)).map((m) => m.id), [machine.id])
        // A 5xx answer may come after the work was done: the task's machine is looked up before each new create.
        const ops = server.requests().map((r) => r.op).join(",")
        assert.strictEqual(ops, "create,list,create,list,create")
        assert.strictEqual((yield* fly.get(machine.id)).id, machine.id, "get retried its 500")
      }).pipe(Effect.provide(localFly())), 30_000)

    it.live("a create whose answer is dropped never yields a second machine", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        server.faults.dropCreateResponse()
        // The first lookup fails too: Porter must not create blindly after it.
        server.faults.serverError({ count: 1, op: "list", status: 502 })
        const taskId = yield* Ids.makeTaskId
        const machine = yield* fly.create(specFor(taskId))
        const made = yield* machinesOf(taskId)
        assert.strictEqual(made.length, 1)
        assert.strictEqual(made[0]!.id, machine.id, "the machine made by the lost create is the one returned")
        assert.strictEqual((yield* requestsOf("create")).length, 1)
        assert.strictEqual(server.faults.pending(), 0)
      }).pipe(Effect.provide(localFly())), 30_000)

    it.live(
      "a dropped create answer hands back that machine even when its launch failed, not an older one",
      () =>
        Effect.gen(function*() {
          const fly = yield* Fly
          const server = yield* LocalFly
          const taskId = yield* Ids.makeTaskId
          // An earlier attempt's machine for the same task, still there (its destroy has not happened yet).
          const earlier = yield* fly.create(specFor(taskId))
          server.faults.dropCreateResponse()
          server.faults.failLaunch()
          const machine = yield* fly.create(specFor(taskId))
          const made = yield* machinesOf(taskId)
          assert.strictEqual(made.length, 2, "no third machine")
          assert.notStrictEqual(machine.id, earlier.id, "the lost create's own machine, not the earlier attempt's")
          assert.isTrue(made.some((m) => m.id === machine.id))
          assert.strictEqual((yield* requestsOf("create")).length, 2)
          yield* fly.destroy(earlier.id)
          yield* fly.destroy(machine.id)
        }).pipe(Effect.provide(localFly())),
      30_000
    )

    it.live("slow answers time out and are retried", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        const taskId = yield* Ids.makeTaskId
        // 10× the per-attempt timeout.
        server.faults.slow({ delayMs: 5_000, op: "create" })
        const machine = yield* fly.create(specFor(taskId))
        assert.deepStrictEqual((yield* machinesOf(taskId)).map((m) => m.id), [machine.id])
        server.faults.slow({ delayMs: 5_000, op: "get" })
        assert.strictEqual((yield* fly.get(machine.id)).id, machine.id)
        assert.isAtLeast((yield* requestsOf("get")).length, 2, "the slow get was given up and asked again")
      }).pipe(Effect.provide(localFly({ requestTimeoutMs: 500 }))), 30_000)

    it.live("5xx that do not stop end in a typed failure naming the problem", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        server.faults.serverError({ count: 100, status: 503, op: "create" })
        const taskId = yield* Ids.makeTaskId
        const error = yield* Effect.flip(fly.create(specFor(taskId)))
        assert.strictEqual(error.reason, "unavailable")
        assert.strictEqual(error.status, 503)
        assert.include(error.message, "the Fly Machines API failed (503")
        assert.include(error.message, "after 5 attempts")
        assert.strictEqual((yield* requestsOf("create")).length, 5, "bounded in count")
        assert.strictEqual((yield* machinesOf(taskId)).length, 0)
      }).pipe(Effect.provide(localFly())), 30_000)

    it.live("no capacity: retried, then the user is told to try another region or size", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        server.faults.serverError({
          count: 100,
          status: 412,
          code: "insufficient_capacity",
          op: "create",
          error: "no room"
        })
        const error = yield* Effect.flip(fly.create(specFor(yield* Ids.makeTaskId)))
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "Fly has no capacity for this machine (412: no room)")
        assert.include(error.message, "try another region")
        assert.include(error.message, "after 5 attempts")
      }).pipe(Effect.provide(localFly())), 30_000)

    it.effect("a Retry-After beyond the time budget ends the call at once", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const server = yield* LocalFly
        server.faults.rateLimit({ count: 1, retryAfterSeconds: 120, op: "create" })
        const [error, ms] = yield* onTestClock(Effect.flip(fly.create(specFor(yield* Ids.makeTaskId))))
        assert.strictEqual(error.reason, "rate_limited")
        assert.include(error.message, "429")
        assert.strictEqual((yield* requestsOf("create")).length, 1, "not tried again")
        assert.isBelow(ms, 120_000, "no 120 s wait (virtual time)")
      }).pipe(Effect.provide(localFly())), 30_000)

    it.live("network faults are retried until the budget runs out", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const error = yield* Effect.flip(fly.list())
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "could not reach the Fly Machines API at http://127.0.0.1:9/v1")
      }).pipe(
        Effect.provide(
          localFly({
            apiUrl: "http://127.0.0.1:9/v1",
            retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20, budgetMs: 5_000 }
          })
        )
      ), 30_000)
  })

  describe("credentials and configuration", () => {
    it.live("a bad token fails at once with a message that tells the user what to fix", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const error = yield* Effect.flip(fly.create(specFor(yield* Ids.makeTaskId)))
        assert.strictEqual(error.reason, "unauthorized")
        assert.strictEqual(error.status, 401)
        assert.include(error.message, "Fly rejected the API token (401")
        assert.include(error.message, "porter secrets set FLY_API_TOKEN")
        assert.notInclude(error.message, "fo1_wrong")
        assert.notInclude(JSON.stringify(error), "fo1_wrong")
        assert.strictEqual((yield* requestsOf("create")).length, 1, "not retried")
      }).pipe(Effect.provide(localFly({ token: Redacted.make("fo1_wrongtoken_000000") }))), 30_000)

    it.live(
      "the per-call credential (from the SecretStore) wins over the deploy-wide token",
      () =>
        Effect.gen(function*() {
          const fly = yield* Fly
          const server = yield* LocalFly
          const credential = Redacted.make(server.token)
          const taskId = yield* Ids.makeTaskId
          const machine = yield* fly.create(specFor(taskId, { credential }))
          assert.strictEqual((yield* fly.get(machine.id, { credential })).id, machine.id)
          assert.strictEqual(Option.getOrThrow(yield* fly.findByTask(taskId, { credential })).id, machine.id)
          const denied = yield* Effect.flip(fly.get(machine.id))
          assert.strictEqual(denied._tag === "ProvisionError" && denied.reason, "unauthorized")
          yield* fly.destroy(machine.id, { credential })
        }).pipe(Effect.provide(localFly({ token: Redacted.make("deploy-wide-but-revoked") }))),
      30_000
    )

    it.live("no token at all is an unauthorized error, before any request", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const error = yield* Effect.flip(fly.create(specFor(yield* Ids.makeTaskId)))
        assert.strictEqual(error.reason, "unauthorized")
        assert.include(error.message, "no Fly API token is set")
        assert.strictEqual((yield* requestsOf("create")).length, 0)
      }).pipe(Effect.provide(localFly({ token: undefined }))), 30_000)

    it.live("a 422 names the field to fix", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const error = yield* Effect.flip(
          fly.create(specFor(yield* Ids.makeTaskId, { guest: { cpuKind: "shared", cpus: 2, memoryMb: 1000 } }))
        )
        assert.strictEqual(error.reason, "bad_config")
        assert.strictEqual(error.status, 422)
        assert.include(error.message, "guest.memory_mb")
        assert.include(error.message, "PORTER_MACHINE_MEMORY_MB")
        const region = yield* Effect.flip(fly.create(specFor(yield* Ids.makeTaskId, { region: "mars" })))
        assert.include(region.message, "region")
      }).pipe(Effect.provide(localFly({}, { regions: ["local", "ams"] }))), 30_000)

    it.live(
      "an error text that quotes the machine's secret environment never carries it to the issue",
      () =>
        Effect.gen(function*() {
          const fly = yield* Fly
          const server = yield* LocalFly
          server.faults.serverError({
            status: 422,
            op: "create",
            error: `invalid config.env: ANTHROPIC_API_KEY=${SECRET} too long`
          })
          const error = yield* Effect.flip(fly.create(specFor(yield* Ids.makeTaskId)))
          assert.strictEqual(error.reason, "bad_config")
          assert.include(error.message, "invalid config.env: ANTHROPIC_API_KEY=")
          for (const shown of [error.message, String(error), JSON.stringify(error), String(error.cause)]) {
            assert.notInclude(shown, SECRET)
          }
        }).pipe(Effect.provide(localFly())),
      30_000
    )

    it.live("a missing app says how to create it", () =>
      Effect.gen(function*() {
        const fly = yield* Fly
        const error = yield* Effect.flip(fly.create(specFor(yield* Ids.makeTaskId)))
        assert.strictEqual(error.reason, "not_found")
        assert.include(error.message, "fly apps create porter-missing")
      }).pipe(Effect.provide(localFly({ app: "porter-missing" }))), 30_000)

    it.live("ensureApp creates the app once, explicitly", () =>
      Effect.gen(function*() {
        const server = yield* LocalFly
        const options = { app: "porter-new", org: "personal", token: Redacted.make(server.token), apiUrl: server.url }
        assert.strictEqual(yield* FlyApps.ensureApp(options), "created")
        assert.strictEqual(yield* FlyApps.ensureApp(options), "exists")
        assert.include(server.apps(), "porter-new")
        const bad = yield* Effect.flip(FlyApps.ensureApp({ ...options, token: Redacted.make("nope-nope-nope") }))
        assert.strictEqual(bad.reason, "unauthorized")
        const refused = yield* Effect.flip(FlyApps.ensureApp({ ...options, app: "Not_A_Valid_Name" }))
        assert.strictEqual(refused.reason, "bad_config")
        assert.include(refused.message, "Fly refused to create the app `Not_A_Valid_Name` in the org `personal` (422")
      }).pipe(Effect.provide(localFly())), 30_000)

    it.live("secrets and tokens never reach the logs", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const capture = Logger.make((options) => {
          lines.push(JSON.stringify(options.message) + String(options.cause))
        })
        const server = yield* LocalFly
        yield* Effect.gen(function*() {
          const fly = yield* Fly
          server.faults.serverError({ count: 1, op: "create" })
          const machine = yield* fly.create(specFor(yield* Ids.makeTaskId))
          yield* fly.destroy(machine.id)
        }).pipe(Effect.provide(Logger.layer([capture])))
        assert.isAbove(lines.length, 1, "the retry and the lifecycle were logged")
        for (const line of lines) {
          assert.notInclude(line, SECRET)
          assert.notInclude(line, server.token)
        }
      }).pipe(Effect.provide(localFly())), 30_000)
  })

  describe("units", () => {
    it("Fly macaroon tokens go out as they are, others as bearer tokens", () => {
      assert.strictEqual(FlyHttp.authorization(Redacted.make("FlyV1 fm2_abc")), "FlyV1 fm2_abc")
      assert.strictEqual(FlyHttp.authorization(Redacted.make("fo1_abc\n")), "Bearer fo1_abc")
    })

    it("Retry-After is read as seconds or as a date", () => {
      assert.strictEqual(FlyHttp.parseRetryAfter("3", 0), 3_000)
      assert.strictEqual(FlyHttp.parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000)
      assert.isUndefined(FlyHttp.parseRetryAfter("soon", 0))
      assert.isUndefined(FlyHttp.parseRetryAfter(undefined, 0))
    })

    it("Fly's extra states map onto Porter's", () => {
      assert.strictEqual(FlyMachines.toMachineState("launch_failed"), "failed")
      assert.strictEqual(FlyMachines.toMachineState("replaced"), "destroyed")
      assert.strictEqual(FlyMachines.toMachineState("creating"), "created")
      assert.strictEqual(FlyMachines.toMachineState("started"), "started")
    })

    it.effect("layerConfig reads FLY_* settings", () =>
      Effect.gen(function*() {
        const options = yield* FlyMachines.config
        assert.strictEqual(options.app, "porter-runs")
        assert.strictEqual(options.apiUrl, "https://api.machines.dev/v1")
        assert.strictEqual(options.region, "fra")
        assert.strictEqual(options.image, "registry.fly.io/porter-runner:1.2.3")
        assert.strictEqual(Redacted.value(options.token!), "fo1_configured")
        assert.strictEqual(String(options.token), "<redacted>")
      }).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
          env: {
            FLY_APP_NAME: "porter-runs",
            FLY_API_TOKEN: "fo1_configured",
            FLY_REGION: "fra",
            PORTER_MACHINE_IMAGE: "registry.fly.io/porter-runner:1.2.3"
          }
        })))
      ))
  })
})
