// Webhooks arriving back to back at a cold Worker, in workerd: the first deliveries' background work fetches an
// installation token and a permission check that the later ones wait for (shared caches). Every delivery must
// still be handled to the end. Before `WorkerAsyncHooks` and the keep-alive in `WorkerBackground`, the runs that
// waited for another request's lookup never finished (workerd refused Effect's `AsyncResource` from the other
// request, or cancelled their I/O when that request ended).
import { assert, describe, it } from "@effect/vitest"
import * as Local from "@porter/worker/local"
import { Effect, Option, Schedule } from "effect"
import { createHmac, randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { workerEnvFor } from "./support/Env.ts"

/** GitHub, answering what the refusal path asks, a little late so that lookups overlap. */
const stubGitHub = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly comments: () => number; readonly close: () => void }>((resume) => {
    let comments = 0
    const server = createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        const url = request.url ?? ""
        const send = (status: number, body: unknown) =>
          setTimeout(() => {
            response.writeHead(status, { "content-type": "application/json" })
            response.end(JSON.stringify(body))
          }, 20)
        if (request.method === "POST" && url.endsWith("/access_tokens")) {
          return send(201, { token: "ghs_concurrency", expires_at: new Date(Date.now() + 3_600_000).toISOString() })
        }
        if (url.endsWith("/installation")) return send(200, { id: 31 })
        if (url.endsWith("/permission")) {
          return send(200, { permission: "read", role_name: "read", user: { login: "reader" } })
        }
        if (request.method === "POST" && url.endsWith("/comments")) return send(201, { id: ++comments })
        send(404, { message: "Not Found" })
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, comments: () => comments, close: () => server.close() }))
    })
  }),
  (stub) => Effect.sync(() => stub.close())
)

const payload = (commentId: number) =>
  JSON.stringify({
    action: "created",
    // One issue each: an outsider is refused at most once per issue an hour.
    issue: { number: commentId, title: "The parser rejects ISO weeks", body: "", state: "open" },
    comment: { id: commentId, body: "@porter script do it", user: { login: "reader", id: 7001, type: "User" } },
    repository: { name: "parser", owner: { login: "octo-org" }, default_branch: "main" },
    sender: { login: "reader", id: 7001, type: "User" },
    installation: { id: 31 }
  })

describe("a cold Worker under a burst of webhooks", () => {
  it.live("handles every delivery to the end", () =>
    Effect.gen(function*() {
      const github = yield* stubGitHub
      const env = workerEnvFor({ github: github.url })
      const worker = yield* Local.start({ env }).pipe(Effect.orDie)
      const deliveries = 30
      // Back to back, each answered before the next is sent (as GitHub does for one App).
      for (let i = 1; i <= deliveries; i++) {
        const body = payload(i)
        const status = yield* Effect.promise(async () => {
          const response = await worker.fetch(`${worker.url}/webhooks/github`, {
            method: "POST",
            body,
            headers: {
              "content-type": "application/json",
              "x-github-event": "issue_comment",
              "x-github-delivery": randomUUID(),
              "x-hub-signature-256": `sha256=${
                createHmac("sha256", env["GITHUB_WEBHOOK_SECRET"]!).update(body).digest("hex")
              }`
            }
          })
          await response.arrayBuffer()
          return response.status
        })
        assert.strictEqual(status, 202)
      }
      const pending = Effect.promise(() =>
        worker.db.prepare("SELECT count(*) AS n FROM deliveries WHERE completed_at IS NULL").first<{ n: number }>()
      )
      // Each run takes well under a second; 20 s is far beyond a slow machine.
      const settled = yield* pending.pipe(
        Effect.flatMap((row) => (row?.n === 0 ? Effect.void : Effect.fail("pending" as const))),
        Effect.retry(Schedule.spaced("100 millis")),
        Effect.timeoutOption("20 seconds")
      )
      const left = (yield* pending)?.n
      assert.isTrue(Option.isSome(settled), `${left} of ${deliveries} deliveries never finished`)
      assert.strictEqual(github.comments(), deliveries, "one refusal per delivery")
      // A request whose run another request's code resumed is kept open until that run ends: workerd did not end it
      // early and drop its continuations (which left the run counted as in flight for good, see WorkerBackground).
      assert.deepStrictEqual(Local.droppedContinuations(worker.logs()).map((line) => line.message.slice(0, 120)), [])
    }).pipe(Effect.scoped), 60_000)
})
