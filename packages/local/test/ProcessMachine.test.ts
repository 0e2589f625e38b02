// ProcessMachine on its own, as another supervisor (e.g. a machines server) would use it.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { type LogBuffer, Processes, ProcessMachine } from "@porter/local"
import { Effect, Option, Redacted } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("./fixtures/machine.mjs", import.meta.url))
const root = mkdtempSync(join(tmpdir(), "porter-process-machine-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const running = (pid: number) => Effect.map(Effect.orDie(Processes.startTime(pid)), Option.isSome)

describe("ProcessMachine", () => {
  it.live("runs a command with exactly its environment, streams its lines, and stops it with the signal asked for", () =>
    Effect.gen(function*() {
      const lines: Array<LogBuffer.OutputLine> = []
      const machine = yield* ProcessMachine.start({
        command: [process.execPath, fixture],
        env: { MACHINE_MODE: "env", FLY_MACHINE_ID: "m1" },
        secretEnv: { TOKEN: Redacted.make("t0ken") },
        root,
        graceMs: 2_000,
        pollMs: 20,
        onLine: (line) => Effect.sync(() => lines.push(line))
      })
      assert.isTrue(machine.sandbox.dir.startsWith(`${root}/porter-machine-`))
      assert.isFalse(machine.adopted)
      while (!lines.some((l) => l.text.startsWith("ENV "))) yield* Effect.sleep(20)
      const seen = JSON.parse(lines.find((l) => l.text.startsWith("ENV "))!.text.slice(4)) as {
        env: Record<string, string>
      }
      assert.deepStrictEqual(seen.env, {
        MACHINE_MODE: "env",
        FLY_MACHINE_ID: "m1",
        TOKEN: "t0ken",
        PATH: ProcessMachine.defaultPath(),
        HOME: machine.sandbox.home,
        TMPDIR: machine.sandbox.tmp
      })
      assert.deepStrictEqual((yield* machine.status)._tag, "Running")
      // Node's default action for SIGINT ends it: the exit names the signal.
      const exit = yield* machine.stop({ signal: "SIGINT" })
      assert.deepStrictEqual([exit.code, exit.signal, exit.reason], [null, "SIGINT", "stopped"])
      assert.deepStrictEqual(yield* machine.status, { _tag: "Exited", exit })
      assert.isFalse(existsSync(machine.sandbox.dir))
      assert.deepStrictEqual((yield* machine.logs).map((l) => l.text), lines.map((l) => l.text))
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)))

  it.live("closing its scope stops it; keepRunningOnClose leaves it running", () =>
    Effect.gen(function*() {
      const stopped = yield* Effect.scoped(
        ProcessMachine.start({ command: [process.execPath, fixture], env: {}, root })
      )
      assert.isFalse(yield* running(stopped.pid))
      assert.strictEqual((yield* stopped.exited).reason, "shutdown")

      const kept = yield* Effect.scoped(
        ProcessMachine.start({ command: [process.execPath, fixture], env: {}, root, keepRunningOnClose: true })
      )
      assert.isTrue(yield* running(kept.pid))
      assert.strictEqual((yield* kept.status)._tag, "Running")
      // A later supervisor takes it over by pid and start time, and stops it.
      const adopted = Option.getOrThrow(
        yield* ProcessMachine.adopt({
          pid: kept.pid,
          startTime: kept.startTime,
          dir: kept.sandbox.dir,
          graceMs: 1_000
        })
      )
      assert.isTrue(adopted.adopted)
      const exit = yield* adopted.stop()
      assert.strictEqual(exit.reason, "stopped")
      assert.isFalse(yield* running(kept.pid))
      assert.isFalse(existsSync(kept.sandbox.dir))
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)))

  it.live("removing a directory that is gone already is fine", () =>
    ProcessMachine.removeSandbox(join(root, "porter-machine-never-made")).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("never adopts a process whose start time differs", () =>
    Effect.gen(function*() {
      const adopted = yield* ProcessMachine.adopt({
        pid: process.pid,
        startTime: "not-it",
        dir: join(root, "porter-machine-x")
      })
      assert.isTrue(Option.isNone(adopted))
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)))
})
