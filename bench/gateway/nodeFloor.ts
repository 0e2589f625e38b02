/**
 * The gateway benchmark's Node floor, as a process of its own like the Node host (`nodeHost.ts`): a bare `node:http`
 * proxy that sends each call to `UPSTREAM`'s Messages API and pipes the answer back — what any proxy in its own Node
 * process adds, the hop between processes included. Prints one JSON line: where it listens and its pid.
 */
import { createServer, request as httpRequest } from "node:http"
import type { AddressInfo } from "node:net"

const target = new URL(process.env["UPSTREAM"] ?? "http://127.0.0.1:9")

const server = createServer((incoming, outgoing) => {
  const forward = httpRequest({
    host: target.hostname,
    port: target.port,
    path: "/v1/messages",
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "floor" }
  }, (answer) => {
    outgoing.writeHead(answer.statusCode ?? 502, { "content-type": answer.headers["content-type"] ?? "" })
    answer.pipe(outgoing)
  })
  incoming.pipe(forward)
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}`, pid: process.pid }))
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
