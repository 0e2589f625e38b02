/**
 * A `tasks` row and its two-way mapping to `Task`. Absent optional fields are NULL in the row
 * and absent (not `undefined`) in the task, so a task read back equals the one written.
 */
import { Task } from "@porter/core"
import { Schema, SchemaTransformation } from "effect"
import { Num } from "./dialect.ts"

const Text = Schema.String
const NullText = Schema.NullOr(Schema.String)
const NullNum = Schema.NullOr(Num)
const UsageJson = Schema.NullOr(Schema.fromJsonString(Schema.toEncoded(Task.Usage)))

export const TaskRow = Schema.Struct({
  id: Text,
  state: Text,
  repo_owner: Text,
  repo_name: Text,
  issue_number: Num,
  is_pull_request: Num,
  installation_id: NullNum,
  requested_by_login: Text,
  requested_by_id: Num,
  requested_by_type: Text,
  trigger_kind: Text,
  trigger_comment_id: Num,
  delivery_id: Text,
  agent: Text,
  model: NullText,
  instructions: Text,
  base_branch: NullText,
  head_branch: NullText,
  timeout_ms: Num,
  created_at: Num,
  updated_at: Num,
  deadline_at: Num,
  heartbeat_at: NullNum,
  started_at: NullNum,
  finished_at: NullNum,
  dispatch_attempts: Num,
  machine_id: NullText,
  status_comment_id: NullNum,
  outcome: NullText,
  branch: NullText,
  commit_sha: NullText,
  pr_url: NullText,
  summary: NullText,
  usage: UsageJson,
  reason: NullText,
  log_tail: NullText,
  mode: NullText,
  request_key: NullText,
  not_an_agent: NullText,
  approved_by: NullText,
  continues_from: NullText,
  resumed: NullText,
  stop_state: NullText,
  transcript_url: NullText
})
export type TaskRow = typeof TaskRow.Type

/** The columns a `SELECT` or `RETURNING` lists, in table order. */
export const taskColumns: string = Object.keys(TaskRow.fields).join(", ")

const present = <K extends string, V>(key: K, value: V | null): { [P in K]?: V } =>
  (value === null ? {} : { [key]: value }) as { [P in K]?: V }

const orNull = <V>(value: V | undefined): V | null => (value === undefined ? null : value)

type TaskEncoded = typeof Task.Task.Encoded

export const TaskFromRow = TaskRow.pipe(
  Schema.decodeTo(
    Task.Task,
    SchemaTransformation.transform<TaskEncoded, TaskRow>({
      decode: (row) => ({
        id: row.id,
        state: row.state as TaskEncoded["state"],
        repo: { owner: row.repo_owner, name: row.repo_name },
        issueNumber: row.issue_number,
        isPullRequest: row.is_pull_request !== 0,
        ...present("installationId", row.installation_id),
        requestedBy: { login: row.requested_by_login, id: row.requested_by_id, type: row.requested_by_type },
        triggerKind: row.trigger_kind as TaskEncoded["triggerKind"],
        triggerCommentId: row.trigger_comment_id,
        deliveryId: row.delivery_id,
        agent: row.agent,
        ...present("model", row.model),
        instructions: row.instructions,
        ...present("baseBranch", row.base_branch),
        ...present("headBranch", row.head_branch),
        timeoutMs: row.timeout_ms,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        deadlineAt: row.deadline_at,
        ...present("heartbeatAt", row.heartbeat_at),
        ...present("startedAt", row.started_at),
        ...present("finishedAt", row.finished_at),
        dispatchAttempts: row.dispatch_attempts,
        ...present("machineId", row.machine_id),
        ...present("statusCommentId", row.status_comment_id),
        ...present("outcome", row.outcome as TaskEncoded["outcome"] | null),
        ...present("branch", row.branch),
        ...present("commitSha", row.commit_sha),
        ...present("prUrl", row.pr_url),
        ...present("summary", row.summary),
        ...present("usage", row.usage),
        ...present("reason", row.reason),
        ...present("logTail", row.log_tail),
        ...present("mode", row.mode as TaskEncoded["mode"] | null),
        ...present("requestKey", row.request_key),
        ...present("notAnAgent", row.not_an_agent),
        ...present("approvedBy", row.approved_by),
        ...present("continuesFrom", row.continues_from),
        ...present("resumed", row.resumed as TaskEncoded["resumed"] | null),
        ...present("stopState", row.stop_state as TaskEncoded["stopState"] | null),
        ...present("transcriptUrl", row.transcript_url)
      }),
      encode: (task) => ({
        id: task.id,
        state: task.state,
        repo_owner: task.repo.owner,
        repo_name: task.repo.name,
        issue_number: task.issueNumber,
        is_pull_request: task.isPullRequest ? 1 : 0,
        installation_id: orNull(task.installationId),
        requested_by_login: task.requestedBy.login,
        requested_by_id: task.requestedBy.id,
        requested_by_type: task.requestedBy.type,
        trigger_kind: task.triggerKind,
        trigger_comment_id: task.triggerCommentId,
        delivery_id: task.deliveryId,
        agent: task.agent,
        model: orNull(task.model),
        instructions: task.instructions,
        base_branch: orNull(task.baseBranch),
        head_branch: orNull(task.headBranch),
        timeout_ms: task.timeoutMs,
        created_at: task.createdAt,
        updated_at: task.updatedAt,
        deadline_at: task.deadlineAt,
        heartbeat_at: orNull(task.heartbeatAt),
        started_at: orNull(task.startedAt),
        finished_at: orNull(task.finishedAt),
        dispatch_attempts: task.dispatchAttempts,
        machine_id: orNull(task.machineId),
        status_comment_id: orNull(task.statusCommentId),
        outcome: orNull(task.outcome),
        branch: orNull(task.branch),
        commit_sha: orNull(task.commitSha),
        pr_url: orNull(task.prUrl),
        summary: orNull(task.summary),
        usage: orNull(task.usage),
        reason: orNull(task.reason),
        log_tail: orNull(task.logTail),
        mode: orNull(task.mode),
        request_key: orNull(task.requestKey),
        not_an_agent: orNull(task.notAnAgent),
        approved_by: orNull(task.approvedBy),
        continues_from: orNull(task.continuesFrom),
        resumed: orNull(task.resumed),
        stop_state: orNull(task.stopState),
        transcript_url: orNull(task.transcriptUrl)
      })
    })
  )
)

export const decodeTask = Schema.decodeUnknownEffect(TaskFromRow)
export const encodeTask = Schema.encodeEffect(TaskFromRow)

/** The columns `TaskPatch` fields are stored in. */
export const patchColumns = {
  heartbeatAt: "heartbeat_at",
  startedAt: "started_at",
  finishedAt: "finished_at",
  dispatchAttempts: "dispatch_attempts",
  machineId: "machine_id",
  statusCommentId: "status_comment_id",
  outcome: "outcome",
  branch: "branch",
  commitSha: "commit_sha",
  prUrl: "pr_url",
  summary: "summary",
  usage: "usage",
  reason: "reason",
  logTail: "log_tail",
  deadlineAt: "deadline_at",
  approvedBy: "approved_by",
  resumed: "resumed",
  stopState: "stop_state",
  transcriptUrl: "transcript_url"
} as const satisfies Record<keyof Task.TaskPatch, keyof TaskRow>

const fields = Task.Task.fields
/** Validates a patch and encodes it as stored (usage as JSON text). */
export const TaskPatchEncoding = Schema.Struct({
  heartbeatAt: fields.heartbeatAt,
  startedAt: fields.startedAt,
  finishedAt: fields.finishedAt,
  dispatchAttempts: Schema.optional(fields.dispatchAttempts),
  machineId: fields.machineId,
  statusCommentId: fields.statusCommentId,
  outcome: fields.outcome,
  branch: fields.branch,
  commitSha: fields.commitSha,
  prUrl: fields.prUrl,
  summary: fields.summary,
  usage: Schema.optional(Schema.fromJsonString(Task.Usage)),
  reason: fields.reason,
  logTail: fields.logTail,
  deadlineAt: Schema.optional(fields.deadlineAt),
  approvedBy: fields.approvedBy,
  resumed: fields.resumed,
  stopState: fields.stopState,
  transcriptUrl: fields.transcriptUrl
})
export const encodePatch = Schema.encodeEffect(TaskPatchEncoding)
