/**
 * The gateway benchmark's Node host, as a process of its own: Porter's HTTP app (`HttpApp.routes`) on
 * `@effect/platform-node`'s server, over the in-memory layers (`@porter/testing`) with fibers for background work,
 * the model gateway's upstream at `UPSTREAM`, model calls served by the embedding example's direct `node:http` route
 * (`GatewayRoute`: upstream with `node:http`, the answer piped back). It makes one task (a `script` run on an
 * in-memory machine) and prints one JSON line: where it listens, the task, its gateway credential and its pid.
 * `GET /__heap` answers the process's memory after a full GC (run with `--expose-gc`).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { GatewayRoute, WebhookRoute } from "@porter-examples/embed-node-bot"
import { Background, Diagnostics, GatewayApp, HttpApp, Porter, SecretStore } from "@porter/core"
import { Fixtures, Machines, TestPorter } from "@porter/testing"
import { Effect, Layer, Redacted } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { Readable } from "node:stream"

const upstream = process.env["UPSTREAM"] ?? "http://127.0.0.1:9"

const Services = Layer.mergeAll(
  TestPorter.services({
    secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-api03-bench-key-0000" }],
    config: { gateway: { upstreams: { anthropic: upstream, openai: `${upstream}/v1`, gemini: upstream } } }
  }),
  Background.layerFork,
  // The gateway's answers as Node streams: no chunk through an Effect stream.
  Layer.succeed(GatewayApp.RawBody, (stream) => Readable.fromWeb(stream as never))
)
const PorterLive = Layer.merge(Porter.layer, Diagnostics.layerBasic).pipe(Layer.provideMerge(Services))

const heap = HttpRouter.add(
  "GET",
  "/__heap",
  Effect.sync(() => {
    ;(globalThis as { gc?: () => void }).gc?.()
    return HttpServerResponse.jsonUnsafe(process.memoryUsage())
  })
)

const Ready = Layer.effectDiscard(Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const porter = yield* Porter.Porter
  yield* porter.handle(Fixtures.commentCreated({ body: "@porter script wait for the benchmark" }))
  const [created] = yield* (yield* Machines).created
  console.log(JSON.stringify({
    url: HttpServer.formatAddress(server.address),
    taskId: created!.spec.taskId,
    credential: Redacted.value(created!.spec.secretEnv["GATEWAY_TOKEN"]!),
    pid: process.pid
  }))
}))

const Http = HttpRouter.serve(Layer.merge(HttpApp.routes, heap), { disableListenLog: true, disableLogger: true })

// Model calls take the embedding example's direct route from `node:http` (`GatewayRoute`), as in the bot.
const slot = WebhookRoute.makeSlot()
const Gateway = GatewayRoute.layer(slot, { logRequests: false })

Layer.launch(
  Layer.mergeAll(Http, Gateway, Ready).pipe(
    Layer.provideMerge(PorterLive),
    Layer.provideMerge(NodeHttpServer.layer(WebhookRoute.makeServer(slot), { port: 0, host: "127.0.0.1" }))
  )
).pipe(NodeRuntime.runMain)
