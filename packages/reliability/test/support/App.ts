/**
 * Porter's HTTP app in-process, as a Web handler: core's `HttpApp.routes` with the **real** GitHub webhook intake
 * (`GitHubWebhooks`: HMAC check, decoding) in front of `Porter` over the in-memory layers of `@porter/testing`
 * (background work inline, so a request's task exists when its answer does). The task store counts the tasks it
 * creates, so a fuzzer can check that an input created exactly what it should.
 */
import {
  AgentCatalog,
  Authorizer,
  Background,
  CommandParser,
  Diagnostics,
  HttpApp,
  Porter,
  PorterConfig,
  PromptBuilder,
  RepoTokens,
  SecretStore,
  Settings,
  TaskStore,
  TaskTokens
} from "@porter/core"
import { GitHubWebhooks } from "@porter/github"
import {
  InMemoryArtifactStore,
  InMemoryProvisioner,
  InMemoryRepoWriter,
  InMemorySecretStore,
  InMemoryTaskStore,
  InMemoryUsageStore,
  type Machines,
  RecordingReporter
} from "@porter/testing"
import { Cause, Context, Effect, Layer, Logger, Redacted, type Scope } from "effect"
import { HttpClient, HttpClientResponse, HttpRouter, HttpServer } from "effect/http"

export const WEBHOOK_SECRET = "reliability-webhook-secret-0123456789"
export const TASK_TOKEN_SECRET = Redacted.make("reliability-task-token-secret")
/** Small, so that oversized bodies are cheap to generate. */
export const MAX_WEBHOOK_BYTES = 64 * 1024
/** The model gateway's body limit: small too. */
export const MAX_GATEWAY_BYTES = 64 * 1024

/** Provider keys stored in the app: no answer may carry one. */
export const PROVIDER_KEYS = {
  ANTHROPIC_API_KEY: "sk-ant-api03-FUZZ-anthropic-key-0f3e9a1b",
  OPENAI_API_KEY: "sk-proj-FUZZ-openai-key-77c2d401",
  GEMINI_API_KEY: "AIzaFUZZ-gemini-key-5be19c3d"
} as const

/** The gateway's upstream, answered in process by `modelStub`. */
export const MODEL_URL = "http://model.test"

const sse = (lines: ReadonlyArray<string>) => lines.map((line) => `data: ${line}\n\n`).join("")

/**
 * A provider stand-in for the model gateway's upstream: 200 with usage (a stream when asked for one) — or, when the
 * request says so, a 4xx that echoes the key it was sent (`porter-fuzz-echo`) or a 429 (`porter-fuzz-limit`). Never a
 * 5xx: every 5xx a fuzzer sees is Porter's own.
 */
export const modelStub = (request: Request, body: string): Response => {
  const key = request.headers.get("x-api-key") ?? request.headers.get("x-goog-api-key") ??
    request.headers.get("authorization") ?? ""
  if (body.includes("porter-fuzz-echo")) {
    return Response.json({ error: { message: `invalid key: ${key}` } }, { status: 401 })
  }
  if (body.includes("porter-fuzz-limit")) {
    return Response.json({ error: { message: "slow down" } }, { status: 429, headers: { "retry-after": "3" } })
  }
  const usage = { input_tokens: 10, output_tokens: 2, prompt_tokens: 10, completion_tokens: 2 }
  if (/"stream"\s*:\s*true/.test(body) || request.url.includes("alt=sse")) {
    return new Response(
      sse([
        JSON.stringify({ type: "message_start", message: { model: "claude-sonnet-4-5", usage } }),
        JSON.stringify({ type: "message_delta", usage, usageMetadata: { promptTokenCount: 10 } })
      ]),
      { headers: { "content-type": "text/event-stream" } }
    )
  }
  return Response.json({ model: "gpt-5", usage, usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 2 } })
}

export interface App {
  readonly handler: (request: Request) => Promise<Response>
  /** Tasks the store has created so far. */
  readonly created: () => number
  readonly store: TaskStore.TaskStore["Service"]
  readonly tokens: TaskTokens.TaskTokens["Service"]
  readonly machines: Machines["Service"]
  readonly parser: CommandParser.CommandParser["Service"]
  readonly settings: Settings.RepoSettings
  /** What the app logged (nothing reaches the console). */
  readonly logs: () => ReadonlyArray<LogLine>
}

export interface LogLine {
  readonly level: string
  readonly message: string
  readonly cause: string
}

/** No per-repository or per-user limit gets in the way of a fuzzer creating thousands of tasks. */
export const settings = new Settings.RepoSettings({
  ...Settings.defaults,
  maxActivePerRepo: 1_000_000,
  maxActivePerUser: 1_000_000
})

/** Builds the app for the scope's lifetime. */
export const make: Effect.Effect<App, never, Scope.Scope> = Effect.gen(function*() {
  let created = 0
  const counting = Layer.effect(
    TaskStore.TaskStore,
    Effect.map(
      InMemoryTaskStore.make,
      (store) =>
        TaskStore.TaskStore.of({
          ...store,
          create: (task) => Effect.tap(store.create(task), () => Effect.sync(() => void created++))
        })
    )
  )
  const services = Layer.mergeAll(
    counting,
    InMemorySecretStore.layer(
      Object.entries(PROVIDER_KEYS).map(([name, value]) => ({ scope: SecretStore.scopes.global, name, value }))
    ),
    Settings.layerMemory(settings),
    InMemoryProvisioner.layer,
    RecordingReporter.layer,
    Authorizer.layerAllowAll,
    RepoTokens.layerStatic(Redacted.make("ghs_reliabilityRepoToken0000000000000")),
    CommandParser.layer.pipe(Layer.provideMerge(AgentCatalog.layer)),
    PromptBuilder.layer,
    TaskTokens.layer(TASK_TOKEN_SECRET),
    PorterConfig.layer({
      publicUrl: "http://porter.test",
      maxWebhookBytes: MAX_WEBHOOK_BYTES,
      reportRetry: { times: 0, baseDelayMs: 0 },
      gateway: {
        upstreams: { anthropic: MODEL_URL, openai: `${MODEL_URL}/v1`, gemini: MODEL_URL },
        maxRequestBytes: MAX_GATEWAY_BYTES
      }
    }),
    Background.layerInline,
    GitHubWebhooks.layer({ secret: Redacted.make(WEBHOOK_SECRET) }),
    InMemoryRepoWriter.layer,
    InMemoryUsageStore.layer,
    InMemoryArtifactStore.layer,
    // The git proxy's upstream: no repository exists there (a fuzzer's clone with a real token gets GitHub's 404).
    // The model gateway's: `modelStub`.
    Layer.succeed(
      HttpClient.HttpClient,
      HttpClient.make((request, url) =>
        url.href.startsWith(MODEL_URL)
          ? Effect.promise(async () => {
            const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
            const web = new Request(url.href, { method: request.method, headers: request.headers })
            return HttpClientResponse.fromWeb(request, modelStub(web, body))
          })
          : Effect.succeed(HttpClientResponse.fromWeb(request, new Response("Repository not found.", { status: 404 })))
      )
    )
  )
  const context = yield* Layer.build(
    Layer.merge(Porter.layer, Diagnostics.layerBasic).pipe(Layer.provideMerge(services))
  ).pipe(
    Effect.orDie
  )
  const logs: Array<LogLine> = []
  const recorder = Logger.make(({ cause, logLevel, message }) => {
    logs.push({
      level: logLevel,
      message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
      cause: Cause.pretty(cause)
    })
  })
  const routes = HttpApp.routes.pipe(
    Layer.provideMerge(Layer.mergeAll(
      Layer.succeedContext(context),
      Logger.layer([recorder])
    )),
    Layer.provide(HttpServer.layerServices)
  )
  const { dispose, handler } = HttpRouter.toWebHandler(routes, { disableLogger: true })
  yield* Effect.addFinalizer(() => Effect.promise(dispose))
  return {
    handler: (request: Request) => handler(request),
    created: () => created,
    store: Context.get(context, TaskStore.TaskStore),
    tokens: Context.get(context, TaskTokens.TaskTokens),
    machines: Context.get(context, InMemoryProvisioner.Machines),
    parser: Context.get(context, CommandParser.CommandParser),
    settings,
    logs: () => [...logs]
  } satisfies App
})
