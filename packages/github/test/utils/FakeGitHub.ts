/**
 * A scripted HTTP server on 127.0.0.1 (random port) for unit tests: each test says how to answer,
 * the server records what it was asked. Real sockets, so the real `fetch` path is exercised.
 */
import { Effect } from "effect"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"

export interface Recorded {
  readonly method: string
  /** Path and query, e.g. `/repos/o/r/issues/1/comments?per_page=100&page=1`. */
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly json: unknown
}

export interface Answer {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: unknown
  /** The body as is (not JSON): with `headers` naming its content type. */
  readonly raw?: string
  /** Never answer (the connection stays open until the server closes). */
  readonly hang?: boolean
}

export type Handler = (request: Recorded) => Answer | undefined

export interface FakeGitHub {
  readonly url: string
  readonly requests: Array<Recorded>
  /** Routes are tried in order; the first handler that answers wins; unanswered requests get 404. */
  readonly route: (handler: Handler) => void
}

export const start: Effect.Effect<FakeGitHub, never, import("effect").Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<FakeGitHub & { close: () => Promise<void> }>((resolve) => {
      const requests: Array<Recorded> = []
      const handlers: Array<Handler> = []
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8")
          let json: unknown
          try {
            json = body.length > 0 ? JSON.parse(body) : undefined
          } catch {
            json = undefined
          }
          const recorded: Recorded = {
            method: req.method ?? "GET",
            url: req.url ?? "/",
            headers: req.headers,
            body,
            json
          }
          requests.push(recorded)
          let answer: Answer | undefined
          for (const handler of handlers) {
            answer = handler(recorded)
            if (answer !== undefined) break
          }
          answer ??= { status: 404, body: { message: "Not Found" } }
          if (answer.hang === true) return
          const text = answer.raw ?? (answer.body === undefined ? "" : JSON.stringify(answer.body))
          res.writeHead(answer.status, {
            ...(text.length > 0 && answer.raw === undefined
              ? { "content-type": "application/json; charset=utf-8" }
              : {}),
            ...answer.headers
          })
          res.end(text)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resolve({
          url: `http://127.0.0.1:${port}`,
          requests,
          route: (handler) => {
            handlers.push(handler)
          },
          close: () =>
            new Promise<void>((done) => {
              server.closeAllConnections()
              server.close(() => done())
            })
        })
      })
    })
  ),
  (server) => Effect.promise(() => server.close())
)

/** `METHOD /path` without the query, for matching. */
export const is = (request: Recorded, method: string, path: string) =>
  request.method === method && request.url.split("?")[0] === path
