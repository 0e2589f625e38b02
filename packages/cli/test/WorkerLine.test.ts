// `porter dev` shows the Worker's warnings and errors: the lines its JSON logger writes, in every shape it writes them.
import { assert, describe, it } from "@effect/vitest"
import { Dev } from "@porter/cli"
import { Effect, Logger } from "effect"

/** The line effect's JSON logger (the Worker's `Logger.consoleJson`) writes for `log`. */
const lineOf = (log: Effect.Effect<void>) => {
  const lines: Array<string> = []
  const capture = Logger.map(Logger.formatJson, (line) => lines.push(line))
  Effect.runSync(log.pipe(Effect.provide(Logger.layer([capture]))))
  return lines[0]!
}

describe("porter dev: Worker log lines", () => {
  it("shows warnings and errors, with their fields and annotations; skips the rest", () => {
    const warning = lineOf(
      Effect.logWarning("report failed: reply", { taskId: "task_1", error: "HTTP 502" }).pipe(
        Effect.annotateLogs({ cron: "* * * * *" })
      )
    )
    assert.strictEqual(
      Dev.workerLine("log", warning),
      "worker warning: report failed: reply taskId=task_1 error=HTTP 502 cron=* * * * *"
    )
    assert.strictEqual(Dev.workerLine("log", lineOf(Effect.logError("storage failed"))), "worker error: storage failed")
    assert.isUndefined(Dev.workerLine("log", lineOf(Effect.logInfo("sweep", { checked: 1 }))))
    // workerd's own lines are plain text, with the console's level.
    assert.strictEqual(
      Dev.workerLine("error", "Uncaught TypeError: x is not a function"),
      "worker error: Uncaught TypeError: x is not a function"
    )
    assert.isUndefined(Dev.workerLine("log", "plain info"))
  })
})
