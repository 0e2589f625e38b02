/**
 * The runner's program, loaded by `main.ts` once `Boot` has started the clone: run the task described by the
 * environment, or be the `script` agent. Its top level runs it.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Exit, Layer, Option, Result, Runtime } from "effect"
import { FetchHttpClient } from "effect/http"
import { readFileSync, rmSync } from "node:fs"
import { earlyClone, environment } from "./Boot.ts"
import * as Callbacks from "./Callbacks.ts"
import { ExitCode } from "./ExitCode.ts"
import * as MachineEnv from "./MachineEnv.ts"
import * as Runner from "./Runner.ts"
import { runScript } from "./ScriptAgent.ts"
import * as Scrubber from "./Scrubber.ts"

/** Exits with the program's exit code; failures (bugs) get the default reporting and code. */
const teardown: Runtime.Teardown = (exit, _onExit) => {
  if (Exit.isSuccess(exit) && typeof exit.value === "number") process.exit(exit.value)
  Runtime.defaultTeardown(exit, (code) => process.exit(code))
}

/** Bad environment: say what is wrong on stderr, and tell Porter if a callback is possible. */
const refuse = (env: Record<string, string | undefined>, error: MachineEnv.BadEnvironment) =>
  Effect.gen(function*() {
    process.stderr.write(`porter-runner: ${error.message}\n`)
    const early = earlyClone
    if (early?.temporary) {
      // Never rejects: Boot settles it with `resolve` on the clone's `error` and `close` alike.
      yield* Effect.promise(() => early.done)
      rmSync(early.workdir, { recursive: true, force: true })
    }
    const target = MachineEnv.callbackTarget(env)
    if (Option.isNone(target)) {
      process.stderr.write("porter-runner: no usable TASK_ID/CALLBACK_URL/CALLBACK_TOKEN: Porter cannot be told\n")
      return ExitCode.BadEnvironment
    }
    const callbacks = yield* Callbacks.make({ url: target.value.url, token: target.value.token })
    const sent = yield* callbacks.send({
      type: "completed",
      outcome: "error",
      error: error.message.slice(0, 2_000),
      logTail: error.message.slice(0, 20_000)
    }).pipe(Effect.result)
    if (Result.isFailure(sent)) process.stderr.write(`porter-runner: completed callback: ${sent.failure.message}\n`)
    return ExitCode.BadEnvironment
  }).pipe(
    Effect.provide(Layer.mergeAll(FetchHttpClient.layer, Scrubber.layer(MachineEnv.secretValues(env))))
  )

const runTask = Effect.suspend(() => {
  const env = { ...environment }
  const decoded = MachineEnv.decode(env)
  if (Result.isFailure(decoded)) return refuse(env, decoded.failure)
  const self: Runner.SelfCommand = {
    command: process.execPath,
    args: [...process.execArgv, process.argv[1] ?? "", "script-agent"]
  }
  return Runner.run.pipe(
    Effect.provide(Runner.layer(decoded.success, self)),
    Effect.provideService(Runner.EarlyCloneRef, earlyClone)
  )
})

const scriptAgent = Effect.gen(function*() {
  const prompt = readFileSync(0, "utf8")
  return yield* runScript({
    prompt,
    cwd: process.cwd(),
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`)
  })
}).pipe(Effect.provide(NodeServices.layer))

const program = process.argv[2] === "script-agent" ? scriptAgent : runTask

program.pipe(NodeRuntime.runMain({ teardown }))
