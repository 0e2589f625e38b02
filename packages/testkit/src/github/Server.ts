/**
 * The emulator's HTTP server: effect's `HttpRouter` served by `@effect/platform-node`'s `NodeHttpServer`
 * on 127.0.0.1. One router holds the git smart-HTTP routes (`GitHttp.ts`) and the REST routes
 * (`Router.ts`, added once the URL they put in answers is known); a path neither serves is GitHub's
 * JSON 404. The server stops when the scope closes:
 * `git http-backend` programs still running are killed and open connections closed first, so closing
 * never waits for a client.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { isHttpServerError } from "effect/http/HttpServerError"
import type { ChildProcess } from "node:child_process"
import { createServer } from "node:http"
import * as GitHttp from "./GitHttp.ts"
import type { Route } from "./Http.ts"
import { httpRoutes, notFoundResponse } from "./Router.ts"
import type { State } from "./State.ts"

export interface ServerOptions {
  readonly state: State
  /** The directory holding the bare repositories (`<owner>/<repo>.git`). */
  readonly dataDir: string
  /** 0: a free port. */
  readonly port: number
}

export interface Served {
  readonly port: number
  /** Adds REST routes (they need the URL, known only once listening). */
  readonly addRoutes: (routes: ReadonlyArray<Route>) => Effect.Effect<void>
}

/** Serves git (and the REST routes added) until the scope closes. */
export const serve = (options: ServerOptions): Effect.Effect<Served, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { state } = options
    const server = createServer()
    const children = new Set<ChildProcess>()
    const router = yield* HttpRouter.make.pipe(
      Effect.provideService(HttpRouter.RouterConfig, { caseSensitive: true, maxParamLength: 1000 })
    )
    yield* router.addAll(GitHttp.routes({
      state,
      dataDir: options.dataDir,
      notFound: () => notFoundResponse(state),
      track: (child) => {
        children.add(child)
        child.once("exit", () => children.delete(child))
      }
    }))
    const app = router.asHttpEffect().pipe(
      Effect.catch((error) =>
        isHttpServerError(error) && error.reason._tag === "RouteNotFound"
          ? Effect.succeed(notFoundResponse(state))
          : Effect.fail(error)
      )
    )
    const served = HttpServer.serve(app).pipe(
      Layer.provide(NodeHttpServer.layer(() => server, { port: options.port, host: "127.0.0.1" }))
    )
    yield* Layer.build(served).pipe(Effect.orDie)
    // Runs before the server's own finalizers (added while building): nothing left to wait for.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const child of children) child.kill("SIGKILL")
        server.closeAllConnections()
      })
    )
    const address = server.address()
    return {
      port: typeof address === "object" && address !== null ? address.port : options.port,
      addRoutes: (routes) => router.addAll(httpRoutes(state, routes))
    }
  })
