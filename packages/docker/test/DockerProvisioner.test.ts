import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { Ids, MachineProvisioner } from "@porter/core"
import { DockerApi, DockerEngine, DockerProvisioner } from "@porter/docker"
import { MachineProvisionerSuite } from "@porter/testing"
import { host, IMAGE, setup } from "./utils.ts"

const skipReason = await setup()
if (skipReason !== undefined) console.warn(`Skipping the tests against a real dockerd: ${skipReason}`)
const noDaemon = skipReason !== undefined

const PREFIX = "porter-dockertest-"
const SECRET = "s3cret-callback-token-value"
const options: DockerProvisioner.DockerOptions = { host, image: IMAGE, namePrefix: PREFIX, stopTimeoutSeconds: 2 }

const specOf = (
  taskId: Ids.TaskId,
  env: Record<string, string> = {},
  extra: Partial<MachineProvisioner.MachineSpec> = {}
): MachineProvisioner.MachineSpec => ({
  taskId,
  env: { TASK_ID: taskId, ...env },
  secretEnv: { CALLBACK_TOKEN: Redacted.make(SECRET) },
  guest: { cpuKind: "shared", cpus: 1, memoryMb: 256 },
  ...extra
})

/** Polls `check` until it returns `Some` (real time). */
const eventually = <A, E, R>(check: Effect.Effect<Option.Option<A>, E, R>, what: string, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const until = Date.now() + timeoutMs
    for (;;) {
      const result = yield* check
      if (Option.isSome(result)) return result.value
      if (Date.now() > until) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep(100)
    }
  })

const runEngine = <A, E>(effect: Effect.Effect<A, E, DockerEngine.DockerEngine>) =>
  Effect.runPromise(effect.pipe(Effect.provide(DockerEngine.layer({ host }).pipe(Layer.orDie))))

// Whatever these tests left behind (a failed assertion before a destroy).
afterAll(async () => {
  if (noDaemon) return
  await runEngine(Effect.gen(function*() {
    const engine = yield* DockerEngine.DockerEngine
    const containers = yield* engine.listContainers({ label: ["porter=1"] })
    for (const c of containers) {
      if (c.Names?.some((n) => n.startsWith(`/${PREFIX}`))) yield* engine.removeContainer(c.Id, { force: true })
    }
  }))
})

describe("DockerApi", () => {
  it("parses DOCKER_HOST", () => {
    assert.deepStrictEqual(DockerApi.parseHost("unix:///var/run/docker.sock"), {
      _tag: "Unix",
      socketPath: "/var/run/docker.sock",
      display: "unix:///var/run/docker.sock"
    })
    assert.deepStrictEqual(DockerApi.parseHost("/run/user/1000/docker.sock")?._tag, "Unix")
    assert.deepStrictEqual(DockerApi.parseHost("tcp://127.0.0.1:2375"), {
      _tag: "Http",
      baseUrl: "http://127.0.0.1:2375",
      display: "tcp://127.0.0.1:2375"
    })
    assert.strictEqual((DockerApi.parseHost("http://docker.internal:2375/prefix/") as { baseUrl: string }).baseUrl, "http://docker.internal:2375/prefix")
    for (const bad of ["", "unix://relative.sock", "ssh://me@host", "npipe:////./pipe/docker_engine", "https://host:2376"]) {
      assert.isUndefined(DockerApi.parseHost(bad), bad)
    }
  })

  it("maps container states onto machine states", () => {
    assert.deepStrictEqual(
      ["created", "running", "paused", "restarting", "removing", "exited", "dead"].map(DockerApi.toMachineState),
      ["created", "started", "suspended", "starting", "destroying", "stopped", "failed"]
    )
  })

  it("splits framed log output into lines, stdout and stderr in order", () => {
    const frame = (stream: number, text: string) => {
      const payload = new TextEncoder().encode(text)
      const header = new Uint8Array([stream, 0, 0, 0, 0, 0, 0, 0])
      new DataView(header.buffer).setUint32(4, payload.length)
      return [...header, ...payload]
    }
    const bytes = new Uint8Array([...frame(1, "ready\nhalf "), ...frame(2, "line\r\n"), ...frame(1, "last")])
    assert.deepStrictEqual(DockerApi.demuxLogs(bytes).map((f) => f.stream), ["stdout", "stderr", "stdout"])
    assert.deepStrictEqual(DockerApi.logLines(bytes), ["ready", "half line", "last"])
    // A TTY container's output is not framed.
    assert.deepStrictEqual(DockerApi.logLines(new TextEncoder().encode("plain\ntext\n")), ["plain", "text"])
    assert.deepStrictEqual(DockerApi.logLines(new Uint8Array()), [])
  })
})

describe("DockerProvisioner requests and errors", () => {
  it("builds the create request: environment, secrets, labels, limits", () => {
    const taskId = "task_01m84aea2hq379ry400jma9spv" as Ids.TaskId
    const body = DockerProvisioner.createRequest(
      specOf(taskId, { PLAIN: "a=b" }, { deadlineAt: 1_700_000_000_123.6, guest: { cpuKind: "shared", cpus: 8, memoryMb: 512 } }),
      { image: "runner:1", maxCpus: 2, autoRemove: true, init: true, extraHosts: ["h:host-gateway"], stopTimeoutSeconds: 7 }
    )
    assert.deepStrictEqual(body, {
      Image: "runner:1",
      Env: [`TASK_ID=${taskId}`, "PLAIN=a=b", `CALLBACK_TOKEN=${SECRET}`],
      Labels: { porter: "1", "porter.task_id": taskId, "porter.deadline_at": "1700000000123" },
      StopTimeout: 7,
      HostConfig: {
        NanoCpus: 2_000_000_000,
        Memory: 512 * 1024 * 1024,
        AutoRemove: true,
        Init: true,
        ExtraHosts: ["h:host-gateway"]
      }
    })
  })

  it("explains an unreachable daemon, a missing image and a refused socket", () => {
    const error = (fields: Partial<ConstructorParameters<typeof DockerEngine.DockerEngineError>[0]>) =>
      new DockerEngine.DockerEngineError({ kind: "status", op: "create container", host: "unix:///var/run/docker.sock", ...fields })
    const down = DockerProvisioner.toProvisionError(error({ kind: "transport", code: "ECONNREFUSED" }))
    assert.strictEqual(down.reason, "unavailable")
    assert.include(down.message, "is dockerd running?")
    assert.include(down.message, "DOCKER_HOST")
    const image = DockerProvisioner.toProvisionError(error({ status: 404, engineMessage: "No such image: runner:9" }), { image: "runner:9" })
    assert.strictEqual(image.reason, "not_found")
    assert.include(image.message, "`runner:9`")
    assert.include(image.message, "docker build -t runner:9 worker-image/")
    assert.include(image.message, "PORTER_MACHINE_IMAGE")
    const denied = DockerProvisioner.toProvisionError(error({ kind: "transport", code: "EACCES" }))
    assert.strictEqual(denied.reason, "unauthorized")
    assert.include(denied.message, "docker")
    const refused = DockerProvisioner.toProvisionError(error({ status: 400, engineMessage: "invalid NanoCPUs" }))
    assert.strictEqual(refused.reason, "bad_config")
    assert.include(refused.message, "invalid NanoCPUs")
  })

  it.effect("without a daemon, every call is a ProvisionError that says to start dockerd or set DOCKER_HOST", () =>
    Effect.gen(function*() {
      const p = yield* DockerProvisioner.DockerProvisioner
      const error = yield* Effect.flip(p.create(specOf(yield* Ids.makeTaskId)))
      assert.strictEqual(error._tag, "ProvisionError")
      assert.strictEqual(error.reason, "unavailable")
      assert.include(error.message, "unix:///nonexistent/docker.sock")
      assert.include(error.message, "is dockerd running?")
      assert.notInclude(error.message, SECRET)
      assert.strictEqual((yield* Effect.flip(p.list())).reason, "unavailable")
      assert.strictEqual((yield* Effect.flip(p.destroy("abc" as Ids.MachineId))).reason, "unavailable")
    }).pipe(Effect.provide(DockerProvisioner.layer({ host: "unix:///nonexistent/docker.sock", deadlineCheckMs: false }))))

  it.effect("a DOCKER_HOST Porter cannot use fails the layer and says which forms work", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(DockerProvisioner.layer({ host: "ssh://me@box" })).pipe(Effect.scoped))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "tcp://host:2375")
    }))

  it.live("a tcp:// DOCKER_HOST speaks HTTP to that address", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const server = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`)
        res.setHeader("content-type", "application/json")
        if (req.url?.startsWith("/containers/json")) {
          res.end(JSON.stringify([{ Id: "c1", State: "running", Created: 1_700_000_000, Labels: { porter: "1", "porter.task_id": "task_x" } }]))
        } else {
          res.statusCode = 500
          res.end(JSON.stringify({ message: "engine exploded" }))
        }
      })
      yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
      const port = (server.address() as AddressInfo).port
      yield* Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const listed = yield* p.list()
        assert.deepStrictEqual(listed.map((m) => [m.id, m.taskId, m.state, m.createdAt]), [["c1", "task_x", "started", 1_700_000_000_000]])
        const error = yield* Effect.flip(p.get("c1" as Ids.MachineId))
        assert.strictEqual(error._tag, "ProvisionError")
        assert.include(error.message, "engine exploded")
        assert.isTrue(seen[0]!.startsWith("GET /containers/json?all=true&filters="))
        assert.deepStrictEqual(JSON.parse(decodeURIComponent(seen[0]!.split("filters=")[1]!)), { label: ["porter=1"] })
      }).pipe(Effect.provide(DockerProvisioner.layer({ host: `tcp://127.0.0.1:${port}`, deadlineCheckMs: false })))
      server.close()
    }))
})

describe.skipIf(noDaemon)(`against a real dockerd${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  MachineProvisionerSuite.run("Docker", DockerProvisioner.layer(options), { spec: () => ({ image: IMAGE }), timeout: 60_000 })

  layer(DockerProvisioner.layer(options), { excludeTestServices: true, timeout: 60_000 })("DockerProvisioner", (it) => {
    it.effect("starts a labelled, limited, auto-removing container named after its task, with the machine environment", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const taskId = yield* Ids.makeTaskId
        const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "env", PLAIN: "plain value" }, { deadlineAt: Date.now() + 600_000 }))
        assert.strictEqual(machine.state, "started")
        const container = Option.getOrThrow(yield* p.engine.inspectContainer(machine.id))
        assert.strictEqual(container.Name, `/${PREFIX}${taskId}`)
        assert.strictEqual(container.Config.Image, IMAGE)
        assert.strictEqual(container.Config.Labels?.porter, "1")
        assert.strictEqual(container.Config.Labels?.["porter.task_id"], taskId)
        assert.match(container.Config.Labels?.["porter.deadline_at"] ?? "", /^\d+$/)
        assert.strictEqual(container.HostConfig?.NanoCpus, 1_000_000_000)
        assert.strictEqual(container.HostConfig?.Memory, 256 * 1024 * 1024)
        assert.strictEqual(container.HostConfig?.AutoRemove, true)
        assert.notStrictEqual(container.HostConfig?.Init, true)
        const lines = yield* eventually(
          Effect.map(p.logs(machine.id), (l) => (l.includes(`CALLBACK_TOKEN=${SECRET}`) ? Option.some(l) : Option.none())),
          "the environment in the logs"
        )
        assert.include(lines, "PLAIN=plain value")
        assert.include(lines, `TASK_ID=${taskId}`)
        yield* p.destroy(machine.id)
        assert.isTrue(Option.isNone(yield* p.engine.inspectContainer(machine.id)))
      }))

    it.effect("PID 1 is the image's own entrypoint: no init process keeps the secret environment it moved away", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const taskId = yield* Ids.makeTaskId
        // The runner image's entrypoint execs with a minimal environment so that no process the agent can read
        // (same user, /proc/<pid>/environ) holds the task's tokens; an init in front of it would keep them all.
        const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "pid1" }))
        const lines = yield* eventually(
          Effect.map(p.logs(machine.id), (l) => (l.some((line) => line.includes("pid1 read")) ? Option.some(l) : Option.none())),
          "PID 1's environment in the logs"
        )
        const text = lines.join("\n")
        assert.include(text, "PATH=/bin:/usr/bin")
        assert.notInclude(text, SECRET)
        yield* p.destroy(machine.id)
      }))

    it.effect("a create repeated after a lost answer returns the task's container instead of making a second", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const taskId = yield* Ids.makeTaskId
        const first = yield* p.create(specOf(taskId))
        const again = yield* p.create(specOf(taskId))
        assert.strictEqual(again.id, first.id)
        const containers = yield* p.engine.listContainers({ label: [`porter.task_id=${taskId}`] })
        assert.strictEqual(containers.length, 1)
        yield* p.destroy(first.id)
      }))

    it.effect("a missing image is a not_found ProvisionError that names it and how to build it", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const error = yield* Effect.flip(p.create(specOf(yield* Ids.makeTaskId, {}, { image: "porter-test-missing:0" })))
        assert.strictEqual(error._tag, "ProvisionError")
        assert.strictEqual(error.reason, "not_found")
        assert.include(error.message, "`porter-test-missing:0`")
        assert.include(error.message, "docker build")
      }))

    it.effect("a container whose process ends is removed", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const taskId = yield* Ids.makeTaskId
        const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "exit" }))
        yield* eventually(
          Effect.map(p.findByTask(taskId), (found) => (Option.isNone(found) ? Option.some(true) : Option.none())),
          "the ended container to be removed"
        )
        const after = yield* Effect.result(p.get(machine.id))
        assert.isTrue(
          after._tag === "Failure" ? after.failure._tag === "MachineNotFound" : MachineProvisioner.isGone(after.success.state),
          "gone or being removed"
        )
      }))

    it.effect("stop ends the container gracefully, and it is removed", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const taskId = yield* Ids.makeTaskId
        const machine = yield* p.create(specOf(taskId))
        yield* eventually(Effect.map(p.logs(machine.id), (l) => (l.includes("ready") ? Option.some(l) : Option.none())), "ready")
        const started = Date.now()
        yield* p.stop(machine.id)
        assert.isBelow(Date.now() - started, 2_000 * 5, "it stopped on the signal, not after the timeout")
        yield* eventually(
          Effect.map(p.findByTask(taskId), (found) => (Option.isNone(found) ? Option.some(true) : Option.none())),
          "the stopped container to be removed"
        )
        yield* p.destroy(machine.id)
      }))

    it.effect("containers that are not Porter's are invisible and never removed", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const { Id } = yield* p.engine.createContainer(`${PREFIX}stranger-${Date.now()}`, {
          Image: IMAGE,
          Env: [],
          Labels: {},
          HostConfig: { AutoRemove: false }
        })
        yield* p.engine.startContainer(Id)
        const id = Id as Ids.MachineId
        assert.strictEqual((yield* Effect.flip(p.get(id)))._tag, "MachineNotFound")
        assert.isFalse((yield* p.list()).some((m) => m.id === Id))
        const refused = yield* Effect.flip(p.destroy(id))
        assert.strictEqual(refused._tag, "ProvisionError")
        assert.include(refused.message, "not a Porter machine")
        assert.isTrue(Option.isSome(yield* p.engine.inspectContainer(Id)))
        yield* p.engine.removeContainer(Id, { force: true })
      }))

    it.effect("a guest larger than the host is capped at the host's CPUs", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const cpus = (yield* p.engine.info).NCPU!
        const machine = yield* p.create(specOf(yield* Ids.makeTaskId, {}, { guest: { cpuKind: "shared", cpus: cpus + 64, memoryMb: 128 } }))
        const container = Option.getOrThrow(yield* p.engine.inspectContainer(machine.id))
        assert.strictEqual(container.HostConfig?.NanoCpus, cpus * 1e9)
        yield* p.destroy(machine.id)
      }))
  })

  it.live("overdue containers are stopped, also those an earlier host started", () =>
    Effect.gen(function*() {
      // An earlier host, gone before the deadline.
      const earlier = yield* Scope.make()
      const before = Context.get(
        yield* Layer.buildWithScope(DockerProvisioner.layer({ ...options, deadlineCheckMs: false }), earlier),
        DockerProvisioner.DockerProvisioner
      )
      const taskId = yield* Ids.makeTaskId
      const machine = yield* before.create(specOf(taskId, {}, { deadlineAt: Date.now() + 1_500 }))
      yield* Scope.close(earlier, Exit.void)

      yield* Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        assert.strictEqual(Option.getOrThrow(yield* p.findByTask(taskId)).id, machine.id, "still running before its deadline")
        yield* eventually(
          Effect.map(p.findByTask(taskId), (found) => (Option.isNone(found) ? Option.some(true) : Option.none())),
          "the overdue container to be stopped and removed"
        )
      }).pipe(Effect.provide(DockerProvisioner.layer({ ...options, deadlineCheckMs: 250 })))
    }), 60_000)

  it.live("deployments sharing a daemon keep to their own containers (instance)", () =>
    Effect.gen(function*() {
      const build = (instance: string | undefined) =>
        Effect.map(
          Layer.build(DockerProvisioner.layer({ ...options, instance, deadlineCheckMs: false })),
          (context) => Context.get(context, DockerProvisioner.DockerProvisioner)
        )
      const [a, b, all] = [yield* build("a"), yield* build("b"), yield* build(undefined)]
      const taskId = yield* Ids.makeTaskId
      const machine = yield* a.create(specOf(taskId))
      const container = Option.getOrThrow(yield* a.engine.inspectContainer(machine.id))
      assert.strictEqual(container.Config.Labels?.["porter.instance"], "a")
      assert.strictEqual(Option.getOrThrow(yield* a.findByTask(taskId)).id, machine.id)
      assert.isTrue(Option.isNone(yield* b.findByTask(taskId)))
      assert.isFalse((yield* b.list()).some((m) => m.id === machine.id))
      assert.strictEqual((yield* Effect.flip(b.get(machine.id)))._tag, "MachineNotFound")
      assert.include((yield* Effect.flip(b.destroy(machine.id))).message, "of the instance b")
      assert.isTrue((yield* all.list()).some((m) => m.id === machine.id), "without an instance, every Porter container")
      yield* a.destroy(machine.id)
      assert.isTrue(Option.isNone(yield* a.engine.inspectContainer(machine.id)))
    }).pipe(Effect.scoped), 60_000)

  it.live("without auto-removal an ended container stays, stopped, with its exit code", () =>
    Effect.gen(function*() {
      const p = yield* DockerProvisioner.DockerProvisioner
      const taskId = yield* Ids.makeTaskId
      const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "exit", MACHINE_EXIT_CODE: "7" }))
      assert.strictEqual(yield* p.wait(machine.id), 7)
      assert.strictEqual((yield* p.get(machine.id)).state, "stopped")
      assert.strictEqual(Option.getOrThrow(yield* p.findByTask(taskId)).id, machine.id)
      assert.deepStrictEqual(yield* p.logs(machine.id), ["ready", "bye"])
      yield* p.destroy(machine.id)
      assert.isTrue(Option.isNone(yield* p.findByTask(taskId)))
    }).pipe(Effect.provide(DockerProvisioner.layer({ ...options, autoRemove: false }))), 60_000)

  it.live("layerConfig reads DOCKER_HOST and PORTER_MACHINE_IMAGE", () =>
    Effect.gen(function*() {
      const p = yield* MachineProvisioner.MachineProvisioner
      const taskId = yield* Ids.makeTaskId
      // No image in the spec: PORTER_MACHINE_IMAGE applies.
      const machine = yield* p.create({ ...specOf(taskId), image: undefined })
      assert.strictEqual(machine.taskId, taskId)
      yield* p.destroy(machine.id)
    }).pipe(
      Effect.provide(DockerProvisioner.layerConfig.pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { DOCKER_HOST: host, PORTER_MACHINE_IMAGE: IMAGE } })))
      ))
    ), 60_000)
})
