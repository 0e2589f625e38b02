// `POST /webhooks/github` in workerd takes the Worker's direct route (body read before the handler, no router):
// every answer of core's webhook endpoint, through the real socket — a first delivery, its duplicate, a bad
// signature, a body that is not JSON, a declared and a chunked body past the limit, and a URL with a query (which
// the direct route's path check leaves to `new URL`).
import { assert, describe, it } from "@effect/vitest"
import * as Local from "@porter/worker/local"
import { Effect } from "effect"
import { createHmac, randomUUID } from "node:crypto"
import { workerEnvFor } from "./support/Env.ts"

const payload = JSON.stringify({
  action: "created",
  issue: { number: 7, title: "The parser rejects ISO weeks", body: "", state: "open" },
  comment: { id: 1, body: "@porter script do it", user: { login: "reader", id: 7001, type: "User" } },
  repository: { name: "parser", owner: { login: "octo-org" }, default_branch: "main" },
  sender: { login: "reader", id: 7001, type: "User" },
  installation: { id: 31 }
})

const MAX_WEBHOOK_BYTES = 1024 * 1024

describe("the Worker's webhook route", () => {
  it.live("answers as core's webhook endpoint does", () =>
    Effect.gen(function*() {
      // GitHub unreachable: the background work of the accepted delivery fails and is logged, after the answer.
      const env = workerEnvFor({ github: "http://127.0.0.1:9" })
      const worker = yield* Local.start({ env }).pipe(Effect.orDie)
      const sign = (body: string) =>
        `sha256=${createHmac("sha256", env["GITHUB_WEBHOOK_SECRET"]!).update(body).digest("hex")}`
      const post = (
        body: string | (() => ReadableStream<Uint8Array>),
        headers: Record<string, string>,
        path = "/webhooks/github"
      ) =>
        Effect.promise(async () => {
          const send = () =>
            fetch(`${worker.url}${path}`, {
              method: "POST",
              body: typeof body === "string" ? body : body(),
              headers: { "content-type": "application/json", "x-github-event": "issue_comment", ...headers },
              ...(typeof body === "string" ? {} : { duplex: "half" })
            } as RequestInit)
          // An oversized body is answered before it is read, and workerd may close the connection while the client
          // is still writing it (EPIPE, before the answer is read): that send is made again, a few times at most.
          let response: Response | undefined
          for (let attempt = 1; response === undefined; attempt++) {
            try {
              response = await send()
            } catch (error) {
              const code = (error as { cause?: { code?: string } }).cause?.code
              if (attempt >= 3 || (code !== "EPIPE" && code !== "ECONNRESET")) throw error
            }
          }
          return { status: response.status, body: (await response.json()) as Record<string, unknown> }
        })

      const delivery = randomUUID()
      const first = yield* post(payload, { "x-github-delivery": delivery, "x-hub-signature-256": sign(payload) })
      assert.deepStrictEqual(first, { status: 202, body: { accepted: true, deliveryId: delivery } })
      const again = yield* post(payload, { "x-github-delivery": delivery, "x-hub-signature-256": sign(payload) })
      assert.deepStrictEqual(again, { status: 200, body: { ignored: "duplicate delivery" } })

      const forged = yield* post(payload, { "x-github-delivery": randomUUID(), "x-hub-signature-256": sign("{}") })
      assert.strictEqual(forged.status, 401)
      const notJson = yield* post("{not json", {
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": sign("{not json")
      })
      assert.strictEqual(notJson.status, 400)

      const big = " ".repeat(MAX_WEBHOOK_BYTES + 1)
      const declared = yield* post(big, { "x-github-delivery": randomUUID(), "x-hub-signature-256": sign(big) })
      assert.strictEqual(declared.status, 413)
      const chunks = new TextEncoder().encode(big)
      const chunked = yield* post(
        () =>
          new ReadableStream({
            start: (controller) => {
              for (let at = 0; at < chunks.length; at += 64 * 1024) {
                controller.enqueue(chunks.subarray(at, at + 64 * 1024))
              }
              controller.close()
            }
          }),
        { "x-github-delivery": randomUUID(), "x-hub-signature-256": sign(big) }
      )
      assert.strictEqual(chunked.status, 413)

      const withQuery = randomUUID()
      const queried = yield* post(
        payload,
        { "x-github-delivery": withQuery, "x-hub-signature-256": sign(payload) },
        "/webhooks/github?source=test"
      )
      assert.deepStrictEqual(queried, { status: 202, body: { accepted: true, deliveryId: withQuery } })

      const claimed = yield* Effect.promise(() =>
        worker.db.prepare("SELECT count(*) AS n FROM deliveries WHERE id IN (?, ?)").bind(delivery, withQuery)
          .first<{ n: number }>()
      )
      assert.strictEqual(claimed?.n, 2)
    }).pipe(Effect.scoped), 60_000)
})
