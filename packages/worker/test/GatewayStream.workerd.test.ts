// The Worker's model gateway in workerd (`WorkerGateway`: workerd's own `fetch`, the answer metered as the client pulls
// it), against a provider stand-in that streams slowly: the answer reaches the client chunk by chunk as the provider
// sends it (never held back), and a client going away mid-answer stops the upstream call — the stand-in sees its
// connection closed before the answer's end. A large body goes upstream whole, with its length.
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { createHash } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as ModelStack from "./support/ModelStack.ts"
import { comment, eventually, machineOf, openIssue, Stack, tasksOf } from "./support/Stack.ts"

/** What the stand-in saw: answers closed before their end; each request body's length, and the length declared. */
const seen = {
  closedEarly: 0,
  bodies: [] as Array<{ readonly bytes: number; readonly declared: string | undefined; readonly sha: string }>
}

const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

/** Streams `message_start`, then a delta every 50 ms: 6 of them and the end, or forever for the model "endless". */
const slowProvider = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ url: string; close: () => void }>((resolve) => {
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body = Buffer.concat(chunks)
          seen.bodies.push({
            bytes: body.byteLength,
            declared: request.headers["content-length"],
            sha: createHash("sha256").update(body).digest("hex")
          })
          const endless = body.toString("utf8").includes("\"endless\"")
          response.writeHead(200, { "content-type": "text/event-stream" })
          response.write(event("message_start", {
            type: "message_start",
            message: { model: "claude-sonnet-4-5", usage: { input_tokens: 10, output_tokens: 1 } }
          }))
          let sent = 0
          const timer = setInterval(() => {
            if (!endless && sent === 6) {
              clearInterval(timer)
              response.end(event("message_delta", { type: "message_delta", usage: { output_tokens: 6 } }))
              return
            }
            sent++
            response.write(event("content_block_delta", { type: "content_block_delta", delta: { text: "x" } }))
          }, 50)
          response.on("close", () => {
            clearInterval(timer)
            if (!response.writableFinished) seen.closedEarly++
          })
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resolve({
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          close: () => {
            server.closeAllConnections()
            server.close()
          }
        }))
    })
  ),
  (server) => Effect.sync(server.close)
)

const StreamStack = Layer.unwrap(
  Effect.map(slowProvider, (provider) => ModelStack.layerWith({ PORTER_GATEWAY_ANTHROPIC_URL: provider.url }))
)

const messages = (model: string) =>
  JSON.stringify({ model, max_tokens: 100, stream: true, messages: [{ role: "user", content: "x" }] })

layer(StreamStack, { timeout: "180 seconds", excludeTestServices: true })("gateway streams (workerd)", (it) => {
  it.effect(
    "chunk by chunk as the provider sends them; a client going away cancels the upstream call",
    () =>
      Effect.gen(function*() {
        const { worker, writer } = yield* Stack
        const issue = yield* openIssue("Stream")
        yield* comment(writer, issue.number, "@porter script wait\n\n```porter-script\nsleep 120\n```")
        const task = yield* eventually(
          "the task to run",
          Effect.map(tasksOf(issue.number), (tasks) => Option.fromNullishOr(tasks[0]))
        )
        const machine = yield* machineOf(task.id)
        const url = `${worker.url}/gateway/tasks/${task.id}/anthropic/v1/messages`
        const headers = { "content-type": "application/json", "x-api-key": machine.env["GATEWAY_TOKEN"]! }

        // Chunk by chunk: the first event long before the answer's end (6 × 50 ms).
        const timing = yield* Effect.promise(async () => {
          const started = performance.now()
          const response = await fetch(url, { method: "POST", headers, body: messages("claude-sonnet-4-5") })
          const reader = response.body!.getReader()
          let first = 0
          let text = ""
          const decoder = new TextDecoder()
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            if (first === 0) first = performance.now() - started
            text += decoder.decode(value, { stream: true })
          }
          return { status: response.status, first, total: performance.now() - started, text }
        })
        assert.strictEqual(timing.status, 200)
        assert.include(timing.text, "message_delta")
        assert.isBelow(timing.first, timing.total - 150, "the first chunk came before the rest")

        // A large body (2 MiB) is passed on byte for byte, its length declared.
        const large = Buffer.from(JSON.stringify({
          model: "claude-sonnet-4-5",
          max_tokens: 100,
          stream: true,
          messages: [{ role: "user", content: "é".repeat(1024 * 1024) }]
        }))
        const passed = yield* Effect.promise(async () => {
          const response = await fetch(url, { method: "POST", headers, body: large })
          return { status: response.status, text: await response.text() }
        })
        assert.strictEqual(passed.status, 200, passed.text.slice(0, 300))
        assert.deepStrictEqual(seen.bodies.at(-1), {
          bytes: large.byteLength,
          declared: String(large.byteLength),
          sha: createHash("sha256").update(large).digest("hex")
        })

        // The client goes away after the first chunk: the provider's connection closes before its (endless) end.
        const controller = new AbortController()
        yield* Effect.promise(async () => {
          const response = await fetch(url, {
            method: "POST",
            headers,
            body: messages("endless"),
            signal: controller.signal
          })
          await response.body!.getReader().read()
          controller.abort()
        })
        yield* eventually(
          "the upstream call to be cancelled",
          Effect.sync(() => (seen.closedEarly > 0 ? Option.some(seen.closedEarly) : Option.none())),
          "10 seconds"
        )
      }),
    180_000
  )
})
