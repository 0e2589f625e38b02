/**
 * Porter's web app and MCP server in process for tests: routes on Porter's in-memory layers (`TestPorter`), sessions
 * and tokens in memory, GitHub played by the emulator (OAuth web flow, user tokens, permissions, comments) on
 * loopback. People: the repository's owner, a writer, a reader and someone without access.
 */
import type { Dispatcher, TaskLifecycle, TaskStore } from "@porter/core"
import { McpApp } from "@porter/mcp"
import { TestPorter } from "@porter/testing"
import { GitHubEmulator } from "@porter/testkit"
import { Browser } from "@porter/testkit/browser"
import { SessionStore, TokenStore, WebApp, WebConfig } from "@porter/web"
import { Context, Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import type { Fetch } from "./Client.ts"

export const ORIGIN = "http://porter.test"

export interface Person {
  readonly login: string
  readonly id: number
  readonly token: string
}

export interface TestApp {
  readonly emulator: GitHubEmulator.Emulator
  readonly handler: (request: Request) => Promise<Response>
  /** `fetch` for the MCP client: Porter's origin in process, anything else over the network. */
  readonly fetch: Fetch
  readonly repo: string
  readonly owner: Person
  readonly writer: Person
  readonly reader: Person
  readonly outsider: Person
  readonly browser: () => Browser
  readonly run: <A, E>(
    effect: Effect.Effect<A, E, TaskStore.TaskStore | TaskLifecycle.TaskLifecycle | Dispatcher.Dispatcher>
  ) => Promise<A>
}

export class App extends Context.Service<App, TestApp>()("@porter/mcp/test/App") {}

const rest = (emulator: GitHubEmulator.Emulator, token: string, method: string, path: string, body?: unknown) =>
  Effect.promise(() => GitHubEmulator.rest(token, method, `${emulator.url}${path}`, body))

export const layer: Layer.Layer<App> = Layer.effect(
  App,
  Effect.gen(function*() {
    const emulator = yield* GitHubEmulator.start()
    const owner = emulator.admin
    yield* rest(emulator, owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const person = (login: string) => Effect.promise(() => emulator.createUser(login))
    const writer = yield* person("wendy")
    const reader = yield* person("rita")
    const outsider = yield* person("olga")
    yield* rest(emulator, owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, { permission: "push" })
    yield* rest(emulator, owner.token, "PUT", `/repos/${repo}/collaborators/${reader.login}`, { permission: "pull" })

    const porter = TestPorter.layer()
    const config = Layer.orDie(WebConfig.layer({
      clientId: emulator.oauth.clientId,
      clientSecret: Redacted.make(emulator.oauth.clientSecret),
      sessionSecret: Redacted.make("a-test-session-secret-of-more-than-32-characters"),
      publicUrl: ORIGIN,
      githubWebUrl: emulator.url,
      githubApiUrl: emulator.url,
      accessTtlMs: 0
    }))
    const memoMap = Layer.makeMemoMapUnsafe()
    const runtime = ManagedRuntime.make(porter, { memoMap })
    const web = HttpRouter.toWebHandler(
      Layer.mergeAll(WebApp.layer, McpApp.layer({ startWaitMs: 500 })).pipe(
        Layer.provide(Layer.mergeAll(config, SessionStore.layerMemory, TokenStore.layerMemory)),
        Layer.provideMerge(porter),
        Layer.provide(HttpServer.layerServices)
      ),
      { memoMap, disableLogger: true }
    )
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([web.dispose(), runtime.dispose()])))
    const handler = (request: Request) => web.handler(request)
    const fetchVia: Fetch = (input, init) => {
      const request = new Request(input, init)
      return new URL(request.url).origin === ORIGIN ? handler(request) : fetch(request)
    }
    return App.of({
      emulator,
      handler,
      fetch: fetchVia,
      repo,
      owner,
      writer,
      reader,
      outsider,
      browser: () => new Browser(ORIGIN, handler),
      run: (effect) => runtime.runPromise(effect)
    })
  })
)
