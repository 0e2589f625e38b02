import { assert, describe, it } from "@effect/vitest"
import { StatsBot } from "@porter-examples/testing-with-porter"
import { Errors, Event, SecretStore, WebhookIntake } from "@porter/core"
import { Fixtures, GitHubRecorder, Machines, TestPorter } from "@porter/testing"
import { Effect, Layer, Redacted, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"

// In production the intake is `@porter/github`'s HMAC-verifying layer; here events arrive as trusted JSON.
const trustedIntake = Layer.succeed(
  WebhookIntake.WebhookIntake,
  WebhookIntake.WebhookIntake.of({
    parse: (raw) =>
      Schema.decodeUnknownEffect(Event.IncomingEventFromJson)(raw.body).pipe(
        Effect.mapError(() => new Errors.WebhookMalformed({ message: "not an event" }))
      )
  })
)

const Services = TestPorter.layer({
  secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-example" }],
  webhooks: trustedIntake
})

const makeBot = Effect.gen(function*() {
  const context = yield* Effect.context<Layer.Success<typeof Services>>()
  const { dispose, handler } = HttpRouter.toWebHandler(
    StatsBot.routes.pipe(Layer.provide(Layer.mergeAll(Layer.succeedContext(context), HttpServer.layerServices))),
    { disableLogger: true }
  )
  yield* Effect.addFinalizer(() => Effect.promise(dispose))
  return (request: Request) =>
    Effect.promise(async () => {
      const response = await handler(request)
      return { status: response.status, body: await response.json() as Record<string, unknown> }
    })
})

describe("StatsBot on Porter's in-memory layers", () => {
  it.effect("a comment becomes a task the bot counts, and the issue shows the result", () =>
    Effect.gen(function*() {
      const bot = yield* makeBot
      const machines = yield* Machines
      const recorder = yield* GitHubRecorder
      const event = Fixtures.commentCreated({ body: "@porter claude add ISO week parsing", repo: "acme/dates" })
      const webhook = yield* bot(
        new Request("http://bot/webhooks/github", {
          method: "POST",
          body: Schema.encodeSync(Event.IncomingEventFromJson)(event)
        })
      )
      assert.strictEqual(webhook.status, 202)

      // Porter started one machine; play its runner.
      const [machine] = yield* machines.created
      const token = Redacted.value(machine!.spec.secretEnv["CALLBACK_TOKEN"]!)
      const callback = (body: unknown) =>
        bot(
          new Request(`http://bot/callbacks/tasks/${machine!.spec.taskId}`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body)
          })
        )
      assert.deepStrictEqual((yield* bot(new Request("http://bot/stats?repo=acme/dates"))).body["provisioning"], 1)
      yield* callback({ type: "started" })
      yield* callback({ type: "completed", outcome: "pushed", prUrl: "https://github.com/acme/dates/pull/2" })

      const stats = yield* bot(new Request("http://bot/stats?repo=acme/dates"))
      assert.deepStrictEqual([stats.body["total"], stats.body["succeeded"], stats.body["running"]], [1, 1, 0])
      const [status] = yield* recorder.comments("acme/dates#1")
      assert.include(status!.body, "✅")
      assert.include(status!.body, "https://github.com/acme/dates/pull/2")
      assert.strictEqual((yield* bot(new Request("http://bot/stats"))).status, 400)
    }).pipe(Effect.provide(Services)))
})
