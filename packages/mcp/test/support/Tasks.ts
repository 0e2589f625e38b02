/** Tasks for the web app's tests, stored as the dispatcher would record them. */
import { Ids, Repo, Task } from "@porter/core"

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

/** A task id whose time part is `at` and whose tail is `n` (ids sort like their times, then `n`). */
export const taskIdAt = (at: number, n = 0): Ids.TaskId => {
  let time = ""
  let rest = Math.floor(at)
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[rest % 32] + time
    rest = Math.floor(rest / 32)
  }
  let tail = ""
  let m = n
  for (let i = 0; i < 16; i++) {
    tail = ALPHABET[m % 32] + tail
    m = Math.floor(m / 32)
  }
  return `task_${time}${tail}` as Ids.TaskId
}

export interface TaskSpec {
  readonly repo: string
  readonly at: number
  readonly n?: number
  readonly state?: Task.TaskState
  readonly agent?: string
  readonly login?: string
  readonly userId?: number
  readonly issueNumber?: number
  readonly installationId?: number
  readonly costUsd?: number
  readonly logTail?: string
}

export const task = (spec: TaskSpec): Task.Task =>
  new Task.Task({
    id: taskIdAt(spec.at, spec.n ?? 0),
    state: spec.state ?? "queued",
    repo: Repo.RepoRef.fromFullName(spec.repo)!,
    issueNumber: spec.issueNumber ?? 1,
    isPullRequest: false,
    ...(spec.installationId !== undefined ? { installationId: spec.installationId } : {}),
    requestedBy: new Repo.Actor({ login: spec.login ?? "octocat", id: spec.userId ?? 583231, type: "User" }),
    triggerKind: "issue_comment",
    triggerCommentId: 1,
    deliveryId: `delivery-${spec.at}-${spec.n ?? 0}` as Ids.DeliveryId,
    agent: spec.agent ?? "script",
    instructions: "do it",
    timeoutMs: 60_000,
    createdAt: spec.at,
    updatedAt: spec.at,
    deadlineAt: spec.at + 60_000,
    dispatchAttempts: 0,
    ...(spec.costUsd !== undefined ? { usage: new Task.Usage({ costUsd: spec.costUsd, inputTokens: 1200 }) } : {}),
    ...(spec.logTail !== undefined ? { logTail: spec.logTail } : {})
  })
