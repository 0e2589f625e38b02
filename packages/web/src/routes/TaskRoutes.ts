/**
 * Tasks: the list (`/app/tasks`), one task (`/app/tasks/:taskId`), its transcript (`…/transcript`: the scrubbed text
 * Porter keeps, `PORTER_TRANSCRIPT_URL`'s page), its live part (`…/live?v=<version>`: 204 when
 * nothing changed, else `{ version, active, html }`), and for writers `POST …/cancel` (`TaskLifecycle.cancelTask`) and
 * `POST …/retry` (`Dispatcher.retry`, as the signed-in user: their keys apply). A task of a repository the user cannot
 * read is 404, like one that does not exist; cancel and retry without write access too.
 */
import { ArtifactStore, Dispatcher, Ids, Repo, Task, TaskLifecycle, TaskStore } from "@porter/core"
import { Clock, Effect, Option, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { canRead, canSteer, readable } from "../Access.ts"
import { toString } from "../Html.ts"
import * as TaskPage from "../pages/TaskPage.ts"
import * as TasksPage from "../pages/TasksPage.ts"
import * as TranscriptPage from "../pages/TranscriptPage.ts"
import * as TaskListing from "../TaskListing.ts"
import { WebConfig } from "../WebConfig.ts"
import { type Context, type Guard, htmlResponse, jsonResponse, NotFound, redirect } from "../WebHttp.ts"

const PAGE_SIZE = 50

const DONE: Record<string, string> = {
  "cancelled": "The task was cancelled.",
  "stopping": "The task is stopping: its machine hands over the work so far (a draft pull request, if there is any), " +
    "then it ends cancelled.",
  "ended": "The task had already ended.",
  "retried": "This is the retry: a new task of the same issue.",
  "limit": "Not retried: the repository's or your active-task limit is reached. Retry when a task ends.",
  "active": "The task is still active: cancel it before retrying."
}

const decodeTaskId = Schema.decodeUnknownOption(Ids.TaskId)
const decodeState = Schema.decodeUnknownOption(Task.TaskState)
const optionalText = (value: string | null) => {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed.length === 0 ? undefined : trimmed.slice(0, 100)
}

export const routes = (guard: Guard) =>
  HttpRouter.use(
    Effect.fn("WebApp.taskRoutes")(function*(router) {
      const config = yield* WebConfig
      const store = yield* TaskStore.TaskStore
      const lifecycle = yield* TaskLifecycle.TaskLifecycle
      const dispatcher = yield* Dispatcher.Dispatcher
      const artifacts = yield* ArtifactStore.ArtifactStore

      /** The task `rawId` names, if the viewer may read it; else `NotFound`. */
      const visibleTask = (context: Context, rawId: string | undefined) =>
        Effect.gen(function*() {
          const id = decodeTaskId(rawId)
          if (Option.isNone(id)) return yield* new NotFound()
          const task = yield* store.find(id.value)
          if (Option.isNone(task) || !canRead(context.viewer, task.value.repo.fullName)) return yield* new NotFound()
          return task.value
        })

      const pageInput = (context: Context, task: Task.Task) =>
        Effect.gen(function*() {
          return {
            frame: context.frame,
            viewerId: context.viewer.userId,
            task,
            events: yield* store.events(task.id),
            canSteer: canSteer(context.viewer, task.repo.fullName),
            now: yield* Clock.currentTimeMillis,
            githubWebUrl: config.githubWebUrl,
            message: DONE[context.url.searchParams.get("done") ?? ""]
          } satisfies TaskPage.TaskPageInput
        })

      yield* router.add("GET", "/app", HttpServerResponse.redirect("/app/tasks", { status: 302 }))

      yield* router.add("GET", "/app/tasks", (request) =>
        guard.page(request, (context) =>
          Effect.gen(function*() {
            const query = context.url.searchParams
            const repos = readable(context.viewer).map((repo) => repo.fullName)
            const repo = optionalText(query.get("repo"))
            const filters: TasksPage.Filters = {
              repo,
              state: Option.getOrUndefined(decodeState(query.get("state") ?? "")),
              user: optionalText(query.get("user"))?.replace(/^@/, ""),
              agent: optionalText(query.get("agent"))
            }
            const before = Option.getOrUndefined(decodeTaskId(query.get("before") ?? ""))
            const result = yield* TaskListing.list(store, {
              // A repository the user cannot read lists nothing, as if it had no tasks.
              repos: repo === undefined ? repos : repos.filter((name) => name.toLowerCase() === repo.toLowerCase()),
              state: filters.state,
              user: filters.user,
              agent: filters.agent,
              before,
              limit: PAGE_SIZE
            })
            return htmlResponse(
              TasksPage.render({ frame: context.frame, repos, filters, result, paged: before !== undefined })
            )
          })))

      yield* router.add("GET", "/app/tasks/:taskId", (request) =>
        Effect.flatMap(HttpRouter.params, (params) =>
          guard.page(request, (context) =>
            Effect.gen(function*() {
              const task = yield* visibleTask(context, params["taskId"])
              return htmlResponse(TaskPage.render(yield* pageInput(context, task)))
            }))))

      yield* router.add("GET", "/app/tasks/:taskId/transcript", (request) =>
        Effect.flatMap(HttpRouter.params, (params) =>
          guard.page(request, (context) =>
            Effect.gen(function*() {
              const task = yield* visibleTask(context, params["taskId"])
              // A store that does not answer shows as no transcript, like one the retention period dropped.
              const transcript = yield* artifacts.get(task.id, "transcript").pipe(
                Effect.orElseSucceed(() =>
                  Option.none<ArtifactStore.Artifact>()
                )
              )
              return htmlResponse(
                TranscriptPage.render({ frame: context.frame, task, transcript: Option.getOrUndefined(transcript) })
              )
            }))))

      yield* router.add("GET", "/app/tasks/:taskId/live", (request) =>
        Effect.flatMap(HttpRouter.params, (params) =>
          guard.page(request, (context) =>
            Effect.gen(function*() {
              const task = yield* visibleTask(context, params["taskId"])
              const input = yield* pageInput(context, task)
              const version = TaskPage.versionOf(task, input.events)
              if (context.url.searchParams.get("v") === version) {
                return HttpServerResponse.empty({ status: 204, headers: { "cache-control": "no-store" } })
              }
              return jsonResponse({ version, active: !task.isTerminal, html: toString(TaskPage.live(input)) })
            }))))

      yield* router.add("POST", "/app/tasks/:taskId/cancel", (request) =>
        Effect.flatMap(HttpRouter.params, (params) =>
          guard.action(request, (context) =>
            Effect.gen(function*() {
              const task = yield* visibleTask(context, params["taskId"])
              if (!canSteer(context.viewer, task.repo.fullName)) {
                return yield* new NotFound()
              }
              const cancelled = yield* lifecycle.cancelTask(
                task.id,
                `cancelled by @${context.viewer.login} in the web app`
              )
                .pipe(Effect.catchTag("TaskNotFound", () =>
                  Effect.fail(new NotFound())))
              // A running task first hands over its work so far (a checkpoint): it ends cancelled a little later.
              const after = yield* store.find(task.id).pipe(Effect.map(Option.getOrUndefined))
              const done = !cancelled ? "ended" : after !== undefined && !after.isTerminal ? "stopping" : "cancelled"
              return redirect(`/app/tasks/${task.id}?done=${done}`)
            }))))

      yield* router.add("POST", "/app/tasks/:taskId/retry", (request) =>
        Effect.flatMap(HttpRouter.params, (params) =>
          guard.action(request, (context) =>
            Effect.gen(function*() {
              const task = yield* visibleTask(context, params["taskId"])
              if (!canSteer(context.viewer, task.repo.fullName)) {
                return yield* new NotFound()
              }
              if (!task.isTerminal) {
                return redirect(`/app/tasks/${task.id}?done=active`)
              }
              const by = new Repo.Actor({ login: context.viewer.login, id: context.viewer.userId, type: "User" })
              const retried = yield* dispatcher.retry(task, by)
              return Option.isSome(retried)
                ? redirect(`/app/tasks/${retried.value.id}?done=retried`)
                : redirect(`/app/tasks/${task.id}?done=limit`)
            }))))
    })
  )
