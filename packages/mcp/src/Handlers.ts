/**
 * What Porter's MCP tools do, over Porter's own services (the same the web app and the HTTP API use). Every call asks
 * `Access` what the caller may do on GitHub now (cached briefly): a task or repository the caller cannot read answers
 * exactly like one that does not exist, and steering (start, cancel, retry) needs write access. Every refusal is a
 * `ToolFailure` whose text says what to do.
 *
 * `start_task` writes the command the way a person would type it (`@<mention> <agent> [--model …] [--timeout …]
 * [--budget …] <instructions>`), checks it with Porter's own `CommandParser` before anything is posted, posts it on
 * the issue with the caller's GitHub token, then waits up to `startWaitMs` for Porter to record the task the comment
 * asked for. `continue_task` does the same with `@<mention> continue [instructions]` on the task's issue or PR.
 */
import {
  AdminApi,
  AgentCatalog,
  ArtifactStore,
  CommandParser,
  Dispatcher,
  Ids,
  Repo,
  Settings,
  type Task,
  TaskLifecycle,
  TaskStore
} from "@porter/core"
import { Access, TaskListing, WebConfig } from "@porter/web"
import { Clock, Effect, Option, Schedule, Schema } from "effect"
import type { HttpClient } from "effect/http"
import { Caller, type CallerShape, ToolFailure, viewerOf } from "./Caller.ts"
import { PorterTools, type TaskSummary } from "./Tools.ts"
import { postComment } from "./UserGitHub.ts"

/** How the tools behave (how long `start_task` waits for its task). */
export interface HandlerOptions {
  /** How long `start_task` waits for Porter to record the task its comment asked for (default 15 s). */
  readonly startWaitMs?: number | undefined
}

const decodeTaskId = Schema.decodeUnknownOption(Ids.TaskId)
const iso = (ms: number) => new Date(ms).toISOString()

/** The most of a transcript `get_transcript` answers (its end). */
const TRANSCRIPT_CHARS = 100_000

const storeFailure = () => new ToolFailure({ message: "Porter's storage did not answer: try again in a moment." })
const notFound = (id: string) => new ToolFailure({ message: `There is no task ${id} that you can see.` })

/** Shell-free flag values: what `CommandParser` reads as one word. */
const FLAG_VALUE = /^[A-Za-z0-9._:/@+-]{1,200}$/

/** The handlers of Porter's MCP tools, on Porter's services and the web app's access rules. */
export const make = (options: HandlerOptions = {}) =>
  Effect.gen(function*() {
    const config = yield* WebConfig.WebConfig
    const access = yield* Access.Access
    const store = yield* TaskStore.TaskStore
    const lifecycle = yield* TaskLifecycle.TaskLifecycle
    const dispatcher = yield* Dispatcher.Dispatcher
    const settings = yield* Settings.Settings
    const catalog = yield* AgentCatalog.AgentCatalog
    const artifacts = yield* ArtifactStore.ArtifactStore
    const parser = yield* CommandParser.CommandParser
    const http = yield* Effect.context<HttpClient.HttpClient>()
    const startWaitMs = options.startWaitMs ?? 15_000

    const summaryOf = (task: Task.Task): TaskSummary => ({
      ...AdminApi.toView(task),
      requestedBy: task.requestedBy.login,
      issueUrl: `${config.githubWebUrl}/${task.repo.fullName}/${
        task.isPullRequest ? "pull" : "issues"
      }/${task.issueNumber}`
    })

    const orStore = <A, R>(effect: Effect.Effect<A, unknown, R>) => Effect.mapError(effect, storeFailure)

    /** The task `rawId` names, if the caller may read it. */
    const visibleTask = (caller: CallerShape, rawId: string) =>
      Effect.gen(function*() {
        const viewer = yield* viewerOf(access, caller)
        const id = decodeTaskId(rawId.trim())
        if (Option.isNone(id)) return yield* notFound(rawId)
        const task = yield* orStore(store.find(id.value))
        if (Option.isNone(task) || !Access.canRead(viewer, task.value.repo.fullName)) return yield* notFound(rawId)
        return { viewer, task: task.value }
      })

    /** The task `ref` names (an id, or the latest of an issue), if the caller may read it. */
    const referencedTask = (
      caller: CallerShape,
      ref: {
        readonly task_id?: string | undefined
        readonly repository?: string | undefined
        readonly issue?: number | undefined
      }
    ) =>
      Effect.gen(function*() {
        if (ref.task_id !== undefined) return yield* visibleTask(caller, ref.task_id)
        if (ref.repository === undefined || ref.issue === undefined) {
          return yield* new ToolFailure({ message: "Say which task: `task_id`, or `repository` and `issue`." })
        }
        const viewer = yield* viewerOf(access, caller)
        const where = `${ref.repository}#${ref.issue}`
        const repo = viewer.repos.get(ref.repository.toLowerCase())
        const latest = repo !== undefined && Access.canRead(viewer, repo.fullName)
          ? (yield* orStore(store.listByIssue(repo.fullName, ref.issue, 1)))[0]
          : undefined
        if (latest === undefined) {
          return yield* new ToolFailure({ message: `There is no task on ${where} that you can see.` })
        }
        return { viewer, task: latest }
      })

    /** The task, if the caller may also steer it (write access). */
    const steerableTask = (caller: CallerShape, rawId: string, verb: string) =>
      Effect.gen(function*() {
        const found = yield* visibleTask(caller, rawId)
        if (!Access.canSteer(found.viewer, found.task.repo.fullName)) {
          return yield* new ToolFailure({
            message: `You cannot ${verb} tasks of ${found.task.repo.fullName}: that needs write access to it on GitHub.`
          })
        }
        return found
      })

    const actorOf = (caller: CallerShape) => new Repo.Actor({ login: caller.login, id: caller.userId, type: "User" })

    const listTasks = Effect.fn("Mcp.listTasks")(function*(params: {
      readonly repository?: string | undefined
      readonly state?: Task.TaskState | undefined
      readonly limit?: number | undefined
      readonly before?: string | undefined
    }) {
      const caller = yield* Caller
      const viewer = yield* viewerOf(access, caller)
      const readable = Access.readable(viewer).map((repo) => repo.fullName)
      const wanted = params.repository?.toLowerCase()
      const repos = wanted === undefined ? readable : readable.filter((name) => name.toLowerCase() === wanted)
      if (wanted !== undefined && repos.length === 0) {
        return yield* new ToolFailure({
          message: `There is no repository ${params.repository} that you can read through Porter. ` +
            (readable.length > 0 ? `You can read: ${readable.slice(0, 20).join(", ")}.` : "You can read none.")
        })
      }
      const before = params.before === undefined ? undefined : Option.getOrUndefined(decodeTaskId(params.before))
      if (params.before !== undefined && before === undefined) {
        return yield* new ToolFailure({ message: `\`before\` is not a task id: ${params.before}` })
      }
      const page = yield* orStore(TaskListing.list(store, {
        repos,
        state: params.state,
        before,
        limit: params.limit ?? 20
      }))
      return { tasks: page.tasks.map(summaryOf), ...(page.next !== undefined ? { next: page.next } : {}) }
    })

    /** The task once it has ended, or as it is after `seconds`. */
    const ended = (task: Task.Task, seconds: number) =>
      task.isTerminal || seconds <= 0 ? Effect.succeed(task) : store.get(task.id).pipe(
        Effect.flatMap((now) => now.isTerminal ? Effect.succeed(now) : Effect.fail("running" as const)),
        Effect.retry(Schedule.spaced("1 second")),
        Effect.timeoutOption(`${seconds} seconds`),
        Effect.flatMap((now) => Option.isSome(now) ? Effect.succeed(now.value) : store.get(task.id)),
        Effect.mapError(storeFailure)
      )

    const getTask = Effect.fn("Mcp.getTask")(function*(params: {
      readonly task_id?: string | undefined
      readonly repository?: string | undefined
      readonly issue?: number | undefined
      readonly wait_seconds?: number | undefined
    }) {
      const found = yield* referencedTask(yield* Caller, params)
      const task = yield* ended(found.task, params.wait_seconds ?? 0)
      const events = yield* orStore(store.events(task.id))
      return {
        task: summaryOf(task),
        events: events.slice(-100).map((event) => ({
          at: iso(event.at),
          kind: event.kind,
          ...(event.from !== undefined ? { from: event.from } : {}),
          ...(event.to !== undefined ? { to: event.to } : {}),
          ...(event.detail !== undefined ? { detail: event.detail } : {})
        }))
      }
    })

    /** The task Porter recorded for `commentId`, once it has (polled until `startWaitMs`). */
    const taskFor = (repo: string, issue: number, commentId: number) =>
      store.listByIssue(repo, issue, 20).pipe(
        Effect.map((tasks) => Option.fromNullishOr(tasks.find((task) => task.triggerCommentId === commentId))),
        Effect.flatMap((found) => Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail("pending" as const)),
        Effect.retry(Schedule.spaced("250 millis")),
        Effect.timeoutOption(`${startWaitMs} millis`),
        Effect.orElseSucceed(() => Option.none<Task.Task>())
      )

    const startTask = Effect.fn("Mcp.startTask")(function*(params: {
      readonly repository: string
      readonly issue: number
      readonly instructions: string
      readonly agent?: string | undefined
      readonly model?: string | undefined
      readonly timeout?: string | undefined
      readonly budget_usd?: number | undefined
    }) {
      const caller = yield* Caller
      const viewer = yield* viewerOf(access, caller)
      const repoAccess = viewer.repos.get(params.repository.toLowerCase())
      if (repoAccess === undefined || !Access.canRead(viewer, params.repository)) {
        return yield* new ToolFailure({
          message: `There is no repository ${params.repository} that you can use through Porter.`
        })
      }
      const repo = repoAccess.fullName
      if (!Access.canSteer(viewer, repo)) {
        return yield* new ToolFailure({
          message: `You cannot start tasks on ${repo}: Porter acts for people with write access to it on GitHub.`
        })
      }
      if (params.agent !== undefined && Option.isNone(catalog.resolve(params.agent))) {
        return yield* new ToolFailure({
          message: `There is no agent called ${params.agent}. Agents: ${catalog.list.map((a) => a.name).join(", ")}.`
        })
      }
      const flags: Array<string> = []
      for (const [flag, value] of [["--model", params.model], ["--timeout", params.timeout]] as const) {
        if (value === undefined) continue
        if (!FLAG_VALUE.test(value)) {
          return yield* new ToolFailure({ message: `\`${flag}\` takes one word; got ${JSON.stringify(value)}.` })
        }
        flags.push(`${flag} ${value}`)
      }
      if (params.budget_usd !== undefined) flags.push(`--budget ${params.budget_usd}`)
      const repoSettings = yield* orStore(settings.forRepo(repo, repoAccess.installationId))
      const head = [`@${repoSettings.mentionName}`, ...(params.agent !== undefined ? [params.agent] : []), ...flags]
      const [first = "", ...rest] = params.instructions.trim().split("\n")
      const body = [`${head.join(" ")} ${first}`.trim(), ...rest].join("\n")
      const parsed = parser.parse(body, repoSettings)
      if (parsed._tag === "Problem") return yield* new ToolFailure({ message: `Nothing was posted: ${parsed.message}` })
      if (parsed._tag !== "Run") {
        return yield* new ToolFailure({
          message:
            `Nothing was posted: these instructions read as \`@${repoSettings.mentionName} ${parsed._tag.toLowerCase()}\`, not a task; name an agent or say more.`
        })
      }
      const comment = yield* postComment({
        apiUrl: config.githubApiUrl,
        token: caller.user.githubToken,
        repo,
        issue: params.issue,
        body
      }).pipe(Effect.provide(http))
      yield* Effect.logInfo("mcp: command posted", { user: caller.login, repo, issue: params.issue })
      const task = yield* taskFor(repo, params.issue, comment.id)
      return {
        commentUrl: comment.url,
        command: head.join(" "),
        ...(Option.isSome(task) ? { task: summaryOf(task.value) } : {}),
        message: Option.isSome(task)
          ? `Porter took the request: task ${task.value.id} is ${task.value.state}. get_task shows how it goes.`
          : "The command is on the issue, but Porter has not recorded a task for it yet (it may have answered on " +
            "the issue instead: a limit, a missing key). list_tasks shows the task once it exists."
      }
    })

    const cancelTask = Effect.fn("Mcp.cancelTask")(function*(params: { readonly task_id: string }) {
      const caller = yield* Caller
      const { task } = yield* steerableTask(caller, params.task_id, "cancel")
      const cancelled = yield* lifecycle.cancelTask(task.id, `cancelled by @${caller.login} through MCP`).pipe(
        Effect.catchTag("TaskNotFound", () => Effect.fail(notFound(params.task_id))),
        Effect.mapError((error) => error instanceof ToolFailure ? error : storeFailure())
      )
      const after = yield* orStore(store.get(task.id))
      return {
        cancelled,
        task: summaryOf(after),
        message: !cancelled
          ? `Task ${task.id} had already ended (${after.state}).`
          : after.isTerminal
          ? `Task ${task.id} is cancelled.`
          : `Task ${task.id} is stopping: its machine hands over the work so far (a draft pull request, if there is ` +
            "any), then it ends cancelled. get_task with wait_seconds shows when."
      }
    })

    const retryTask = Effect.fn("Mcp.retryTask")(function*(params: { readonly task_id: string }) {
      const caller = yield* Caller
      const { task } = yield* steerableTask(caller, params.task_id, "retry")
      if (!task.isTerminal) {
        return yield* new ToolFailure({
          message: `Task ${task.id} is still ${task.state}: cancel it (cancel_task) before retrying.`
        })
      }
      const retried = yield* orStore(dispatcher.retry(task, actorOf(caller)))
      if (Option.isNone(retried)) {
        return yield* new ToolFailure({
          message: "Not retried: the repository's or your active-task limit is reached. Retry when a task ends."
        })
      }
      return { task: summaryOf(retried.value), message: `Task ${retried.value.id} runs ${task.id} again.` }
    })

    const continueTask = Effect.fn("Mcp.continueTask")(function*(params: {
      readonly task_id: string
      readonly instructions?: string | undefined
    }) {
      const caller = yield* Caller
      const { task } = yield* steerableTask(caller, params.task_id, "continue")
      if (!task.isTerminal) {
        return yield* new ToolFailure({
          message: `Task ${task.id} is still ${task.state}: wait for it to end (get_task), or cancel it, then continue.`
        })
      }
      const repo = task.repo.fullName
      const repoSettings = yield* orStore(settings.forRepo(repo, task.installationId))
      const [first = "", ...rest] = (params.instructions ?? "").trim().split("\n")
      const body = [`@${repoSettings.mentionName} continue ${first}`.trim(), ...rest].join("\n")
      const parsed = parser.parse(body, repoSettings)
      if (parsed._tag !== "Continue") {
        return yield* new ToolFailure({
          message: `Nothing was posted: ${parsed._tag === "Problem" ? parsed.message : "not a continue command"}`
        })
      }
      const comment = yield* postComment({
        apiUrl: config.githubApiUrl,
        token: caller.user.githubToken,
        repo,
        issue: task.issueNumber,
        body
      }).pipe(Effect.provide(http))
      yield* Effect.logInfo("mcp: continue posted", { user: caller.login, repo, issue: task.issueNumber })
      const next = yield* taskFor(repo, task.issueNumber, comment.id)
      return {
        commentUrl: comment.url,
        ...(Option.isSome(next) ? { task: summaryOf(next.value) } : {}),
        message: Option.isSome(next)
          ? `Porter took it: task ${next.value.id} continues ${task.id} (${next.value.state}). get_task shows how it ` +
            "goes; its status comment says whether the session was resumed."
          : "The command is on the issue, but Porter has not recorded a task for it yet (it may have answered on " +
            "the issue instead). list_tasks shows the task once it exists."
      }
    })

    const getTranscript = Effect.fn("Mcp.getTranscript")(function*(params: {
      readonly task_id?: string | undefined
      readonly repository?: string | undefined
      readonly issue?: number | undefined
    }) {
      const { task } = yield* referencedTask(yield* Caller, params)
      const now = yield* Clock.currentTimeMillis
      // A store that does not answer reads as no transcript: the rest still answers.
      const kept = yield* artifacts.get(task.id, "transcript").pipe(Effect.orElseSucceed(() => Option.none()))
      const transcript = Option.map(kept, (artifact) =>
        artifact.content.length > TRANSCRIPT_CHARS
          ? `[… the first ${artifact.content.length - TRANSCRIPT_CHARS} characters left out]\n${
            artifact.content.slice(-TRANSCRIPT_CHARS)
          }`
          : artifact.content)
      return {
        taskId: task.id,
        state: task.state,
        ...(task.summary !== undefined ? { summary: task.summary } : {}),
        ...(task.reason !== undefined ? { reason: task.reason } : {}),
        ...(task.logTail !== undefined ? { logTail: task.logTail } : {}),
        ...(task.prUrl !== undefined ? { prUrl: task.prUrl } : {}),
        ...(Option.isSome(transcript) ? { transcript: transcript.value } : {}),
        ...(task.transcriptUrl !== undefined ? { transcriptUrl: task.transcriptUrl } : {}),
        note: task.isTerminal
          ? Option.isSome(transcript)
            ? "The run's transcript as Porter keeps it, the agent's summary and the last lines of its output."
            : "No transcript is kept for this task (none was handed over, or its retention period has passed): this " +
              "is the agent's summary and the last lines of the run's output."
          : `The task is ${task.state} (${Math.round((now - task.createdAt) / 1000)} s since it was asked for): ` +
            "the output arrives when the run ends."
      }
    })

    return PorterTools.of({
      list_tasks: listTasks,
      get_task: getTask,
      start_task: startTask,
      cancel_task: cancelTask,
      retry_task: retryTask,
      continue_task: continueTask,
      get_transcript: getTranscript
    })
  })

/** The tools' handlers, over Porter's services, the web app's `Access` and configuration, and an `HttpClient`. */
export const layer = (options: HandlerOptions = {}) => PorterTools.toLayer(make(options))
