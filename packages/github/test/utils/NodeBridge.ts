/** Serves a Web `fetch` handler (e.g. `HttpRouter.toWebHandler`) on 127.0.0.1 with node:http, random port. */
import { Effect, type Scope } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface Bridge {
  readonly url: string
  /** Until set, every request gets 503. */
  readonly setHandler: (handler: (request: Request) => Promise<Response>) => void
}

export const start: Effect.Effect<Bridge, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<Bridge & { close: () => Promise<void> }>((resolve) => {
      let handler: (request: Request) => Promise<Response> = async () => new Response("not ready", { status: 503 })
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const headers = new Headers()
          for (const [name, value] of Object.entries(req.headers)) {
            if (typeof value === "string") headers.set(name, value)
            else if (Array.isArray(value)) { for (const v of value) headers.append(name, v) }
          }
          const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined
          const request = new Request(`http://127.0.0.1${req.url ?? "/"}`, {
            method: req.method ?? "GET",
            headers,
            ...(body !== undefined && req.method !== "GET" && req.method !== "HEAD" ? { body } : {})
          })
          handler(request).then(
            async (response) => {
              const text = Buffer.from(await response.arrayBuffer())
              res.writeHead(response.status, Object.fromEntries(response.headers))
              res.end(text)
            },
            () => {
              res.writeHead(500)
              res.end()
            }
          )
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resolve({
          url: `http://127.0.0.1:${port}`,
          setHandler: (next) => {
            handler = next
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
  (bridge) => Effect.promise(() => bridge.close())
)
