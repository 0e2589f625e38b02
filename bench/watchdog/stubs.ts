/**
 * GitHub and the Fly Machines API as a stub on loopback that answers every call the sweep makes at once:
 * installation tokens, the repository's installation, comments created and edited, reactions, labels, the machine
 * list (empty), machine destroys. Counts the calls, so a benchmark can say what the sweep did.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface Stubs {
  readonly url: string
  readonly calls: () => ReadonlyMap<string, number>
  readonly close: () => Promise<void>
}

export const start = (): Promise<Stubs> =>
  new Promise((resolve) => {
    const calls = new Map<string, number>()
    let ids = 100_000
    const server = createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        const url = (request.url ?? "").split("?")[0]!
        const method = request.method ?? "GET"
        const send = (status: number, body: unknown, kind: string) => {
          calls.set(kind, (calls.get(kind) ?? 0) + 1)
          response.writeHead(status, { "content-type": "application/json" })
          response.end(JSON.stringify(body))
        }
        if (method === "POST" && /\/app\/installations\/\d+\/access_tokens$/.test(url)) {
          return send(201, {
            token: "ghs_benchinstallationtoken",
            expires_at: new Date(Date.now() + 3_600_000).toISOString()
          }, "token")
        }
        if (method === "GET" && /^\/repos\/[^/]+\/[^/]+\/installation$/.test(url)) {
          return send(200, { id: 31 }, "installation")
        }
        if (method === "POST" && /\/issues\/\d+\/comments$/.test(url)) {
          return send(201, { id: ++ids }, "comment")
        }
        if (method === "PATCH" && /\/issues\/comments\/\d+$/.test(url)) return send(200, { id: 1 }, "comment edit")
        if (/\/reactions$/.test(url)) return send(201, { id: ++ids, content: "eyes" }, "reaction")
        if (/\/labels/.test(url)) return send(200, [], "labels")
        if (method === "GET" && /\/v1\/apps\/[^/]+\/machines$/.test(url)) return send(200, [], "machine list")
        if (method === "DELETE" && /\/v1\/apps\/[^/]+\/machines\/[^/]+$/.test(url)) {
          return send(200, { ok: true }, "machine destroy")
        }
        if (method === "GET" && /\/v1\/apps\/[^/]+$/.test(url)) {
          return send(200, { name: "porter-bench" }, "app")
        }
        send(404, { message: "Not Found" }, `404 ${method} ${url}`)
      })
    })
    server.keepAliveTimeout = 60_000
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        calls: () => new Map(calls),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })
