/**
 * Porter's MCP tools, as `effect/ai` tools: their names, what they take (Schema: published to clients as JSON Schema,
 * and checked on every call — a bad argument is answered with a tool error naming it) and what they answer.
 *
 * | tool             | needs              | does                                                                  |
 * |------------------|--------------------|-----------------------------------------------------------------------|
 * | `list_tasks`     | read               | tasks of the repositories the caller can read, newest first, filtered |
 * | `get_task`       | read               | one task (by id, or an issue's latest) and its audit trail; can wait  |
 * | `start_task`     | write              | posts `@porter …` on the issue as the caller (the issue stays the record) |
 * | `cancel_task`    | write              | `TaskLifecycle.cancelTask`                                            |
 * | `retry_task`     | write              | `Dispatcher.retry` of an ended task, as the caller                    |
 * | `continue_task`  | write              | posts `@porter continue …` on the task's issue or PR as the caller    |
 * | `get_transcript` | read               | the kept transcript, the run's last lines and the agent's summary |
 */
import { AdminApi, Task } from "@porter/core"
import { Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { Caller, ToolFailure } from "./Caller.ts"

/** A task as the tools show it: the API's view, who asked, and the issue's address on GitHub. */
export const TaskSummary = Schema.Struct({
  ...AdminApi.TaskView.fields,
  requestedBy: Schema.String,
  issueUrl: Schema.String
})
export type TaskSummary = typeof TaskSummary.Type

/** One line of a task's audit trail (time as an ISO string). */
export const EventView = Schema.Struct({
  at: Schema.String,
  kind: Schema.String,
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  detail: Schema.optional(Schema.String)
})

const TaskIdParam = Schema.String.annotate({ description: "The task's id (as list_tasks or start_task gave it)." })
const Repository = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, { expected: "owner/name" }))
).annotate({ description: "The repository, as owner/name." })
const IssueNumber = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0))).annotate({
  description: "The issue or pull request number."
})

/** Which task: by id, or the latest task of an issue. */
export const TaskRef = {
  task_id: Schema.optional(TaskIdParam),
  repository: Schema.optional(Repository.annotate({ description: "With `issue`: the latest task of that issue." })),
  issue: Schema.optional(IssueNumber.annotate({ description: "With `repository`: the latest task of that issue." }))
}

/** The `list_tasks` tool: the tasks the caller may read, newest first, filtered. */
export const ListTasks = Tool.make("list_tasks", {
  description: "List Porter tasks of the repositories you can read, newest first. Filter by repository and state; " +
    "page with `before` (the `next` of the previous answer).",
  parameters: Schema.Struct({
    repository: Schema.optional(Repository),
    state: Schema.optional(Task.TaskState),
    limit: Schema.optional(
      Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 100 }))).annotate({
        description: "How many tasks (1 to 100; default 20)."
      })
    ),
    before: Schema.optional(Schema.String.annotate({ description: "List tasks older than this task id." }))
  }),
  success: Schema.Struct({ tasks: Schema.Array(TaskSummary), next: Schema.optional(Schema.String) }),
  failure: ToolFailure,
  dependencies: [Caller]
}).annotate(Tool.Readonly, true).annotate(Tool.Destructive, false)

/** The `get_task` tool: one task and its audit trail, optionally waiting for it to end. */
export const GetTask = Tool.make("get_task", {
  description: "One Porter task (by `task_id`, or the latest of `repository` + `issue`): its state, agent, pull " +
    "request, summary, usage and cost, and its audit trail. `wait_seconds` waits for it to end.",
  parameters: Schema.Struct({
    ...TaskRef,
    wait_seconds: Schema.optional(
      Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 50 }))).annotate({
        description: "Wait up to this many seconds (at most 50) for the task to end before answering."
      })
    )
  }),
  success: Schema.Struct({ task: TaskSummary, events: Schema.Array(EventView) }),
  failure: ToolFailure,
  dependencies: [Caller]
}).annotate(Tool.Readonly, true).annotate(Tool.Destructive, false)

/** The `start_task` tool: posts `@porter …` on an issue as the caller and returns the task it starts. */
export const StartTask = Tool.make("start_task", {
  description: "Start a Porter task on an issue or pull request: posts the command (`@porter <agent> …`) on it as " +
    "you, so the issue stays the record, then waits briefly for Porter to take it. Needs write access.",
  parameters: Schema.Struct({
    repository: Repository,
    issue: IssueNumber,
    instructions: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(60_000))).annotate({
      description: "What the agent should do."
    }),
    agent: Schema.optional(
      Schema.String.annotate({
        description: "The agent (claude, codex, gemini, opencode, …); default: the repository's."
      })
    ),
    model: Schema.optional(Schema.String.annotate({ description: "The model id to ask the agent for." })),
    timeout: Schema.optional(
      Schema.String.annotate({ description: "How long the task may run: 90s, 20m, 2h, 1h30m." })
    ),
    budget_usd: Schema.optional(
      Schema.Finite.pipe(Schema.check(Schema.isGreaterThan(0))).annotate({
        description: "What the task's model calls may cost, in US dollars."
      })
    )
  }),
  success: Schema.Struct({
    commentUrl: Schema.String,
    command: Schema.String,
    task: Schema.optional(TaskSummary),
    message: Schema.String
  }),
  failure: ToolFailure,
  dependencies: [Caller]
}).annotate(Tool.Destructive, false).annotate(Tool.OpenWorld, true)

/** The `cancel_task` tool: cancels an active task. */
export const CancelTask = Tool.make("cancel_task", {
  description: "Cancel an active Porter task (its machine is destroyed). Needs write access.",
  parameters: Schema.Struct({ task_id: TaskIdParam }),
  success: Schema.Struct({ cancelled: Schema.Boolean, task: TaskSummary, message: Schema.String }),
  failure: ToolFailure,
  dependencies: [Caller]
}).annotate(Tool.Destructive, true).annotate(Tool.Idempotent, true)

/** The `retry_task` tool: runs an ended task again as a new task. */
export const RetryTask = Tool.make("retry_task", {
  description: "Run an ended Porter task again as a new task on the same issue (same agent, model, timeout and " +
    "instructions; your keys apply). Needs write access.",
  parameters: Schema.Struct({ task_id: TaskIdParam }),
  success: Schema.Struct({ task: TaskSummary, message: Schema.String }),
  failure: ToolFailure,
  dependencies: [Caller]
}).annotate(Tool.Destructive, false)

/** The `continue_task` tool: continues an ended task on its branch (`@porter continue`, posted as the caller). */
export const ContinueTask = Tool.make("continue_task", {
  description: "Continue an ended Porter task on its branch: posts `@porter continue [instructions]` on the task's " +
    "issue or pull request as you, then waits briefly for Porter to take it. The agent resumes its kept session " +
    "where its CLI can (Claude Code, Codex, OpenCode), else starts afresh with the earlier summary and diff. Needs " +
    "write access.",
  parameters: Schema.Struct({
    task_id: TaskIdParam,
    instructions: Schema.optional(
      Schema.String.pipe(Schema.check(Schema.isMaxLength(60_000))).annotate({
        description: "What more to do; default: finish the task."
      })
    )
  }),
  success: Schema.Struct({
    commentUrl: Schema.String,
    task: Schema.optional(TaskSummary),
    message: Schema.String
  }),
  failure: ToolFailure,
  dependencies: [Caller]
}).annotate(Tool.Destructive, false).annotate(Tool.OpenWorld, true)

/** The `get_transcript` tool: a task's kept transcript, summary and last lines of output. */
export const GetTranscript = Tool.make("get_transcript", {
  description: "What a Porter task's run said: its transcript as Porter keeps it (the agent's messages, tool calls " +
    "and results, secrets redacted; its last 100,000 characters), the agent's summary and the last lines of its " +
    "output, by `task_id` or the latest of `repository` + `issue`.",
  parameters: Schema.Struct(TaskRef),
  success: Schema.Struct({
    taskId: Schema.String,
    state: Task.TaskState,
    summary: Schema.optional(Schema.String),
    reason: Schema.optional(Schema.String),
    logTail: Schema.optional(Schema.String),
    prUrl: Schema.optional(Schema.String),
    /** The kept transcript (Markdown), its end when long; absent when none is kept. */
    transcript: Schema.optional(Schema.String),
    transcriptUrl: Schema.optional(Schema.String),
    note: Schema.String
  }),
  failure: ToolFailure,
  dependencies: [Caller]
}).annotate(Tool.Readonly, true).annotate(Tool.Destructive, false)

/** Every Porter MCP tool, as one toolkit. */
export const PorterTools = Toolkit.make(
  ListTasks,
  GetTask,
  StartTask,
  CancelTask,
  RetryTask,
  ContinueTask,
  GetTranscript
)
