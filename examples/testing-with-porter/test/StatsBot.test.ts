import { assert, describe, it } from "@effect/vitest"
import { StatsBot } from "@porter-examples/testing-with-porter"
import { Errors, Event, SecretStore, WebhookIntake } from "@porter/core"
import { Fixtures, GitHubRecorder, Machines, Repositories, TestPorter } from "@porter/testing"
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
      // The repository the agent works on: Porter makes the commits and the pull request in it.
      const base = yield* (yield* Repositories).seed(Fixtures.repo("acme/dates"), {
        files: [{ path: "dates.ts", content: "export const parse = () => undefined\n" }]
      })
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
      const callback = (body: unknown, path = "") =>
        bot(
          new Request(`http://bot/callbacks/tasks/${machine!.spec.taskId}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body)
          })
        )
      assert.deepStrictEqual((yield* bot(new Request("http://bot/stats?repo=acme/dates"))).body["provisioning"], 1)
      yield* callback({ type: "started" })
      // The runner proposes the agent's change; Porter commits it and opens the pull request.
      const change = Fixtures.changeSet(base, [{ path: "dates.ts", content: "export const parse = isoWeek\n" }])
      const published = yield* callback(change, "/changes")
      assert.strictEqual(published.status, 200)
      const prUrl = (published.body["pullRequest"] as { url: string }).url
      yield* callback({ type: "completed", outcome: "pushed" })

      const stats = yield* bot(new Request("http://bot/stats?repo=acme/dates"))
      assert.deepStrictEqual([stats.body["total"], stats.body["succeeded"], stats.body["running"]], [1, 1, 0])
      const [status] = yield* recorder.comments("acme/dates#1")
      assert.include(status!.body, "✅")
      assert.include(status!.body, prUrl)
      assert.strictEqual((yield* bot(new Request("http://bot/stats"))).status, 400)
    }).pipe(Effect.provide(Services)))
})
