/**
 * The web app in process for tests: its routes on Porter's in-memory layers (`TestPorter`), sessions in memory,
 * GitHub played by the emulator (OAuth web flow, user tokens, permissions) on loopback. People: the repository's
 * owner (`admin`, also the operator), a writer, a reader and someone without access.
 */
import type { ArtifactStore, Dispatcher, SecretStore, TaskLifecycle, TaskStore } from "@porter/core"
import { TestPorter } from "@porter/testing"
import { GitHubEmulator } from "@porter/testkit"
import { Browser } from "@porter/testkit/browser"
import { SessionStore, TokenStore, WebApp, WebConfig } from "@porter/web"
import { Context, Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { HttpRouter, HttpServer } from "effect/http"

export const ORIGIN = "http://porter.test"

export interface Person {
  readonly login: string
  readonly id: number
  readonly token: string
}

export interface TestApp {
  readonly emulator: GitHubEmulator.Emulator
  readonly handler: (request: Request) => Promise<Response>
  readonly repo: string
  readonly owner: Person
  readonly writer: Person
  readonly reader: Person
  readonly outsider: Person
  readonly browser: () => Browser
  readonly run: <A, E>(
    effect: Effect.Effect<
      A,
      E,
      | TaskStore.TaskStore
      | SecretStore.SecretStore
      | TaskLifecycle.TaskLifecycle
      | Dispatcher.Dispatcher
      | ArtifactStore.ArtifactStore
    >
  ) => Promise<A>
}

export class App extends Context.Service<App, TestApp>()("@porter/web/test/App") {}

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
    const config = WebConfig.layer({
      clientId: emulator.oauth.clientId,
      clientSecret: Redacted.make(emulator.oauth.clientSecret),
      sessionSecret: Redacted.make("a-test-session-secret-of-more-than-32-characters"),
      operators: [owner.login],
      publicUrl: ORIGIN,
      githubWebUrl: emulator.url,
      githubApiUrl: emulator.url,
      accessTtlMs: 0
    })
    const memoMap = Layer.makeMemoMapUnsafe()
    const runtime = ManagedRuntime.make(porter, { memoMap })
    const web = HttpRouter.toWebHandler(
      WebApp.layer.pipe(
        Layer.provide(Layer.mergeAll(Layer.orDie(config), SessionStore.layerMemory, TokenStore.layerMemory)),
        Layer.provideMerge(porter),
        Layer.provide(HttpServer.layerServices)
      ),
      { memoMap, disableLogger: true }
    )
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([web.dispose(), runtime.dispose()])))
    return App.of({
      emulator,
      handler: (request) => web.handler(request),
      repo,
      owner,
      writer,
      reader,
      outsider,
      browser: () => new Browser(ORIGIN, (request) => web.handler(request)),
      run: (effect) => runtime.runPromise(effect)
    })
  })
)
