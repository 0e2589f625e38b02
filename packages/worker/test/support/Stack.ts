/**
 * The whole local stack, shared by the end-to-end tests: the built Worker in workerd (Miniflare, local D1 with the
 * migrations) → the GitHub emulator (its App installed, webhooks pointed at the Worker) → the local Fly machines
 * server running the real runner (`packages/runner/src/main.ts`) for each machine. People act through the
 * emulator's REST API, as on GitHub; the tests look at what users see (comments, reactions, pull requests) and at
 * the admin API.
 */
import type { AdminApi } from "@porter/core"
import { GitHubEmulator } from "@porter/testkit"
import type * as MachinesServer from "@porter/testkit/fly"
import type * as Local from "@porter/worker/local"
import * as LocalStack from "@porter/worker/stack"
import { Context, Duration, Effect, Layer, Option, Schedule } from "effect"

export const ADMIN_TOKEN = "porter-e2e-admin-token-0123456789abcdef"
/** Short, so the sweep test does not wait long; the runner reports well within it. */
export const HEARTBEAT_TIMEOUT_MS = 3_000
export const HEARTBEAT_INTERVAL_MS = 500

export type Person = GitHubEmulator.Person

export interface Comment {
  readonly id: number
  readonly body: string
  readonly user: { readonly login: string }
}

export interface TaskView extends AdminApi.TaskView {}

export class Stack extends Context.Service<Stack, {
  readonly worker: Local.LocalWorker
  readonly github: GitHubEmulator.Emulator
  readonly machines: MachinesServer.Server
  /** `owner/name` of the repository the tests work on. */
  readonly repo: string
  readonly admin: Person
  /** A collaborator with write (push) access. */
  readonly writer: Person
  /** A collaborator with read (pull) access only. */
  readonly reader: Person
}>()("@porter/worker/test/Stack") {}

/** A REST call to the emulator; a non-2xx answer fails the test with GitHub's message. */
export const rest = <A = unknown>(token: string, method: string, path: string, body?: unknown) =>
  Stack.use(({ github }) => restAt<A>(github.url, token, method, path, body))

export const restAt = <A = unknown>(base: string, token: string, method: string, path: string, body?: unknown) =>
  Effect.promise(() => GitHubEmulator.rest<A>(token, method, `${base}${path}`, body))

/** A call to the Worker's admin API. */
export const admin = <A = unknown>(method: string, path: string) =>
  Stack.use(({ worker }) =>
    Effect.promise(async () => {
      const response = await worker.fetch(`${worker.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` }
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`)
      return JSON.parse(text) as A
    })
  )

/** Waits until every webhook the emulator has queued was answered. */
export const deliveriesAnswered = Stack.use(({ github }) => Effect.promise(() => github.deliveries()))

/** A new issue, opened by the repository owner. */
export const openIssue = (title: string) =>
  Effect.gen(function*() {
    const { admin: owner, repo } = yield* Stack
    return yield* rest<{ readonly number: number }>(owner.token, "POST", `/repos/${repo}/issues`, { title, body: "" })
  })

/** `person` comments on the issue, and the emulator delivers the signed webhook; returns the comment. */
export const comment = (person: Person, issue: number, body: string) =>
  Effect.gen(function*() {
    const { repo } = yield* Stack
    const created = yield* rest<Comment>(person.token, "POST", `/repos/${repo}/issues/${issue}/comments`, { body })
    yield* deliveriesAnswered
    return created
  })

/** The delivery of the `issue_comment.created` webhook for `commentId`. */
export const deliveryOf = (commentId: number) =>
  Effect.gen(function*() {
    const all = yield* deliveriesAnswered
    const found = all.filter((delivery) => {
      const payload = delivery.payload as { comment?: { id?: number } }
      return delivery.event === "issue_comment" && payload.comment?.id === commentId
    })
    if (found.length === 0) return yield* Effect.die(new Error(`no delivery for comment ${commentId}`))
    return found
  })

/** Porter's comments on an issue, oldest first. */
export const porterComments = (issue: number) =>
  Effect.gen(function*() {
    const { admin: owner, github, repo } = yield* Stack
    const all = yield* rest<ReadonlyArray<Comment>>(
      owner.token,
      "GET",
      `/repos/${repo}/issues/${issue}/comments?per_page=100`
    )
    return all.filter((c) => c.user.login === github.app.botLogin)
  })

/** The tasks of an issue (admin API), newest first. */
export const tasksOf = (issue: number) =>
  Effect.gen(function*() {
    const { repo } = yield* Stack
    const { tasks } = yield* admin<{ readonly tasks: ReadonlyArray<TaskView> }>(
      "GET",
      `/admin/tasks?repo=${encodeURIComponent(repo)}&limit=500`
    )
    return tasks.filter((task) => task.issueNumber === issue)
  })

export const taskById = (id: string) =>
  Effect.map(
    admin<{ readonly task: TaskView; readonly events: ReadonlyArray<{ kind: string; from?: string; to?: string }> }>(
      "GET",
      `/admin/tasks/${id}`
    ),
    (answer) => answer
  )

/**
 * Polls `probe` (every 100 ms) until it yields `Some`; after `timeout`, fails the test with `what` and the
 * Worker's last log lines.
 */
export const eventually = <A, E, R>(
  what: string,
  probe: Effect.Effect<Option.Option<A>, E, R>,
  timeout: Duration.Input = "30 seconds"
) =>
  Effect.gen(function*() {
    const found = yield* probe.pipe(
      Effect.flatMap((
        result
      ) => (Option.isSome(result) ? Effect.succeed(result.value) : Effect.fail("pending" as const))),
      Effect.retry(Schedule.spaced("100 millis")),
      Effect.timeoutOption(timeout)
    )
    if (Option.isSome(found)) return found.value
    const { worker } = yield* Stack
    const logs = worker.logs().slice(-15).map((line) => line.message).join("\n")
    return yield* Effect.die(new Error(`timed out waiting for ${what}; the Worker's last log lines:\n${logs}`))
  })

/** The issue's only task, once it is in `state`. */
export const taskInState = (issue: number, state: string, timeout: Duration.Input = "30 seconds") =>
  eventually(
    `the task on #${issue} to be ${state}`,
    Effect.map(tasksOf(issue), (tasks) => Option.fromNullishOr(tasks.find((task) => task.state === state))),
    timeout
  )

/** The machine the local machines server runs for a task. */
export const machineOf = (taskId: string) =>
  Stack.use(({ machines }) =>
    eventually(
      `a machine for ${taskId}`,
      Effect.sync(() => Option.fromNullishOr(machines.machines().find((m) => m.metadata["porter_task_id"] === taskId)))
    )
  )

/** A `script`-agent command whose run keeps its machine busy (for cancel, close and sweep tests). */
export const longRun = "@porter script keep busy\n\n```porter-script\nsleep 120\n```"

/** The stack, with `workerEnv` added to the Worker's variables. */
export const layerWith = (workerEnv: Readonly<Record<string, string>> = {}): Layer.Layer<Stack> =>
  Layer.effect(
    Stack,
    Effect.gen(function*() {
      // The shared local stack (`porter dev`'s), with a short heartbeat timeout for the sweep tests.
      const stack = yield* LocalStack.start({
        adminToken: ADMIN_TOKEN,
        workerEnv: {
          PORTER_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS),
          PORTER_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
          ...workerEnv
        }
      }).pipe(Effect.orDie)
      const { machines, worker } = stack
      const github = stack.github!

      const owner: Person = github.admin
      yield* restAt(github.url, owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
      const repo = `${owner.login}/widgets`
      const writer = yield* Effect.promise(() => github.createUser("wendy"))
      const reader = yield* Effect.promise(() => github.createUser("rita"))
      yield* restAt(github.url, owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, {
        permission: "push"
      })
      yield* restAt(github.url, owner.token, "PUT", `/repos/${repo}/collaborators/${reader.login}`, {
        permission: "pull"
      })
      return Stack.of({ worker, github, machines, repo, admin: owner, writer, reader })
    })
  )

export const layer: Layer.Layer<Stack> = layerWith()
