/**
 * A bot on Porter: Porter's routes plus `GET /stats?repo=owner/name`, the repository's tasks counted by state.
 * It depends only on Porter's ports, so tests run it on in-memory layers and production on D1, Fly and GitHub.
 */
import { HttpApp, Task, TaskStore } from "@porter/core"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

export const statsRoute = HttpRouter.use(
  Effect.fn("StatsBot.routes")(function*(router) {
    const store = yield* TaskStore.TaskStore
    yield* router.add("GET", "/stats", (request) =>
      Effect.gen(function*() {
        const repo = new URL(request.url, "http://bot").searchParams.get("repo")
        if (repo === null) {
          return HttpServerResponse.jsonUnsafe({ error: "?repo=owner/name is required" }, { status: 400 })
        }
        const tasks = yield* store.list({ repo, limit: 1000 })
        const counts = Object.fromEntries(Task.TaskState.literals.map((state) => [state, 0]))
        for (const task of tasks) counts[task.state] = (counts[task.state] ?? 0) + 1
        return HttpServerResponse.jsonUnsafe({ repo, total: tasks.length, ...counts })
      }).pipe(
        Effect.orElseSucceed(() => HttpServerResponse.jsonUnsafe({ error: "storage unavailable" }, { status: 503 }))
      ))
  })
)

/** Porter's app and the bot's own route, ready for `HttpRouter.serve` or `HttpRouter.toWebHandler`. */
export const routes: Layer.Layer<never, never, Layer.Services<typeof HttpApp.routes>> = Layer.mergeAll(
  HttpApp.routes,
  statsRoute
)
