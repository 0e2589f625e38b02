/** The shared HTTP app's contract: statuses and bodies for each case, through a Web `Request`. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { Errors, Event, HttpApp, type Ids, Porter, SecretStore, TaskStore, WebhookIntake } from "@porter/core"
import { Fixtures, Machines, TestPorter } from "@porter/testing"

/** A stand-in intake: `x-test-sig: ok` is a good signature; the body is a normalized event as JSON. */
const fakeIntake = Layer.succeed(
  WebhookIntake.WebhookIntake,
  WebhookIntake.WebhookIntake.of({
    parse: (raw) =>
      raw.headers["x-test-sig"] !== "ok"
        ? Effect.fail(new Errors.WebhookUnauthorized({ message: "signature does not match" }))
        : raw.headers["x-test-event"] === "ping"
        ? Effect.succeed(new WebhookIntake.Ignored({ reason: "ping" }))
        : Schema.decodeUnknownEffect(Event.IncomingEventFromJson)(raw.body).pipe(
          Effect.mapError(() => new Errors.WebhookMalformed({ message: "payload does not decode" }))
        )
  })
)

const ADMIN = "admin-token-0123456789"

const TestLayer = TestPorter.layer({
  config: { maxWebhookBytes: 4096, adminToken: Redacted.make(ADMIN) },
  secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-test" }]
})

/** The app as a Web handler over the test's own services, so assertions see what the requests did. */
const makeHandler = Effect.gen(function*() {
  const context = yield* Effect.context<TestPorter.Services | Porter.Porter>()
  const app = HttpApp.routes.pipe(
    Layer.provide(Layer.mergeAll(fakeIntake, Layer.succeedContext(context), HttpServer.layerServices))
  )
  const { dispose, handler } = HttpRouter.toWebHandler(app, { disableLogger: true })
  yield* Effect.addFinalizer(() => Effect.promise(dispose))
  return handler
})

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  new Request(`http://porter.test${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })

const encode = (event: Event.IncomingEvent) => Schema.encodeSync(Event.IncomingEventFromJson)(event)

describe("HTTP app", () => {
  it.effect("answers webhooks: 202 accepted, 200 ignored/duplicate, 401, 400, 413", () =>
    Effect.gen(function*() {
      const handler = yield* makeHandler
      const call = (request: Request) => Effect.promise(async () => {
        const response = await handler(request)
        return { status: response.status, body: await response.json() as Record<string, unknown> }
      })
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      const good = { "x-test-sig": "ok" }

      const accepted = yield* call(post("/webhooks/github", encode(event), good))
      assert.strictEqual(accepted.status, 202)
      assert.deepStrictEqual(accepted.body, { accepted: true, deliveryId: event.deliveryId })
      const duplicate = yield* call(post("/webhooks/github", encode(event), good))
      assert.deepStrictEqual([duplicate.status, duplicate.body], [200, { ignored: "duplicate delivery" }])
      const notForUs = yield* call(post("/webhooks/github", encode(Fixtures.commentCreated({ body: "lgtm" })), good))
      assert.deepStrictEqual([notForUs.status, notForUs.body], [200, { ignored: "not addressed to Porter" }])
      const ping = yield* call(post("/webhooks/github", "{}", { ...good, "x-test-event": "ping" }))
      assert.deepStrictEqual([ping.status, ping.body], [200, { ignored: "ping" }])
      const unsigned = yield* call(post("/webhooks/github", encode(Fixtures.commentCreated({ body: "@porter claude x" }))))
      assert.strictEqual(unsigned.status, 401)
      const malformed = yield* call(post("/webhooks/github", "{not json", good))
      assert.deepStrictEqual([malformed.status, malformed.body], [400, { error: "payload does not decode" }])
      const huge = yield* call(post("/webhooks/github", "x".repeat(5000), good))
      assert.deepStrictEqual([huge.status, huge.body], [413, { error: "payload larger than 4096 bytes" }])
      // A body that lies about its length is still capped while it streams.
      const stream = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("y".repeat(1000)))
          controller.close()
        }
      })
      const chunked = yield* call(new Request("http://porter.test/webhooks/github", { method: "POST", body: stream, headers: good, duplex: "half" } as RequestInit))
      assert.strictEqual(chunked.status, 413)

      const tasks = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.list({ limit: 10 }))
      assert.strictEqual(tasks.length, 1, "only the accepted delivery made a task")
    }).pipe(Effect.provide(TestLayer)))

  it.effect("answers callbacks and task reads with the right statuses", () =>
    Effect.gen(function*() {
      const handler = yield* makeHandler
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      const status = (request: Request) => Effect.promise(async () => (await handler(request)).status)
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const [created] = yield* machines.created
      const taskId = created!.spec.taskId
      const token = Redacted.value(created!.spec.secretEnv["CALLBACK_TOKEN"]!)
      const auth = { authorization: `Bearer ${token}` }
      const path = `/callbacks/tasks/${taskId}`

      assert.strictEqual(yield* status(post(path, JSON.stringify({ type: "started" }))), 401)
      assert.strictEqual(yield* status(post(path, JSON.stringify({ type: "started" }), { authorization: "Bearer nope" })), 401)
      assert.strictEqual(yield* status(post(path, "{}", auth)), 400)
      assert.strictEqual(yield* status(post(path, JSON.stringify({ type: "started" }), auth)), 200)
      assert.strictEqual(yield* status(post(path, JSON.stringify({ type: "completed", outcome: "no_changes" }), auth)), 200)
      assert.strictEqual(yield* status(post(path, JSON.stringify({ type: "heartbeat" }), auth)), 409)

      const read = (headers: Record<string, string>) =>
        Effect.promise(async () => {
          const response = await handler(new Request(`http://porter.test/tasks/${taskId}`, { headers }))
          return { status: response.status, body: await response.text() }
        })
      assert.strictEqual((yield* read({})).status, 401)
      const mine = yield* read(auth)
      assert.strictEqual(mine.status, 200)
      assert.strictEqual(JSON.parse(mine.body).state, "succeeded")
      assert.strictEqual((yield* read({ authorization: `Bearer ${ADMIN}` })).status, 200)
      const unknown = yield* Effect.promise(() =>
        handler(new Request(`http://porter.test/tasks/task_00000000000000000000000000`, { headers: { authorization: `Bearer ${ADMIN}` } })))
      assert.strictEqual(unknown.status, 404)
      const health = yield* Effect.promise(() => handler(new Request("http://porter.test/healthz")))
      assert.strictEqual(health.status, 200)
      void (taskId satisfies Ids.TaskId)
    }).pipe(Effect.provide(TestLayer)))
})

