/**
 * What the HTTP app answers about tasks and secrets (`GET /tasks/:id`, `/admin/*`), as schemas: core builds these
 * answers, clients (the `porter` CLI, users' scripts) decode them with the same definitions.
 */
import { Schema } from "effect"
import { Outcome, type Task, TaskState, Usage } from "./Task.ts"
import { TaskEvent } from "./TaskStore.ts"

/** A task as the API shows it: no log tail, no secrets; times as ISO strings. */
export const TaskView = Schema.Struct({
  id: Schema.String,
  state: TaskState,
  repo: Schema.String,
  issueNumber: Schema.Number,
  agent: Schema.String,
  model: Schema.optional(Schema.String),
  /** Who asked (login), and who approved an outsider's request. */
  requestedBy: Schema.optional(Schema.String),
  approvedBy: Schema.optional(Schema.String),
  /** `ask` for a question (read-only); absent for a change. */
  mode: Schema.optional(Schema.Literals(["change", "ask", "fix_ci"])),
  createdAt: Schema.String,
  updatedAt: Schema.String,
  deadlineAt: Schema.String,
  machineId: Schema.optional(Schema.String),
  outcome: Schema.optional(Outcome),
  branch: Schema.optional(Schema.String),
  commitSha: Schema.optional(Schema.String),
  prUrl: Schema.optional(Schema.String),
  summary: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
  usage: Schema.optional(Usage),
  /** `@porter continue`: the task this one continues, and how (`session`: the agent resumed it; `summary`: afresh). */
  continuesFrom: Schema.optional(Schema.String),
  resumed: Schema.optional(Schema.Literals(["session", "summary"])),
  /** Where the run's scrubbed transcript can be read. */
  transcriptUrl: Schema.optional(Schema.String)
})
export type TaskView = typeof TaskView.Type

const iso = (ms: number) => new Date(ms).toISOString()

/** The view of a task. */
export const toView = (task: Task): TaskView => ({
  id: task.id,
  state: task.state,
  repo: task.repo.fullName,
  issueNumber: task.issueNumber,
  agent: task.agent,
  requestedBy: task.requestedBy.login,
  ...(task.approvedBy !== undefined ? { approvedBy: task.approvedBy } : {}),
  ...(task.mode !== undefined ? { mode: task.mode } : {}),
  createdAt: iso(task.createdAt),
  updatedAt: iso(task.updatedAt),
  deadlineAt: iso(task.deadlineAt),
  ...(task.model !== undefined ? { model: task.model } : {}),
  ...(task.machineId !== undefined ? { machineId: task.machineId } : {}),
  ...(task.continuesFrom !== undefined ? { continuesFrom: task.continuesFrom } : {}),
  ...(task.resumed !== undefined ? { resumed: task.resumed } : {}),
  ...(task.transcriptUrl !== undefined ? { transcriptUrl: task.transcriptUrl } : {}),
  ...(task.outcome !== undefined ? { outcome: task.outcome } : {}),
  ...(task.branch !== undefined ? { branch: task.branch } : {}),
  ...(task.commitSha !== undefined ? { commitSha: task.commitSha } : {}),
  ...(task.prUrl !== undefined ? { prUrl: task.prUrl } : {}),
  ...(task.summary !== undefined ? { summary: task.summary } : {}),
  ...(task.reason !== undefined ? { reason: task.reason } : {}),
  ...(task.usage !== undefined ? { usage: task.usage } : {})
})

/** `GET /admin/tasks`. */
export const TaskList = Schema.Struct({ tasks: Schema.Array(TaskView) })

/** `GET /admin/tasks/:id`: the task and its audit trail, oldest first. */
export const TaskDetail = Schema.Struct({ task: TaskView, events: Schema.Array(TaskEvent) })
export type TaskDetail = typeof TaskDetail.Type

/** A stored secret's name: never its value. */
export const SecretEntry = Schema.Struct({ scope: Schema.String, name: Schema.String, updatedAt: Schema.String })
export type SecretEntry = typeof SecretEntry.Type

/** `GET /admin/secrets`. */
export const SecretList = Schema.Struct({ secrets: Schema.Array(SecretEntry) })
