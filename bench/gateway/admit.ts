/**
 * What core's admission of a model call costs when the process is busy (hot caches): `ModelGateway.admitNow` (the
 * path parsed, the credential compared, the kept grant judged, the upstream URL and headers built) called in a loop
 * on the Node host's in-memory layers, after one `admit` that keeps the task's grant; then the same with the meter
 * started. For comparing with `run.ts`, where the same step costs 0.10–0.12 ms on a process that sleeps 2 ms
 * between chunks.
 *
 *   node --conditions=@porter/source bench/gateway/admit.ts
 */
import { Background, GatewayApp, ModelGateway, Porter, PorterConfig, SecretStore } from "@porter/core"
import { Fixtures, Machines, TestPorter } from "@porter/testing"
import { Effect, Layer, Redacted } from "effect"
import { performance } from "node:perf_hooks"

const Services = Layer.mergeAll(
  TestPorter.services({
    secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-api03-bench-key-0000" }],
    config: {
      gateway: {
        upstreams: { anthropic: "http://127.0.0.1:9", openai: "http://127.0.0.1:9/v1", gemini: "http://127.0.0.1:9" }
      }
    }
  }),
  Background.layerFork
)
const program = Effect.gen(function*() {
  const porter = yield* Porter.Porter
  const gateway = yield* ModelGateway.ModelGateway
  const { gateway: { maxRequestBytes } } = yield* PorterConfig.PorterConfig
  yield* porter.handle(Fixtures.commentCreated({ body: "@porter script wait" }))
  const [created] = yield* (yield* Machines).created
  const taskId = created!.spec.taskId
  const credential = Redacted.value(created!.spec.secretEnv["GATEWAY_TOKEN"]!)
  const context = yield* Effect.context<never>()
  const body = JSON.stringify({
    model: "bench-20-1024-2",
    max_tokens: 100,
    stream: true,
    messages: [{ role: "user", content: "hi" }]
  })
  const headers = {
    host: "127.0.0.1",
    "content-type": "application/json",
    "content-length": String(body.length),
    "x-api-key": credential,
    "anthropic-version": "2023-06-01",
    accept: "application/json",
    "user-agent": "bench"
  }
  const url = `/gateway/tasks/${taskId}/anthropic/v1/messages`
  const make = () => {
    const parsed = GatewayApp.parsePath(url) as GatewayApp.GatewayPath
    const pipeable = ModelGateway.pipeableBytesOf(
      { ...parsed, method: "POST" },
      headers["content-length"],
      maxRequestBytes
    )
    return {
      ...parsed,
      method: "POST",
      headers,
      body: () => Effect.die("no"),
      pipeableBytes: pipeable
    } as ModelGateway.GatewayRequest
  }
  // Warm the grant through admit once.
  const first = yield* gateway.admit(make())
  if (!ModelGateway.isAdmitted(first)) throw new Error("not admitted: " + JSON.stringify(first).slice(0, 300))
  for (const n of [1000, 10000, 10000]) {
    const t0 = performance.now()
    let ok = 0
    for (let i = 0; i < n; i++) {
      const r = gateway.admitNow(make(), context)
      if (r !== undefined && ModelGateway.isAdmitted(r)) ok++
    }
    const t1 = performance.now()
    console.log(`admitNow+parse: ${((t1 - t0) / n * 1000).toFixed(1)} µs per call, ${ok}/${n} admitted`)
  }
  // The same with the meter started (its end is not part of admission).
  const t0 = performance.now()
  for (let i = 0; i < 10000; i++) {
    const r = gateway.admitNow(make(), context) as ModelGateway.Admitted
    r.meter()
  }
  console.log(`admitNow+meter(): ${((performance.now() - t0) / 10000 * 1000).toFixed(1)} µs per call`)
})
Effect.runPromise(program.pipe(Effect.provide(Porter.layer.pipe(Layer.provideMerge(Services))))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
