/**
 * The model gateway (`ModelGateway`, served by `HttpApp` under `/gateway/tasks/:id/<provider>/…`), through a Web
 * `Request`, in front of the scripted model server (`@porter/testkit/model`): each provider's API streamed through
 * with the stored key attached and the task's gateway credential accepted where the CLI puts its key; the answer
 * metered from its final events and priced; every refusal in the provider's own error format.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Diagnostics,
  HttpApp,
  Ids,
  ModelGateway,
  ModelUsage,
  Porter,
  SecretStore,
  Settings,
  TaskStore,
  TaskTokens
} from "@porter/core"
import { Fixtures, GitHubRecorder, Machines, TestPorter } from "@porter/testing"
import * as ModelServer from "@porter/testkit/model"
import { Clock, Context, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

const ANTHROPIC_KEY = "sk-ant-api03-REALKEY-gateway-test-0001"
const OPENAI_KEY = "sk-proj-REALKEY-gateway-test-0002"
const GEMINI_KEY = "AIzaREALKEY-gateway-test-0003"

const script = [ModelServer.bash("echo hi"), ModelServer.text("Done.")]
const tools = [{ name: "Bash", description: "run", input_schema: { type: "object", properties: { command: {} } } }]

const layerWith = (upstream: string, settings?: Settings.RepoSettings, extra: Partial<TestPorter.Options> = {}) =>
  TestPorter.layer({
    secrets: [
      { scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY },
      { scope: SecretStore.scopes.global, name: "OPENAI_API_KEY", value: OPENAI_KEY },
      { scope: SecretStore.scopes.global, name: "GEMINI_API_KEY", value: GEMINI_KEY }
    ],
    ...(settings !== undefined ? { settings } : {}),
    config: {
      gateway: { upstreams: { anthropic: upstream, openai: `${upstream}/v1`, gemini: upstream }, cacheMs: 0 }
    },
    ...extra
  })

/** The API as a Web handler over the test's services. */
const handlerOf = Effect.gen(function*() {
  const context = yield* Effect.context<TestPorter.Services | Porter.Services | Diagnostics.Diagnostics>()
  const app = HttpApp.routes.pipe(
    Layer.provide(Layer.mergeAll(Layer.succeedContext(context), HttpServer.layerServices))
  )
  const { dispose, handler } = HttpRouter.toWebHandler(app, { disableLogger: true })
  yield* Effect.addFinalizer(() => Effect.promise(dispose))
  return (path: string, init?: RequestInit) =>
    Effect.promise(() => handler(new Request(`http://porter.test${path}`, init)))
})

/** A claude task through Porter; its gateway URL path and credential (from what its machine got). */
const startTask = (body = "@porter claude fix it", issueNumber = 1) =>
  Effect.gen(function*() {
    const porter = yield* Porter.Porter
    yield* porter.handle(Fixtures.commentCreated({ body, issueNumber }))
    const created = yield* (yield* Machines).created
    const spec = created[created.length - 1]!.spec
    return {
      taskId: spec.taskId,
      base: `/gateway/tasks/${spec.taskId}`,
      credential: Redacted.value(spec.secretEnv["GATEWAY_TOKEN"]!),
      spec
    }
  })

const json = (value: unknown) => JSON.stringify(value)

/** Polls until the task's recorded calls reach `calls`. */
const recorded = (taskId: Ids.TaskId, calls: number) =>
  Effect.gen(function*() {
    const usage = yield* ModelUsage.UsageStore
    return yield* usage.task(taskId).pipe(
      Effect.filterOrFail((totals) => totals.calls >= calls, () => "pending" as const),
      Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 })
    )
  })

const anthropicRequest = (credential: string, stream = true) => ({
  method: "POST",
  headers: { "content-type": "application/json", "x-api-key": credential, "anthropic-version": "2023-06-01" },
  body: json({ model: "claude-sonnet-4-5", max_tokens: 100, stream, tools, messages: [{ role: "user", content: "x" }] })
})

describe("model gateway", () => {
  it.live("the machine gets base URLs and a gateway credential, never a provider key", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script })
      yield* Effect.gen(function*() {
        const { credential, spec, taskId } = yield* startTask()
        assert.strictEqual(spec.env["MODEL_GATEWAY_URL"], `http://porter.test/gateway/tasks/${taskId}`)
        assert.deepStrictEqual(Object.keys(spec.secretEnv).sort(), ["CALLBACK_TOKEN", "GATEWAY_TOKEN"])
        const everything = JSON.stringify({ env: spec.env, secrets: Object.values(spec.secretEnv).map(Redacted.value) })
        for (const key of [ANTHROPIC_KEY, OPENAI_KEY, GEMINI_KEY]) assert.notInclude(everything, key)
        // Its own HMAC: not the task token (which opens callbacks, change sets and the clone).
        assert.notStrictEqual(credential, Redacted.value(spec.secretEnv["CALLBACK_TOKEN"]!))
        const tokens = yield* TaskTokens.TaskTokens
        assert.isTrue(yield* tokens.verify(taskId, credential, "gateway"))
        assert.isFalse(yield* tokens.verify(taskId, credential))
      }).pipe(Effect.provide(layerWith(model.url)))
    }))

  it.live("Anthropic: streamed through with the stored key, metered from message_start/message_delta, priced", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script })
      yield* Effect.gen(function*() {
        const call = yield* handlerOf
        const { base, credential, taskId } = yield* startTask()
        const response = yield* call(`${base}/anthropic/v1/messages?beta=true`, anthropicRequest(credential))
        assert.strictEqual(response.status, 200)
        assert.include(response.headers.get("content-type") ?? "", "text/event-stream")
        const text = yield* Effect.promise(() => response.text())
        assert.include(text, "event: message_stop")
        const seen = model.requests().at(-1)!
        assert.strictEqual(seen.headers["x-api-key"], ANTHROPIC_KEY)
        assert.strictEqual(seen.path, "/v1/messages?beta=true")
        assert.notInclude(JSON.stringify(seen.headers), credential)
        const totals = yield* recorded(taskId, 1)
        const served = model.usage()
        assert.strictEqual(totals.inputTokens, served.inputTokens)
        assert.strictEqual(totals.outputTokens, served.outputTokens)
        // claude-sonnet-4…: $3 in, $15 out per million.
        assert.approximately(totals.costUsd, (served.inputTokens * 3 + served.outputTokens * 15) / 1e6, 1e-12)

        // Not streamed: the JSON answer's usage; token counts pass through unmetered.
        const plain = yield* call(`${base}/anthropic/v1/messages`, anthropicRequest(credential, false))
        assert.strictEqual(plain.status, 200)
        const message = (yield* Effect.promise(() => plain.json())) as { usage: { output_tokens: number } }
        const after = yield* recorded(taskId, 2)
        assert.strictEqual(after.outputTokens - totals.outputTokens, message.usage.output_tokens)
        const count = yield* call(`${base}/anthropic/v1/messages/count_tokens`, anthropicRequest(credential, false))
        assert.strictEqual(count.status, 200)
        yield* Effect.sleep("50 millis")
        assert.strictEqual((yield* recorded(taskId, 2)).calls, 2)
      }).pipe(Effect.provide(layerWith(model.url)))
    }))

  it.live("OpenAI Responses and Chat Completions (Bearer), Gemini (x-goog-api-key and ?key=): all metered", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script })
      yield* Effect.gen(function*() {
        const call = yield* handlerOf
        const { base, credential, taskId } = yield* startTask()
        const bearer = { "content-type": "application/json", authorization: `Bearer ${credential}` }
        const fnTools = [{ type: "function", name: "shell", parameters: { type: "object", properties: {} } }]

        const responses = yield* call(`${base}/openai/v1/responses`, {
          method: "POST",
          headers: bearer,
          body: json({ model: "gpt-5-codex", stream: true, input: "x", tools: fnTools })
        })
        assert.strictEqual(responses.status, 200)
        assert.include(yield* Effect.promise(() => responses.text()), "response.completed")
        assert.strictEqual(model.requests().at(-1)!.headers["authorization"], `Bearer ${OPENAI_KEY}`)
        const afterResponses = yield* recorded(taskId, 1)
        assert.isAbove(afterResponses.outputTokens, 0)

        // A stream that does not ask for usage is asked for it (and metered exactly, not estimated).
        const chat = yield* call(`${base}/openai/v1/chat/completions`, {
          method: "POST",
          headers: bearer,
          body: json({ model: "gpt-4.1", stream: true, messages: [{ role: "user", content: "x" }] })
        })
        const chatText = yield* Effect.promise(() => chat.text())
        assert.include(chatText, "\"usage\"")
        assert.deepStrictEqual((model.requests().at(-1)!.body as { stream_options: unknown }).stream_options, {
          include_usage: true
        })
        yield* recorded(taskId, 2)

        const models = yield* call(`${base}/openai/v1/models`, { headers: { authorization: `Bearer ${credential}` } })
        assert.strictEqual(models.status, 200)

        const gemini = (path: string, headers: Record<string, string>) =>
          call(`${base}/gemini/v1beta/models/gemini-2.5-pro:${path}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...headers },
            body: json({ contents: [{ role: "user", parts: [{ text: "x" }] }] })
          })
        const streamed = yield* gemini("streamGenerateContent?alt=sse", { "x-goog-api-key": credential })
        assert.strictEqual(streamed.status, 200)
        assert.include(yield* Effect.promise(() => streamed.text()), "usageMetadata")
        const seen = model.requests().at(-1)!
        assert.strictEqual(seen.headers["x-goog-api-key"], GEMINI_KEY)
        assert.strictEqual(seen.path, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
        const byQuery = yield* gemini(`generateContent?key=${credential}`, {})
        assert.strictEqual(byQuery.status, 200)
        assert.include(yield* Effect.promise(() => byQuery.text()), "usageMetadata")
        assert.notInclude(model.requests().at(-1)!.path, "key=")
        const totals = yield* recorded(taskId, 4)
        assert.strictEqual(totals.calls, 4)
        assert.strictEqual(totals.inputTokens, model.usage().inputTokens)
        assert.strictEqual(totals.outputTokens, model.usage().outputTokens)
      }).pipe(Effect.provide(layerWith(model.url)))
    }))

  it.live("refusals in each provider's format: 401, 403 ended / past deadline / no key, 404, 413", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script })
      yield* Effect.gen(function*() {
        const call = yield* handlerOf
        const first = yield* startTask()
        const second = yield* startTask("@porter claude fix that", 2)
        assert.notStrictEqual(first.taskId, second.taskId)
        const refused = (response: Response) =>
          Effect.promise(async () => ({ status: response.status, body: await response.json() as any }))

        const wrong = yield* refused(yield* call(`${first.base}/anthropic/v1/messages`, anthropicRequest("nope")))
        assert.strictEqual(wrong.status, 401)
        assert.strictEqual(wrong.body.type, "error")
        assert.strictEqual(wrong.body.error.type, "authentication_error")
        // Another task's credential, the task token, no credential at all.
        const other = yield* refused(
          yield* call(`${first.base}/anthropic/v1/messages`, anthropicRequest(second.credential))
        )
        assert.strictEqual(other.status, 401)
        const taskToken = Redacted.value(first.spec.secretEnv["CALLBACK_TOKEN"]!)
        const openai = yield* refused(
          yield* call(`${first.base}/openai/v1/responses`, {
            method: "POST",
            headers: { authorization: `Bearer ${taskToken}` },
            body: "{}"
          })
        )
        assert.deepStrictEqual([openai.status, openai.body.error.code], [401, "invalid_api_key"])
        const gemini = yield* refused(
          yield* call(`${first.base}/gemini/v1beta/models/gemini-2.5-pro:generateContent`, {
            method: "POST",
            body: "{}"
          })
        )
        assert.deepStrictEqual([gemini.status, gemini.body.error.status], [401, "UNAUTHENTICATED"])

        const unknown = yield* refused(
          yield* call(`${first.base}/openai/v1/files`, { headers: { authorization: `Bearer ${first.credential}` } })
        )
        assert.deepStrictEqual([unknown.status, unknown.body.error.code], [404, "not_found"])
        const wrongMethod = yield* refused(yield* call(`${first.base}/anthropic/v1/messages`))
        assert.strictEqual(wrongMethod.status, 404)
        assert.strictEqual((yield* refused(yield* call("/gateway/elsewhere"))).status, 404)

        const tooLarge = yield* refused(
          yield* call(`${first.base}/anthropic/v1/messages`, {
            method: "POST",
            headers: { "x-api-key": first.credential },
            body: "x".repeat(2048)
          })
        )
        assert.deepStrictEqual([tooLarge.status, tooLarge.body.error.type], [413, "request_too_large"])

        // Ended, then past its deadline.
        const porter = yield* Porter.Porter
        yield* porter.cancelTask(first.taskId, "test")
        const ended = yield* refused(
          yield* call(`${first.base}/anthropic/v1/messages`, anthropicRequest(first.credential))
        )
        assert.deepStrictEqual([ended.status, ended.body.error.type], [403, "permission_error"])
        assert.include(ended.body.error.message, "has ended")
        const store = yield* TaskStore.TaskStore
        yield* store.update(second.taskId, { deadlineAt: 1 }, Date.now(), ["provisioning", "running", "queued"])
        const late = yield* refused(
          yield* call(`${second.base}/anthropic/v1/messages`, anthropicRequest(second.credential))
        )
        assert.strictEqual(late.status, 403)
        assert.include(late.body.error.message, "deadline")
        assert.strictEqual(model.requests().length, 0, "nothing reached the provider")
      }).pipe(Effect.provide(layerWith(model.url, undefined, { config: smallBodies(model.url) })))
    }))

  it.live("a body Porter leaves as it is is piped by a host that can (unread); a Chat Completions body is read", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script })
      yield* Effect.gen(function*() {
        const gateway = yield* ModelGateway.ModelGateway
        const { credential, taskId } = yield* startTask()
        let reads = 0
        const offered = (
          provider: "anthropic" | "openai",
          rest: string,
          headers: Record<string, string>,
          pipeableBytes: number
        ) =>
          gateway.admit({
            taskId,
            provider,
            method: "POST",
            rest,
            search: "",
            headers,
            body: () => Effect.sync(() => (reads++, new TextEncoder().encode("{\"stream\":true,\"messages\":[]}"))),
            pipeableBytes
          })
        const piped = yield* offered("anthropic", "v1/messages", { "x-api-key": credential }, 700)
        assert.isTrue(ModelGateway.isAdmitted(piped))
        assert.deepStrictEqual(ModelGateway.isAdmitted(piped) && [piped.pipe, piped.body, reads], [700, undefined, 0])
        // Porter adds `stream_options` to a Chat Completions body: it reads it first, whatever the host offers.
        const read = yield* offered("openai", "v1/chat/completions", { authorization: `Bearer ${credential}` }, 30)
        assert.isTrue(ModelGateway.isAdmitted(read))
        assert.strictEqual(ModelGateway.isAdmitted(read) && read.pipe, undefined)
        assert.include(ModelGateway.isAdmitted(read) ? new TextDecoder().decode(read.body) : "", "include_usage")
        assert.strictEqual(reads, 1)
        // Declared over the limit (1,024 bytes here): read, within the limit, as without piping.
        yield* offered("anthropic", "v1/messages", { "x-api-key": credential }, 4096)
        assert.strictEqual(reads, 2)
      }).pipe(Effect.provide(layerWith(model.url, undefined, { config: smallBodies(model.url) })))
    }))

  it.live("admitNow: once a task's grant is kept, the same call as admit at once; otherwise it says to call admit", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script })
      const cacheMs = 60_000
      yield* Effect.gen(function*() {
        const gateway = yield* ModelGateway.ModelGateway
        const { credential, taskId } = yield* startTask()
        const context = yield* Effect.context<never>()
        const request = (key: string, pipeableBytes?: number): ModelGateway.GatewayRequest => ({
          taskId,
          provider: "anthropic",
          method: "POST",
          rest: "v1/messages",
          search: "",
          headers: { "x-api-key": key, "content-type": "application/json" },
          body: () => Effect.succeed(new TextEncoder().encode(anthropicRequest(key).body)),
          pipeableBytes
        })
        // Nothing verified or kept yet: admit must run.
        assert.isUndefined(gateway.admitNow(request(credential, 300), context))
        const admitted = yield* gateway.admit(request(credential, 300))
        assert.isTrue(ModelGateway.isAdmitted(admitted))
        const now = gateway.admitNow(request(credential, 300), context)
        assert.isTrue(now !== undefined && ModelGateway.isAdmitted(now))
        if (now === undefined || !ModelGateway.isAdmitted(now) || !ModelGateway.isAdmitted(admitted)) return
        assert.deepStrictEqual([now.url, now.headers, now.pipe], [admitted.url, admitted.headers, admitted.pipe])
        assert.strictEqual(now.headers["x-api-key"], ANTHROPIC_KEY)
        // A wrong credential is refused at once, in the provider's format.
        const wrong = gateway.admitNow(request("sk-ant-wrong-credential-0000", 300), context)
        assert.strictEqual(wrong !== undefined && !ModelGateway.isAdmitted(wrong) && wrong.status, 401)
        // A body to read first, or a grant kept past `gateway.cacheMs` by the caller's clock: admit.
        assert.isUndefined(gateway.admitNow(request(credential), context))
        const later = Context.add(context, Clock.Clock, {
          ...Context.get(context, Clock.Clock),
          currentTimeMillisUnsafe: () => Date.now() + cacheMs + 1
        })
        assert.isUndefined(gateway.admitNow(request(credential, 300), later))
        // Metered as admit's calls are: the answer's usage recorded for the task.
        const meter = now.meter()!
        const events = [
          {
            type: "message_start",
            message: { model: "claude-sonnet-4-5", usage: { input_tokens: 120, output_tokens: 1 } }
          },
          { type: "message_delta", usage: { output_tokens: 30 } }
        ]
        meter.push(new TextEncoder().encode(events.map((e) => `event: ${e.type}\ndata: ${json(e)}\n\n`).join("")))
        meter.end()
        const totals = yield* recorded(taskId, 1)
        assert.deepStrictEqual([totals.inputTokens, totals.outputTokens], [120, 30])
      }).pipe(Effect.provide(layerWith(model.url, undefined, {
        config: { gateway: { upstreams: { anthropic: model.url }, cacheMs } }
      })))
    }))

  it.live("the provider's 429 with Retry-After passes through, scrubbed of the key; unreachable → 502", () =>
    Effect.gen(function*() {
      const upstream = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<{ url: string; close: () => void }>((resolve) => {
            const server = createServer((request, response) => {
              request.resume()
              response.writeHead(429, { "content-type": "application/json", "retry-after": "7", "set-cookie": "a=b" })
              response.end(json({
                type: "error",
                error: { type: "rate_limit_error", message: `slow down ${request.headers["x-api-key"]}` }
              }))
            })
            server.listen(0, "127.0.0.1", () =>
              resolve({
                url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
                close: () => server.close()
              }))
          })
        ),
        (server) => Effect.sync(server.close)
      )
      yield* Effect.gen(function*() {
        const call = yield* handlerOf
        const { base, credential } = yield* startTask()
        const limited = yield* call(`${base}/anthropic/v1/messages`, anthropicRequest(credential))
        assert.strictEqual(limited.status, 429)
        assert.strictEqual(limited.headers.get("retry-after"), "7")
        assert.isNull(limited.headers.get("set-cookie"))
        const text = yield* Effect.promise(() => limited.text())
        assert.include(text, "slow down [redacted]")
        assert.notInclude(text, ANTHROPIC_KEY)
        const gone = yield* call(`${base}/openai/v1/responses`, {
          method: "POST",
          headers: { authorization: `Bearer ${credential}` },
          body: "{}"
        })
        assert.strictEqual(gone.status, 502)
        const body = (yield* Effect.promise(() => gone.json())) as { error: { message: string } }
        assert.include(body.error.message, "could not be reached")
      }).pipe(Effect.provide(TestPorter.layer({
        secrets: [
          { scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY },
          { scope: SecretStore.scopes.global, name: "OPENAI_API_KEY", value: OPENAI_KEY }
        ],
        config: { gateway: { upstreams: { anthropic: upstream.url, openai: "http://127.0.0.1:9/v1" } } }
      })))
    }))

  it.live("a running task's status comment shows what it has spent so far and its budget", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script })
      yield* Effect.gen(function*() {
        const call = yield* handlerOf
        const { base, credential, taskId } = yield* startTask("@porter claude --budget 2.5 fix it")
        const porter = yield* Porter.Porter
        yield* porter.callback(taskId, { type: "started" })
        const response = yield* call(`${base}/anthropic/v1/messages`, anthropicRequest(credential))
        yield* Effect.promise(() => response.text())
        yield* recorded(taskId, 1)
        const shown = yield* (yield* GitHubRecorder).allText.pipe(
          Effect.filterOrFail((texts) => texts.some((t) => t.includes("Spent so far")), () => "pending" as const),
          Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 })
        )
        const status = shown.find((t) => t.includes("Spent so far"))!
        assert.include(status, "🏃")
        assert.match(status, /Spent so far: \d[\d,]* input \/ \d+ output tokens · \$0\.\d{4} of \$2\.50 budget/)
      }).pipe(Effect.provide(layerWith(model.url)))
    }))

  it.live("a task over its budget: the next call is refused and the task ends failed, budget reached", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script: [] })
      // Every call costs more than the cap: the first is allowed (its cost is known only once it ended), not the next.
      const settings = Fixtures.budgetBelowOneCall()
      yield* Effect.gen(function*() {
        const call = yield* handlerOf
        const { base, credential, taskId } = yield* startTask()
        const first = yield* call(`${base}/anthropic/v1/messages`, anthropicRequest(credential))
        assert.strictEqual(first.status, 200)
        yield* Effect.promise(() => first.text())
        yield* recorded(taskId, 1)
        const second = yield* call(`${base}/anthropic/v1/messages`, anthropicRequest(credential))
        assert.strictEqual(second.status, 403)
        const body = (yield* Effect.promise(() => second.json())) as { error: { message: string } }
        assert.include(body.error.message, "budget reached")
        const task = yield* (yield* TaskStore.TaskStore).get(taskId)
        assert.strictEqual(task.state, "failed")
        assert.include(task.reason ?? "", "budget reached")
        assert.include(task.reason ?? "", "of this task's $0.000001 budget")
        assert.isAbove(task.usage?.costUsd ?? 0, 0)
        assert.strictEqual(model.requests().length, 1)
        assert.isTrue(Option.isSome(Option.fromNullishOr(task.finishedAt)))
      }).pipe(Effect.provide(layerWith(model.url, settings)))
    }))
})

const smallBodies = (upstream: string) => ({
  gateway: {
    upstreams: { anthropic: upstream, openai: `${upstream}/v1`, gemini: upstream },
    cacheMs: 0,
    maxRequestBytes: 1024
  }
})
