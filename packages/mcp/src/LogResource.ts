/**
 * Task logs as MCP resources: `porter://tasks/{taskId}/log` reads a task's log as plain text — its state, the agent's
 * summary and the last lines of the run's output (secrets scrubbed by the runner) — for a task the caller can read
 * (any other id reads as not found). Porter keeps no full transcript yet: the log is what the task records.
 */
import { Ids, type Task, TaskStore } from "@porter/core"
import { Access } from "@porter/web"
import { Effect, Layer, Option, Schema } from "effect"
import { McpSchema, McpServer } from "effect/ai"
import { Caller, ToolFailure, viewerOf } from "./Caller.ts"

const decodeTaskId = Schema.decodeUnknownOption(Ids.TaskId)

/** The text of a task's log resource. */
export const logText = (task: Task.Task): string =>
  [
    `Task ${task.id} (${task.agent}) on ${task.repo.fullName}#${task.issueNumber}: ${task.state}`,
    ...(task.prUrl !== undefined ? [`Pull request: ${task.prUrl}`] : []),
    ...(task.reason !== undefined ? [`Reason: ${task.reason}`] : []),
    ...(task.summary !== undefined ? ["", "Summary:", task.summary] : []),
    "",
    task.logTail !== undefined ? "Last lines of the run's output:" : "No output recorded yet.",
    ...(task.logTail !== undefined ? [task.logTail] : [])
  ].join("\n")

/** The `porter://tasks/{taskId}/log` resource: a task's state, summary and last lines of output. */
export const layer = Layer.unwrap(Effect.gen(function*() {
  const access = yield* Access.Access
  const store = yield* TaskStore.TaskStore
  return McpServer.resource`porter://tasks/${McpSchema.param("taskId", Schema.String)}/log`({
    name: "Task log",
    description: "A Porter task's state, summary and the last lines of its run's output (plain text).",
    mimeType: "text/plain",
    content: (_uri, taskId) =>
      Effect.gen(function*() {
        const viewer = yield* viewerOf(access, yield* Caller)
        const id = decodeTaskId(taskId)
        const task = Option.isSome(id)
          ? yield* Effect.mapError(store.find(id.value), () =>
            new ToolFailure({ message: "Porter's storage did not answer: try again in a moment." }))
          : Option.none<Task.Task>()
        if (Option.isNone(task) || !Access.canRead(viewer, task.value.repo.fullName)) {
          return yield* new ToolFailure({ message: `There is no task ${taskId} that you can see.` })
        }
        return logText(task.value)
      })
  })
}))
