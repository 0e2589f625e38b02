/**
 * A tiny stand-in for the Porter runner, for tests of the machines server and of provisioners: what it does is
 * chosen by the machine's `FAKE_MACHINE` variable.
 * - `sleep` (default): runs until SIGTERM, then exits 0.
 * - `exit:<code>`: exits at once with `<code>`.
 * - `ignore-term`: ignores SIGTERM (only SIGKILL ends it).
 * - `env`: prints its environment as JSON on one line, then sleeps.
 * - `grandchild`: starts a `sleep` grandchild (printing `grandchild <pid>`), then sleeps.
 * Run it with `fakeMachineCommand()` (`MachinesServer` option `command`).
 */
import { spawn } from "node:child_process"

const mode = process.env["FAKE_MACHINE"] ?? "sleep"
const machineId = process.env["FLY_MACHINE_ID"] ?? "?"
const exits = mode.startsWith("exit:")
// The signal handler goes in before the first line: tests send their signal once they read that line, and a
// loaded machine may run them between the write and the next statement.
if (mode === "ignore-term") {
  process.on("SIGTERM", () => process.stdout.write("ignoring SIGTERM\n"))
} else if (!exits) {
  process.on("SIGTERM", () => {
    process.stdout.write("got SIGTERM\n")
    process.exit(0)
  })
}
process.stdout.write(`fake machine ${machineId} task=${process.env["TASK_ID"] ?? "?"} mode=${mode}\n`)
process.stderr.write("fake machine stderr line\n")

const idle = () => setInterval(() => {}, 60_000)

if (exits) {
  process.exitCode = Number(mode.slice("exit:".length))
} else {
  if (mode === "env") process.stdout.write(`${JSON.stringify(process.env)}\n`)
  if (mode === "grandchild") {
    const child = spawn("sleep", ["600"], { stdio: "ignore" })
    process.stdout.write(`grandchild ${child.pid}\n`)
  }
  idle()
}
