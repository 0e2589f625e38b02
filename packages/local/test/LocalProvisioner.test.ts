import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterAll, assert, describe, it, layer } from "@effect/vitest"
import { Ids, MachineProvisioner } from "@porter/core"
import { LocalProvisioner, Processes, ProcessMachine } from "@porter/local"
import { MachineProvisionerSuite } from "@porter/testing/conformance"
import { ConfigProvider, Context, Effect, Exit, Fiber, Layer, Logger, Option, Redacted, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("./fixtures/machine.mjs", import.meta.url))
const command = [process.execPath, fixture]
const tmpRoot = mkdtempSync(join(tmpdir(), "porter-local-test-"))
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }))

const GRACE_MS = 500
const base: LocalProvisioner.LocalOptions = { command, tmpRoot, graceMs: GRACE_MS, pollMs: 25 }

// Every log line the provisioner writes, as JSON (message and annotations): secrets must never be in one.
const logged: Array<string> = []
const collector = Logger.map(Logger.formatJson, (line) => {
  logged.push(line)
})
const withLogs = <A, E>(l: Layer.Layer<A, E>) =>
  l.pipe(Layer.provideMerge(Logger.layer([collector], { mergeWithExisting: false })))

const SECRET = "s3cret-callback-token-value"

const specOf = (
  taskId: Ids.TaskId,
  env: Record<string, string> = {},
  extra: Partial<MachineProvisioner.MachineSpec> = {}
): MachineProvisioner.MachineSpec => ({
  taskId,
  env: { TASK_ID: taskId, ...env },
  secretEnv: { CALLBACK_TOKEN: Redacted.make(SECRET) },
  guest: MachineProvisioner.defaultGuest,
  ...extra
})

/** Polls `check` until it returns `Some` (real time). */
const eventually = <A, E, R>(check: Effect.Effect<Option.Option<A>, E, R>, what: string, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const until = Date.now() + timeoutMs
    for (;;) {
      const result = yield* check
      if (Option.isSome(result)) return result.value
      if (Date.now() > until) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep(25)
    }
  })

const lineOf = (id: Ids.MachineId, prefix: string) =>
  Effect.gen(function*() {
    const p = yield* LocalProvisioner.LocalProvisioner
    return yield* eventually(
      Effect.map(p.logs(id), (lines) => Option.fromNullishOr(lines.find((l) => l.text.startsWith(prefix))?.text)),
      `a line starting with ${JSON.stringify(prefix)}`
    )
  })

const running = (pid: number) =>
  Processes.startTime(pid).pipe(Effect.map(Option.isSome), Effect.orDie, Effect.provide(NodeFileSystem.layer))

MachineProvisionerSuite.run("local processes", LocalProvisioner.layer(base), { timeout: 60_000 })

layer(withLogs(LocalProvisioner.layer(base)), { excludeTestServices: true, timeout: 60_000 })(
  "LocalProvisioner",
  (it) => {
    it.effect("a machine gets only its environment, with HOME, TMPDIR and its working directory in its own directory", () =>
      Effect.gen(function*() {
        process.env.PORTER_HOST_CANARY = "must-not-leak"
        const p = yield* LocalProvisioner.LocalProvisioner
        const taskId = yield* Ids.makeTaskId
        const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "env", PLAIN: "plain value" }))
        const details = yield* p.details(machine.id)
        const seen = JSON.parse((yield* lineOf(machine.id, "ENV ")).slice(4)) as {
          env: Record<string, string>
          cwd: string
        }
        assert.deepStrictEqual(Object.keys(seen.env).sort(), [
          "CALLBACK_TOKEN",
          "HOME",
          "MACHINE_MODE",
          "PATH",
          "PLAIN",
          "TASK_ID",
          "TMPDIR"
        ])
        assert.strictEqual(seen.env.CALLBACK_TOKEN, SECRET)
        assert.strictEqual(seen.env.PLAIN, "plain value")
        assert.strictEqual(seen.env.PATH, ProcessMachine.defaultPath())
        assert.strictEqual(seen.env.HOME, join(details.dir, "home"))
        assert.strictEqual(seen.env.TMPDIR, join(details.dir, "tmp"))
        assert.strictEqual(seen.cwd, join(details.dir, "work"))
        assert.isTrue(details.dir.startsWith(`${tmpRoot}/porter-machine-`))

        yield* p.destroy(machine.id)
        assert.isFalse(existsSync(details.dir), "the machine's directory is removed")
        assert.isTrue(logged.some((line) => line.includes(machine.id)), "the provisioner logs its machines")
        assert.isFalse(logged.some((line) => line.includes(SECRET)), "no secret in any log line")
        delete process.env.PORTER_HOST_CANARY
      }))

    it.effect("files a machine writes stay in its directory and go with it", () =>
      Effect.gen(function*() {
        const p = yield* LocalProvisioner.LocalProvisioner
        const machine = yield* p.create(specOf(yield* Ids.makeTaskId, { MACHINE_MODE: "files" }))
        yield* lineOf(machine.id, "FILES")
        const { dir } = yield* p.details(machine.id)
        for (const file of ["home/home-file", "tmp/tmp-file", "work/work-file"]) {
          assert.isTrue(existsSync(join(dir, file)), file)
        }
        yield* p.destroy(machine.id)
        assert.isFalse(existsSync(dir))
      }))

    it.effect("runs in its own process group: destroy also kills what it started, even what ignores SIGTERM", () =>
      Effect.gen(function*() {
        const p = yield* LocalProvisioner.LocalProvisioner
        const machine = yield* p.create(specOf(yield* Ids.makeTaskId, { MACHINE_MODE: "spawn" }))
        const { pid } = yield* p.details(machine.id)
        const child = Number((yield* lineOf(machine.id, "CHILD ")).slice(6))
        assert.isTrue(yield* running(child), "the grandchild runs")
        yield* p.destroy(machine.id)
        assert.isFalse(yield* running(pid), "the machine's process is gone")
        assert.isFalse(yield* running(child), "the grandchild is gone")
        assert.strictEqual((yield* p.get(machine.id)).state, "destroyed")
      }))

    it.effect("what a machine leaves running when its process ends is killed with it", () =>
      Effect.gen(function*() {
        const p = yield* LocalProvisioner.LocalProvisioner
        const machine = yield* p.create(specOf(yield* Ids.makeTaskId, { MACHINE_MODE: "leave" }))
        const exit = yield* p.wait(machine.id)
        assert.deepStrictEqual([exit.code, exit.reason], [0, "exited"])
        const child = Number((yield* p.logs(machine.id)).find((l) => l.text.startsWith("CHILD "))!.text.slice(6))
        assert.isFalse(yield* running(child), "the grandchild is gone")
      }))

    it.effect("a process that ignores SIGTERM is killed after the grace period", () =>
      Effect.gen(function*() {
        const p = yield* LocalProvisioner.LocalProvisioner
        const machine = yield* p.create(specOf(yield* Ids.makeTaskId, { MACHINE_MODE: "stubborn" }))
        yield* lineOf(machine.id, "ready")
        const started = Date.now()
        yield* p.destroy(machine.id)
        assert.isAtLeast(Date.now() - started, GRACE_MS - 50)
        const exit = yield* p.wait(machine.id)
        assert.strictEqual(exit.signal, "SIGKILL")
        assert.strictEqual(exit.reason, "stopped")
        assert.isTrue((yield* p.logs(machine.id)).some((l) => l.text === "ignoring SIGTERM"), "it got SIGTERM first")
      }))

    it.effect("a machine whose process ends is destroyed; its exit and output stay visible for a while", () =>
      Effect.gen(function*() {
        const p = yield* LocalProvisioner.LocalProvisioner
        const taskId = yield* Ids.makeTaskId
        const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "exit", MACHINE_EXIT_CODE: "3" }))
        const exit = yield* p.wait(machine.id)
        assert.deepStrictEqual([exit.code, exit.signal, exit.reason], [3, null, "exited"])
        assert.strictEqual((yield* p.get(machine.id)).state, "destroyed")
        assert.isTrue(Option.isNone(yield* p.findByTask(taskId)))
        assert.isFalse((yield* p.list()).some((m) => m.id === machine.id))
        assert.deepStrictEqual((yield* p.logs(machine.id)).map((l) => l.text), ["bye"])
        assert.isFalse(existsSync((yield* p.details(machine.id)).dir))
      }))

    it.effect("the deadline stops a machine", () =>
      Effect.gen(function*() {
        const p = yield* LocalProvisioner.LocalProvisioner
        const deadlineAt = Date.now() + 800
        const machine = yield* p.create(specOf(yield* Ids.makeTaskId, {}, { deadlineAt }))
        assert.strictEqual(machine.state, "started")
        const exit = yield* p.wait(machine.id)
        assert.strictEqual(exit.reason, "deadline")
        assert.isAtLeast(exit.at, deadlineAt)
        assert.strictEqual((yield* p.get(machine.id)).state, "destroyed")
      }))

    it.effect("a command that cannot start is a ProvisionError that names it, and leaves nothing behind", () =>
      Effect.gen(function*() {
        const before = readdirSync(tmpRoot).length
        const error = yield* LocalProvisioner.make({ ...base, command: ["/nonexistent/porter-runner", "--flag"] }).pipe(
          Effect.flatMap((p) => p.create(specOf(Ids.TaskId.make("task_0000000000aaaaaaaaaaaaaaaa")))),
          Effect.flip,
          Effect.scoped,
          Effect.provide(NodeFileSystem.layer)
        )
        assert.strictEqual(error._tag, "ProvisionError")
        assert.strictEqual(error.reason, "bad_config")
        assert.include(error.message, "/nonexistent/porter-runner")
        assert.include(error.message, "PORTER_LOCAL_COMMAND")
        assert.notInclude(error.message, SECRET)
        assert.strictEqual(readdirSync(tmpRoot).length, before)
      }))
  }
)

describe("LocalProvisioner output", () => {
  it.live("is streamed as it comes and kept within the buffer's budget", () =>
    Effect.gen(function*() {
      const p = yield* LocalProvisioner.LocalProvisioner
      const taskId = yield* Ids.makeTaskId
      const streamed = yield* p.output.pipe(
        Stream.filter((line) => line.taskId === taskId),
        Stream.takeUntil((line) => line.text.startsWith("line 500 ")),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.sleep(20)
      const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "chatty", MACHINE_LINES: "500" }))
      const lines = yield* Fiber.join(streamed)
      assert.deepStrictEqual(
        lines.map((l) => l.text.split(" ")[1]),
        Array.from({ length: 500 }, (_, i) => String(i + 1))
      )
      assert.isTrue(lines.every((l) => l.machineId === machine.id))
      const kept = yield* p.logs(machine.id)
      assert.strictEqual(kept.at(-1)?.text.split(" ")[1], "500")
      assert.isAtMost(kept.reduce((n, l) => n + l.text.length, 0), 2_000)
      assert.isBelow(kept.length, 500)
      yield* p.destroy(machine.id)
    }).pipe(Effect.provide(LocalProvisioner.layer({ ...base, logMaxBytes: 2_000 }))))
})

describe("LocalProvisioner lifecycle", () => {
  it.live("closing the layer stops its machines and removes their directories", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const p = Context.get(
        yield* Layer.buildWithScope(LocalProvisioner.layer(base), scope),
        LocalProvisioner.LocalProvisioner
      )
      const a = yield* p.details((yield* p.create(specOf(yield* Ids.makeTaskId))).id)
      const b = yield* p.details((yield* p.create(specOf(yield* Ids.makeTaskId, { MACHINE_MODE: "stubborn" }))).id)
      yield* Scope.close(scope, Exit.void)
      for (const machine of [a, b]) {
        assert.isFalse(yield* running(machine.pid))
        assert.isFalse(existsSync(machine.dir))
      }
    }))

  it.live("autoDestroy off: an ended machine is stopped and listed until destroyed", () =>
    Effect.gen(function*() {
      const p = yield* LocalProvisioner.LocalProvisioner
      const taskId = yield* Ids.makeTaskId
      const machine = yield* p.create(specOf(taskId, { MACHINE_MODE: "exit" }))
      yield* p.wait(machine.id)
      assert.strictEqual((yield* p.get(machine.id)).state, "stopped")
      assert.strictEqual(Option.getOrThrow(yield* p.findByTask(taskId)).id, machine.id)
      yield* p.destroy(machine.id)
      assert.isTrue(Option.isNone(yield* p.findByTask(taskId)))
      assert.strictEqual((yield* p.get(machine.id)).state, "destroyed")
    }).pipe(Effect.provide(LocalProvisioner.layer({ ...base, autoDestroy: false }))))
})

describe("LocalProvisioner state directory", () => {
  const build = (options: LocalProvisioner.LocalOptions) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(LocalProvisioner.layer({ ...base, ...options }), scope)
      return { p: Context.get(context, LocalProvisioner.LocalProvisioner), close: Scope.close(scope, Exit.void) }
    })

  it.live("a restarted host lists and destroys the machines its predecessor left running", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(join(tmpdir(), "porter-local-state-"))
      const first = yield* build({ stateDir, keepRunningOnShutdown: true })
      const taskId = yield* Ids.makeTaskId
      const machine = yield* first.p.create(specOf(taskId))
      yield* lineOf(machine.id, "ready").pipe(Effect.provideService(LocalProvisioner.LocalProvisioner, first.p))
      const { dir, pid } = yield* first.p.details(machine.id)
      yield* first.close
      assert.isTrue(yield* running(pid), "the machine outlives its host")

      const second = yield* build({ stateDir })
      const listed = yield* second.p.list()
      assert.deepStrictEqual(listed.map((m) => [m.id, m.taskId, m.state]), [[machine.id, taskId, "started"]])
      assert.strictEqual(Option.getOrThrow(yield* second.p.findByTask(taskId)).id, machine.id)
      const details = yield* second.p.details(machine.id)
      assert.isTrue(details.adopted)
      assert.isTrue((yield* second.p.logs(machine.id)).some((l) => l.text === "ready"), "its output is read again")

      yield* second.p.destroy(machine.id)
      assert.isFalse(yield* running(pid))
      assert.isFalse(existsSync(dir))
      assert.deepStrictEqual(readdirSync(join(stateDir, "machines")), [])
      assert.deepStrictEqual(yield* second.p.list(), [])
      yield* second.close
      rmSync(stateDir, { recursive: true, force: true })
    }))

  it.live("stale records are cleaned up, and a pid now used by another program is never signalled", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(join(tmpdir(), "porter-local-state-"))
      mkdirSync(join(stateDir, "machines"), { recursive: true })
      // Someone else's process, under a pid a record claims with another start time.
      const stranger = spawn("sleep", ["30"], { detached: true, stdio: "ignore" })
      const ended = spawn("true", [], { stdio: "ignore" })
      yield* Effect.promise(() => new Promise((resolve) => ended.once("exit", resolve)))
      const staleDir = join(tmpRoot, "porter-machine-stale")
      mkdirSync(staleDir)
      const record = (id: string, pid: number, startTime: string, dir: string) =>
        writeFileSync(
          join(stateDir, "machines", `${id}.json`),
          JSON.stringify({ id, pid, startTime, dir, createdAt: 1, host: "host_gone", taskId: "task_x" })
        )
      record("local_reused", stranger.pid!, "1", join(tmpRoot, "porter-machine-reused"))
      record("local_ended", ended.pid!, "1", staleDir)
      writeFileSync(join(stateDir, "machines", "garbage.json"), "{not json")

      const host = yield* build({ stateDir })
      assert.deepStrictEqual(yield* host.p.list(), [])
      assert.isTrue(yield* running(stranger.pid!), "the stranger was left alone")
      assert.isFalse(existsSync(staleDir), "the ended machine's directory is removed")
      assert.deepStrictEqual(readdirSync(join(stateDir, "machines")), ["garbage.json"])
      yield* host.close
      stranger.kill("SIGKILL")
      rmSync(stateDir, { recursive: true, force: true })
    }))

  it.live("a state directory that cannot be made is a ProvisionError that names it", () =>
    Effect.gen(function*() {
      const file = join(tmpRoot, "not-a-directory")
      writeFileSync(file, "")
      const exit = yield* Effect.exit(
        Layer.build(LocalProvisioner.layer({ ...base, stateDir: join(file, "state") })).pipe(
          Effect.scoped
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      const shown = String(Exit.isFailure(exit) ? exit.cause : "")
      assert.include(shown, "ProvisionError")
      assert.include(shown, join(file, "state"))
      assert.include(shown, "PORTER_LOCAL_STATE_DIR")
      rmSync(file)
    }))

  it.live("machines of a host that still runs are left to it", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(join(tmpdir(), "porter-local-state-"))
      const first = yield* build({ stateDir })
      const machine = yield* first.p.create(specOf(yield* Ids.makeTaskId))
      const { pid } = yield* first.p.details(machine.id)
      const second = yield* build({ stateDir })
      assert.deepStrictEqual(yield* second.p.list(), [])
      yield* second.p.destroy(machine.id)
      assert.isTrue(yield* running(pid))
      yield* second.close
      yield* first.close
      assert.isFalse(yield* running(pid), "its own host stopped it on shutdown")
      rmSync(stateDir, { recursive: true, force: true })
    }))
})

describe("LocalProvisioner configuration", () => {
  it("parses commands as JSON arrays or words", () => {
    assert.deepStrictEqual(LocalProvisioner.parseCommand(`["node", "a b.mjs"]`), Option.some(["node", "a b.mjs"]))
    assert.deepStrictEqual(LocalProvisioner.parseCommand(" node  runner.mjs "), Option.some(["node", "runner.mjs"]))
    assert.isTrue(Option.isNone(LocalProvisioner.parseCommand("[1, 2]")))
    assert.isTrue(Option.isNone(LocalProvisioner.parseCommand("  ")))
  })

  it.live("layerConfig reads PORTER_LOCAL_*", () =>
    Effect.gen(function*() {
      const p = yield* LocalProvisioner.LocalProvisioner
      const machine = yield* p.create(specOf(yield* Ids.makeTaskId))
      assert.isTrue((yield* p.details(machine.id)).dir.startsWith(`${tmpRoot}/`))
      yield* p.destroy(machine.id)
    }).pipe(
      Effect.provide(LocalProvisioner.layerConfig.pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
          env: {
            PORTER_LOCAL_COMMAND: JSON.stringify(command),
            PORTER_LOCAL_TMPDIR: tmpRoot,
            PORTER_LOCAL_GRACE_MS: "500"
          }
        })))
      ))
    ))

  it.live("a malformed PORTER_LOCAL_COMMAND is a configuration error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(LocalProvisioner.layerConfig.pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { PORTER_LOCAL_COMMAND: "[1]" } })))
        )).pipe(Effect.scoped)
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "PORTER_LOCAL_COMMAND")
    }))
})
