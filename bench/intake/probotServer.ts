/**
 * The peer: a Probot app (npm `probot`, its own Node middleware on `node:http`) doing the intake's minimal work —
 * verify the signature, decode the payload, record the delivery (one row in an in-memory SQLite, `node:sqlite`,
 * as the floor Worker records one row in D1). Probot answers once the handler is done.
 *
 * `PROFILE_OUT`: see `profiling.ts`. Run as a child process by `run.ts`: `WEBHOOK_SECRET` in the environment; prints `{"url":…}` when it listens;
 * `GET /bench/count` answers how many deliveries were recorded. Probot's default log level (`warn`): no access log.
 */
import { generateKeyPairSync } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { DatabaseSync } from "node:sqlite"
import { createNodeMiddleware, Probot } from "probot"
import * as Profiling from "./profiling.ts"

await Profiling.install()
const secret = process.env["WEBHOOK_SECRET"]
if (!secret) throw new Error("WEBHOOK_SECRET is not set")

const db = new DatabaseSync(":memory:")
db.exec("CREATE TABLE deliveries (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, event TEXT NOT NULL)")
const insert = db.prepare("INSERT INTO deliveries (id, received_at, event) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
const count = db.prepare("SELECT count(*) AS n FROM deliveries")

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
const probot = new Probot({
  appId: 4242,
  privateKey: String(privateKey.export({ type: "pkcs1", format: "pem" })),
  secret
})
const middleware = await createNodeMiddleware((app) => {
  app.on("issue_comment.created", async (context) => {
    insert.run(context.id, Date.now(), context.name)
  })
}, { probot, webhooksPath: "/webhooks/github" })

const server = createServer((request, response) => {
  if (request.method === "GET" && request.url === "/bench/count") {
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify(count.get()))
    return
  }
  void middleware(request, response, () => {
    response.writeHead(404).end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}/webhooks/github` })}\n`)
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
