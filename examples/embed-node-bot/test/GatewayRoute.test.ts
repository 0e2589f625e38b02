/**
 * The bot's direct `node:http` route for model calls (`GatewayRoute`), in front of the scripted model server and a
 * slow stand-in: a streamed call metered and recorded, refusals in the provider's format (401, 404, 413), the
 * provider's 429 scrubbed of the key, 502 when it cannot be reached, and a client going away mid-answer stops the
 * upstream call (its connection closed before the answer's end) with what came counted. A body with its length
 * declared goes upstream as it arrives. A call that ends over the task's budget is counted before the client's next
 * call, even one sent the moment the answer ended and admitted at once (`admitNow`).
 */
import { assert, describe, it } from "@effect/vitest"
import { GatewayRoute, WebhookRoute } from "@porter-examples/embed-node-bot"
import { Ids, ModelUsage, Porter, SecretStore, Settings } from "@porter/core"
import { Fixtures, Machines, TestPorter } from "@porter/testing"
import * as ModelServer from "@porter/testkit/model"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { createServer, request as httpRequest, type Server } from "node:http"
import type { AddressInfo } from "node:net"

const ANTHROPIC_KEY = "sk-ant-api03-REALKEY-route-test-0001"
const OPENAI_KEY = "sk-proj-REALKEY-route-test-0002"

const listen = (server: Server) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<string>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
      )
    ),
    () =>
      Effect.sync(() => {
        server.closeAllConnections()
        server.close()
      })
  )

/**
 * Porter's services over in-memory stores, the route on a `node:http` server of its own; its URL. `cacheMs` 0 (the
 * default here): every call is admitted through `admit`, reading the task; more, and a task's next calls are
 * admitted at once (`admitNow`).
 */
const served = (
  upstreams: { readonly anthropic: string; readonly openai: string },
  options: { readonly cacheMs?: number; readonly settings?: Settings.RepoSettings } = {}
) => {
  const services = TestPorter.layer({
    secrets: [
      { scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY },
      { scope: SecretStore.scopes.global, name: "OPENAI_API_KEY", value: OPENAI_KEY }
    ],
    ...(options.settings !== undefined ? { settings: options.settings } : {}),
    config: {
      gateway: {
        upstreams: { ...upstreams, gemini: upstreams.anthropic },
        cacheMs: options.cacheMs ?? 0,
        maxRequestBytes: 4096
      }
    }
  })
  const slot = WebhookRoute.makeSlot()
  const route = GatewayRoute.layer(slot, { logRequests: false })
  return { layer: Layer.provideMerge(route, services), slot }
}

const startTask = Effect.gen(function*() {
  const porter = yield* Porter.Porter
  yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
  const spec = (yield* (yield* Machines).created).at(-1)!.spec
  return { taskId: spec.taskId, credential: Redacted.value(spec.secretEnv["GATEWAY_TOKEN"]!) }
})

const anthropic = (credential: string, body: string) => ({
  method: "POST",
  headers: { "content-type": "application/json", "x-api-key": credential, "anthropic-version": "2023-06-01" },
  body
})

const messages = (stream = true) =>
  JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 100, stream, messages: [{ role: "user", content: "x" }] })

const recorded = (taskId: Ids.TaskId, calls: number) =>
  Effect.gen(function*() {
    const usage = yield* ModelUsage.UsageStore
    return yield* usage.task(taskId).pipe(
      Effect.filterOrFail((totals) => totals.calls >= calls, () => "pending" as const),
      Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 })
    )
  })

describe("GatewayRoute (node:http)", () => {
  it.live("streamed, metered and recorded; refusals in the provider's format; the provider's 429 scrubbed; 502", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script: [ModelServer.text("Done.")] })
      const limited = createServer((request, response) => {
        request.resume()
        response.writeHead(429, { "content-type": "application/json", "retry-after": "7" })
        response.end(JSON.stringify({ error: { message: `slow down ${request.headers["authorization"]}` } }))
      })
      const limitedUrl = yield* listen(limited)
      const { layer, slot } = served({ anthropic: model.url, openai: `${limitedUrl}/v1` })
      yield* Effect.gen(function*() {
        const url = yield* listen(WebhookRoute.makeServer(slot)())
        const call = (path: string, init?: RequestInit) => Effect.promise(() => fetch(`${url}${path}`, init))
        const { credential, taskId } = yield* startTask
        const base = `/gateway/tasks/${taskId}`

        const ok = yield* call(`${base}/anthropic/v1/messages`, anthropic(credential, messages()))
        assert.strictEqual(ok.status, 200)
        assert.include(ok.headers.get("content-type") ?? "", "text/event-stream")
        assert.include(yield* Effect.promise(() => ok.text()), "event: message_stop")
        assert.strictEqual(model.requests().at(-1)!.headers["x-api-key"], ANTHROPIC_KEY)
        const totals = yield* recorded(taskId, 1)
        assert.strictEqual(totals.inputTokens, model.usage().inputTokens)
        assert.strictEqual(totals.outputTokens, model.usage().outputTokens)

        const wrong = yield* call(`${base}/anthropic/v1/messages`, anthropic("nope", messages()))
        assert.strictEqual(wrong.status, 401)
        assert.strictEqual(((yield* Effect.promise(() => wrong.json())) as any).error.type, "authentication_error")
        const missing = yield* call("/gateway/elsewhere")
        assert.strictEqual(missing.status, 404)
        const unknown = yield* call(`${base}/anthropic/v1/files`, { headers: { "x-api-key": credential } })
        assert.strictEqual(unknown.status, 404)
        const large = yield* call(`${base}/anthropic/v1/messages`, anthropic(credential, "x".repeat(8192)))
        assert.strictEqual(large.status, 413)
        assert.strictEqual(((yield* Effect.promise(() => large.json())) as any).error.type, "request_too_large")

        const slow = yield* call(`${base}/openai/v1/responses`, {
          method: "POST",
          headers: { authorization: `Bearer ${credential}` },
          body: "{}"
        })
        assert.strictEqual(slow.status, 429)
        assert.strictEqual(slow.headers.get("retry-after"), "7")
        const text = yield* Effect.promise(() => slow.text())
        assert.include(text, "slow down Bearer [redacted]")
        assert.notInclude(text, OPENAI_KEY)
      }).pipe(Effect.provide(layer))

      const gone = served({ anthropic: "http://127.0.0.1:9", openai: "http://127.0.0.1:9/v1" })
      yield* Effect.gen(function*() {
        const url = yield* listen(WebhookRoute.makeServer(gone.slot)())
        const { credential, taskId } = yield* startTask
        const answer = yield* Effect.promise(() =>
          fetch(`${url}/gateway/tasks/${taskId}/anthropic/v1/messages`, anthropic(credential, messages()))
        )
        assert.strictEqual(answer.status, 502)
        assert.include(((yield* Effect.promise(() => answer.json())) as any).error.message, "could not be reached")
      }).pipe(Effect.provide(gone.layer))
    }))

  it.live("a call that ends over the task's budget is counted before the client's next call, sent at once", () =>
    Effect.gen(function*() {
      const model = yield* ModelServer.start({ script: [] })
      // Every call costs more than the cap: the first is allowed (its cost is known only once it ended), not the next
      // — even sent the moment the first answer ended, and admitted at once from the kept grant (`admitNow`).
      const settings = Fixtures.budgetBelowOneCall()
      const { layer, slot } = served({ anthropic: model.url, openai: `${model.url}/v1` }, { cacheMs: 60_000, settings })
      yield* Effect.gen(function*() {
        const url = yield* listen(WebhookRoute.makeServer(slot)())
        for (let issueNumber = 1; issueNumber <= 5; issueNumber++) {
          const porter = yield* Porter.Porter
          yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it", issueNumber }))
          const spec = (yield* (yield* Machines).created).at(-1)!.spec
          const credential = Redacted.value(spec.secretEnv["GATEWAY_TOKEN"]!)
          const endpoint = `${url}/gateway/tasks/${spec.taskId}/anthropic/v1/messages`
          const [first, second] = yield* Effect.promise(async () => {
            const first = await fetch(endpoint, anthropic(credential, messages()))
            const text = await first.text()
            const second = await fetch(endpoint, anthropic(credential, messages()))
            return [{ status: first.status, text }, { status: second.status, text: await second.text() }] as const
          })
          assert.strictEqual(first.status, 200)
          assert.include(first.text, "event: message_stop")
          assert.strictEqual(second.status, 403, `task ${issueNumber}: the second call went through`)
          assert.include(second.text, "budget reached")
        }
        assert.strictEqual(model.requests().length, 5, "one call per task reached the provider")
      }).pipe(Effect.provide(layer))
    }))

  it.live("a client going away mid-answer stops the upstream call; what came is counted", () =>
    Effect.gen(function*() {
      let closedEarly: (() => void) | undefined
      const upstreamClosed = new Promise<void>((resolve) => (closedEarly = resolve))
      const slow = createServer((request, response) => {
        request.resume()
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write(
          `event: message_start\ndata: {"type":"message_start","message":{"model":"claude-sonnet-4-5",` +
            `"usage":{"input_tokens":10,"output_tokens":1}}}\n\n`
        )
        const timer = setInterval(() => response.write("event: ping\ndata: {}\n\n"), 20)
        response.on("close", () => {
          clearInterval(timer)
          if (!response.writableFinished) closedEarly!()
        })
      })
      const slowUrl = yield* listen(slow)
      const { layer, slot } = served({ anthropic: slowUrl, openai: `${slowUrl}/v1` })
      yield* Effect.gen(function*() {
        const url = yield* listen(WebhookRoute.makeServer(slot)())
        const { credential, taskId } = yield* startTask
        const controller = new AbortController()
        const answer = yield* Effect.promise(() =>
          fetch(`${url}/gateway/tasks/${taskId}/anthropic/v1/messages`, {
            ...anthropic(credential, messages()),
            signal: controller.signal
          })
        )
        assert.strictEqual(answer.status, 200)
        const reader = answer.body!.getReader()
        yield* Effect.promise(() => reader.read())
        controller.abort()
        yield* Effect.promise(() => upstreamClosed).pipe(Effect.timeout("5 seconds"))
        const totals = yield* recorded(taskId, 1)
        assert.strictEqual(totals.inputTokens, 10)
      }).pipe(Effect.provide(layer))
    }))

  it.live("a body with its length declared goes upstream as it arrives, whole", () =>
    Effect.gen(function*() {
      let arrived: (() => void) | undefined
      const upstreamAsked = new Promise<void>((resolve) => (arrived = resolve))
      const received: Array<Buffer> = []
      const echo = createServer((request, response) => {
        arrived!()
        request.on("data", (chunk: Buffer) => received.push(chunk))
        request.on("end", () => {
          response.writeHead(200, { "content-type": "application/json" })
          response.end(JSON.stringify({ input_tokens: Buffer.concat(received).byteLength }))
        })
      })
      const echoUrl = yield* listen(echo)
      const { layer, slot } = served({ anthropic: echoUrl, openai: `${echoUrl}/v1` })
      yield* Effect.gen(function*() {
        const url = new URL(yield* listen(WebhookRoute.makeServer(slot)()))
        const { credential, taskId } = yield* startTask
        const first = Buffer.from(
          `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"${"a".repeat(1000)}`
        )
        const second = Buffer.from(`${"b".repeat(1000)}"}]}`)
        const client = httpRequest({
          host: url.hostname,
          port: url.port,
          method: "POST",
          path: `/gateway/tasks/${taskId}/anthropic/v1/messages/count_tokens`,
          headers: {
            "content-type": "application/json",
            "content-length": first.byteLength + second.byteLength,
            "x-api-key": credential
          }
        })
        const answered = new Promise<{ status: number; body: string }>((resolve) =>
          client.on("response", (response) => {
            let text = ""
            response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
            response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }))
          })
        )
        client.write(first)
        // The provider is asked while the rest of the body has not been sent: nothing waits for the whole of it.
        yield* Effect.promise(() => upstreamAsked).pipe(Effect.timeout("5 seconds"))
        client.end(second)
        const answer = yield* Effect.promise(() => answered)
        assert.strictEqual(answer.status, 200)
        assert.deepStrictEqual(JSON.parse(answer.body), { input_tokens: first.byteLength + second.byteLength })
        assert.isTrue(Buffer.concat(received).equals(Buffer.concat([first, second])))
      }).pipe(Effect.provide(layer))
    }))
})
