/**
 * The runner's entry point: `node --conditions=@porter/source packages/runner/src/main.ts` from
 * the sources, or `node dist/runner.mjs` from the bundle. The exit code says how the run ended
 * (see `ExitCode.ts`).
 *
 *   main.ts                 run the task described by the environment
 *   main.ts script-agent    be the deterministic `script` agent (prompt on stdin, cwd = the clone)
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Exit, Layer, Option, Result, Runtime } from "effect"
import { FetchHttpClient } from "effect/http"
import { readFileSync, rmSync } from "node:fs"
import * as Callbacks from "./Callbacks.ts"
import { ExitCode } from "./ExitCode.ts"
import * as MachineEnv from "./MachineEnv.ts"
import * as Runner from "./Runner.ts"
import { runScript } from "./ScriptAgent.ts"
import * as Scrubber from "./Scrubber.ts"

/**
 * The environment: `process.env`, plus the NUL-separated `env -0` dump named by `PORTER_ENV_FILE`
 * (the image's entrypoint moves secrets there so they are not in the runner's `/proc/<pid>/environ`,
 * which an agent running as the same user could read). The file is deleted once read.
 */
const readEnvironment = (): Record<string, string | undefined> => {
  const file = process.env["PORTER_ENV_FILE"]
  if (file === undefined || file === "") return { ...process.env }
  const fromFile: Record<string, string> = {}
  try {
    for (const entry of readFileSync(file, "utf8").split("\0")) {
      const eq = entry.indexOf("=")
      if (eq > 0) fromFile[entry.slice(0, eq)] = entry.slice(eq + 1)
    }
  } finally {
    rmSync(file, { force: true })
  }
  const env: Record<string, string | undefined> = { ...fromFile, ...process.env }
  delete env["PORTER_ENV_FILE"]
  return env
}

/** Exits with the program's exit code; failures (bugs) get the default reporting and code. */
const teardown: Runtime.Teardown = (exit, _onExit) => {
  if (Exit.isSuccess(exit) && typeof exit.value === "number") process.exit(exit.value)
  Runtime.defaultTeardown(exit, (code) => process.exit(code))
}

/** Bad environment: say what is wrong on stderr, and tell Porter if a callback is possible. */
const refuse = (env: Record<string, string | undefined>, error: MachineEnv.BadEnvironment) =>
  Effect.gen(function*() {
    process.stderr.write(`porter-runner: ${error.message}\n`)
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
  const env = readEnvironment()
  const decoded = MachineEnv.decode(env)
  if (Result.isFailure(decoded)) return refuse(env, decoded.failure)
  const self: Runner.SelfCommand = {
    command: process.execPath,
    args: [...process.execArgv, process.argv[1] ?? "", "script-agent"]
  }
  return Runner.run.pipe(Effect.provide(Runner.layer(decoded.success, self)))
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
