/**
 * Shared helpers for the lifecycle services' tests (Intake, Commands, Dispatcher, TaskLifecycle, Watchdog): Porter's
 * services over the in-memory ports, with any port replaced, and small builders for tasks and run requests.
 */
import {
  Callback,
  ChangeSets,
  Command,
  type Dispatcher,
  type Event,
  Ids,
  Porter,
  Repo,
  SecretStore,
  Settings,
  Task,
  TaskStore
} from "@porter/core"
import { Fixtures, GitHubRecorder, type RecordingReporter, Repositories, TestPorter } from "@porter/testing"
import { Effect, Layer, Schema } from "effect"

export const REPO = "octo-org/hello-world"
export const ISSUE = `${REPO}#1`
export const ANTHROPIC_KEY = "sk-ant-test-0123456789abcdefghij"
/** 2026-03-02T09:00:00Z: a clock reading that reads well in ISO dates. */
export const START = Date.parse("2026-03-02T09:00:00.000Z")

export const withKey: TestPorter.Options = {
  secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY }]
}

/**
 * Porter's services (the lifecycle services included) over the in-memory ports of `options`; `overrides` replaces
 * ports (the later layer of a merge wins).
 */
export const layer = <A = never>(
  options: TestPorter.Options = withKey,
  // `Layer.empty` provides nothing: as a `Layer<A>` it is only ever merged.
  overrides: Layer.Layer<A> = Layer.empty as unknown as Layer.Layer<A>
) => Porter.layer.pipe(Layer.provideMerge(Layer.merge(TestPorter.services(options), overrides)))

/** Porter's comments on an issue, as the recorder keeps them (each with every version it had). */
export const thread = (
  issue = ISSUE
): Effect.Effect<ReadonlyArray<RecordingReporter.RecordedComment>, never, GitHubRecorder> =>
  Effect.flatMap(GitHubRecorder, (recorder) => recorder.comments(issue))

export const taskOf = (id: Ids.TaskId) => Effect.flatMap(TaskStore.TaskStore, (store) => store.get(id))

/** The tasks of an issue, newest first. */
export const tasksOf = (issueNumber = 1) =>
  Effect.flatMap(TaskStore.TaskStore, (store) => store.listByIssue(REPO, issueNumber, 50))

/** The kinds of a task's audit trail, oldest first. */
export const auditKinds = (id: Ids.TaskId) =>
  Effect.map(Effect.flatMap(TaskStore.TaskStore, (store) => store.events(id)), (events) => events.map((e) => e.kind))

/** A runner callback body, decoded as the HTTP API decodes it. */
export const callbackEvent = (body: unknown): Callback.CallbackEvent =>
  Schema.decodeUnknownSync(Callback.CallbackEvent)(body)

type TaskFields = ConstructorParameters<typeof Task.Task>[0]

/** A queued task of issue #1 created now (not stored), with `fields` over the defaults. */
export const newTask = (fields: Partial<TaskFields> = {}) =>
  Effect.gen(function*() {
    const id = yield* Ids.makeTaskId
    const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const timeoutMs = fields.timeoutMs ?? 30 * 60_000
    return new Task.Task({
      id,
      state: "queued",
      repo: Fixtures.repo(),
      issueNumber: 1,
      isPullRequest: false,
      requestedBy: Fixtures.actor(),
      triggerKind: "issue_comment",
      triggerCommentId: 42,
      deliveryId: Fixtures.deliveryId(),
      agent: "claude",
      instructions: "fix it",
      baseBranch: "main",
      timeoutMs,
      createdAt: at,
      updatedAt: at,
      deadlineAt: at + timeoutMs,
      dispatchAttempts: 0,
      ...fields
    })
  })

/** `newTask`, stored (as a dispatcher that died right after recording it would leave it). */
export const storedTask = (fields: Partial<TaskFields> = {}) =>
  Effect.gen(function*() {
    const task = yield* newTask(fields)
    const created = yield* (yield* TaskStore.TaskStore).create(task)
    if (created._tag === "OverLimit") return yield* Effect.die("no limits were given")
    return created.task
  })

/** A run request as Commands makes it from `event` (default: `@porter claude fix it` on issue #1). */
export const runRequest = (
  options: {
    readonly event?: Event.CommentCreated
    readonly run?: Command.Run
    readonly settings?: Settings.RepoSettings
    readonly receivedAt?: number
    readonly salt?: string
  } = {}
): Effect.Effect<Dispatcher.RunRequest> =>
  Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => ({
    event: options.event ?? Fixtures.commentCreated({ body: "@porter claude fix it" }),
    run: options.run ?? new Command.Run({ agent: "claude", instructions: "fix it" }),
    settings: options.settings ?? Settings.defaults,
    receivedAt: options.receivedAt ?? now,
    salt: options.salt ?? ""
  }))

/** Another GitHub user. */
export const alice = new Repo.Actor({ login: "alice", id: 1001, type: "User" })

/**
 * Plays a runner that proposes one change: seeds the task's repository in the in-memory writer (once) and publishes a
 * change set on the branch the machine would have cloned. What Porter published (the pull request among it).
 */
export const publish = (
  taskId: Ids.TaskId,
  files: ReadonlyArray<{ readonly path: string; readonly content: string }> = [{
    path: "CHANGES.md",
    content: "done\n"
  }]
) =>
  Effect.gen(function*() {
    const task = yield* taskOf(taskId)
    const repos = yield* Repositories
    const branches = yield* repos.branches(task.repo)
    const from = task.headBranch ?? task.baseBranch ?? "main"
    const base = branches.get(from) ??
      (yield* repos.seed(task.repo, { files: [{ path: "README.md", content: "# hello\n" }] }))
    return yield* (yield* ChangeSets.ChangeSets).publish(taskId, Fixtures.changeSet(base, files))
  })
