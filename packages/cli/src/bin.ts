#!/usr/bin/env -S node --
/**
 * The `porter` executable. From a clone: `node --conditions=@porter/source -- packages/cli/src/bin.ts <command>`
 * (or `npm run porter -- <command>`); installed: `porter <command>`. The `--` before the script matters for
 * `porter doctor --env-file F`: without it Node takes `--env-file` for its own option (nodejs/node#54232).
 *
 * Runs like `NodeRuntime.runMain`, with its own signal handling: SIGINT, SIGTERM and SIGHUP interrupt the
 * command, which then closes everything it started (workerd, machines, the emulator) before the process exits —
 * `porter dev` with 0 (that is how it ends), other commands with 130. A second signal exits at once.
 */
import * as Effect from "effect/Effect"
import * as Cli from "./Cli.ts"

const argv = process.argv.slice(2)
const fiber = Effect.runFork(Cli.run(argv))
// Nothing else may keep the process alive while the command waits (`porter dev` waits for a signal).
const keepAlive = setInterval(() => {}, 2_147_483_647)

let signals = 0
const onSignal = () => {
  signals += 1
  if (signals > 1) process.exit(130)
  fiber.interruptUnsafe(fiber.id)
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal)

fiber.addObserver((exit) => {
  clearInterval(keepAlive)
  process.exit(Cli.exitCode(exit, argv[0] === "dev" ? 0 : 130))
})
