// DockerProvisioner against a real dockerd (the docker tier: `npm test` runs it when a daemon answers): the
// MachineProvisioner contract and the containers it makes, on a small test image built here from host binaries
// (./utils.ts), offline. Without a daemon: DockerProvisioner.test.ts.
import { afterAll, assert, describe, it, layer } from "@effect/vitest"
import { Ids, MachineProvisioner } from "@porter/core"
import { DockerEngine, DockerProvisioner } from "@porter/docker"
import { MachineProvisionerSuite } from "@porter/testing/conformance"
import { ConfigProvider, Context, Effect, Exit, Layer, Option, Scope } from "effect"
import { buildTestImage, host, IMAGE, SECRET, specOf } from "./utils.ts"

const PREFIX = "porter-dockertest-"
const options: DockerProvisioner.DockerOptions = { host, image: IMAGE, namePrefix: PREFIX, stopTimeoutSeconds: 2 }

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
  await runEngine(Effect.gen(function*() {
    const engine = yield* DockerEngine.DockerEngine
    const containers = yield* engine.listContainers({ label: ["porter=1"] })
    for (const c of containers) {
      if (c.Names?.some((n) => n.startsWith(`/${PREFIX}`))) yield* engine.removeContainer(c.Id, { force: true })
    }
  }))
})

await runEngine(buildTestImage)

describe("against a real dockerd", () => {
  MachineProvisionerSuite.run("Docker", DockerProvisioner.layer(options), {
    spec: () => ({ image: IMAGE }),
    timeout: 60_000
  })

  layer(DockerProvisioner.layer(options), { excludeTestServices: true, timeout: 60_000 })("DockerProvisioner", (it) => {
    it.effect("starts a labelled, limited, auto-removing container named after its task, with the machine environment", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const taskId = yield* Ids.makeTaskId
        const machine = yield* p.create(
          specOf(taskId, { MACHINE_MODE: "env", PLAIN: "plain value" }, { deadlineAt: Date.now() + 600_000 })
        )
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
          Effect.map(
            p.logs(machine.id),
            (l) => (l.includes(`CALLBACK_TOKEN=${SECRET}`) ? Option.some(l) : Option.none())
          ),
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
          Effect.map(
            p.logs(machine.id),
            (l) => (l.some((line) => line.includes("pid1 read")) ? Option.some(l) : Option.none())
          ),
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
        const error = yield* Effect.flip(
          p.create(specOf(yield* Ids.makeTaskId, {}, { image: "porter-test-missing:0" }))
        )
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
          after._tag === "Failure"
            ? after.failure._tag === "MachineNotFound"
            : MachineProvisioner.isGone(after.success.state),
          "gone or being removed"
        )
      }))

    it.effect("a stopped container is removed", () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const taskId = yield* Ids.makeTaskId
        const machine = yield* p.create(specOf(taskId))
        yield* eventually(
          Effect.map(p.logs(machine.id), (l) => (l.includes("ready") ? Option.some(l) : Option.none())),
          "ready"
        )
        yield* p.stop(machine.id)
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
        const machine = yield* p.create(
          specOf(yield* Ids.makeTaskId, {}, { guest: { cpuKind: "shared", cpus: cpus + 64, memoryMb: 128 } })
        )
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
        assert.strictEqual(
          Option.getOrThrow(yield* p.findByTask(taskId)).id,
          machine.id,
          "still running before its deadline"
        )
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

  it.live(
    "stop is graceful: the container's SIGTERM trap runs and it exits 0, not killed after the timeout",
    () =>
      Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const machine = yield* p.create(specOf(yield* Ids.makeTaskId))
        yield* eventually(
          Effect.map(p.logs(machine.id), (l) => (l.includes("ready") ? Option.some(l) : Option.none())),
          "ready"
        )
        yield* p.stop(machine.id)
        // Killed after the stop timeout it would be 137 (SIGKILL), with no "stopping" line.
        assert.strictEqual(yield* p.wait(machine.id), 0)
        assert.deepStrictEqual(yield* p.logs(machine.id), ["ready", "stopping"])
        yield* p.destroy(machine.id)
      }).pipe(Effect.provide(DockerProvisioner.layer({ ...options, autoRemove: false }))),
    60_000
  )

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
        Layer.provide(
          ConfigProvider.layer(ConfigProvider.fromEnv({ env: { DOCKER_HOST: host, PORTER_MACHINE_IMAGE: IMAGE } }))
        )
      ))
    ), 60_000)
})
