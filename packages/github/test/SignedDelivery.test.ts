// @porter/testing's SignedDelivery against the real intake: its deliveries verify and decode into the events Porter
// acts on, a wrong secret is refused, and one posted through TestPorter's HTTP app is answered 202 with a task.
import { assert, describe, it } from "@effect/vitest"
import { type Diagnostics, Event, HttpApp, type Porter, TaskStore } from "@porter/core"
import { GitHubWebhooks } from "@porter/github"
import { SignedDelivery, TestPorter } from "@porter/testing"
import { Effect, Layer, Redacted } from "effect"
import { HttpRouter, HttpServer } from "effect/http"

const SECRET = "a test webhook secret"
const intake = GitHubWebhooks.make({ secret: Redacted.make(SECRET) })

describe("SignedDelivery", () => {
  it.effect("an issue comment verifies and decodes into a CommentCreated with its fields", () =>
    Effect.gen(function*() {
      const delivery = yield* SignedDelivery.issueComment({
        secret: SECRET,
        body: "@porter claude fix it",
        repo: "acme/widgets",
        issueNumber: 7,
        sender: { login: "alice", id: 42 },
        installationId: 99
      })
      assert.match(delivery.headers["x-hub-signature-256"]!, /^sha256=[0-9a-f]{64}$/)
      const event = yield* (yield* intake).parse({ headers: delivery.headers, body: delivery.body })
      assert.instanceOf(event, Event.CommentCreated)
      if (!(event instanceof Event.CommentCreated)) return
      assert.strictEqual(event.body, "@porter claude fix it")
      assert.strictEqual(event.repo.fullName, "acme/widgets")
      assert.strictEqual(event.issueNumber, 7)
      assert.strictEqual(event.author.login, "alice")
      assert.strictEqual(event.installationId, 99)
      assert.strictEqual(event.deliveryId, delivery.deliveryId)
    }))

  it.effect("a closed issue decodes into IssueClosed; a wrong secret is refused", () =>
    Effect.gen(function*() {
      const closed = yield* SignedDelivery.issueClosed({ secret: SECRET, issueNumber: 3 })
      const event = yield* (yield* intake).parse({ headers: closed.headers, body: closed.body })
      assert.instanceOf(event, Event.IssueClosed)
      const forged = yield* SignedDelivery.issueComment({ secret: "not the secret", body: "@porter hi" })
      const refused = yield* Effect.flip((yield* intake).parse({ headers: forged.headers, body: forged.body }))
      assert.strictEqual(refused._tag, "WebhookUnauthorized")
    }))

  it.effect("posted to TestPorter's HTTP app: 202, and the task is recorded", () =>
    Effect.gen(function*() {
      const context = yield* Effect.context<TestPorter.Services | Porter.Services | Diagnostics.Diagnostics>()
      const app = HttpApp.routes.pipe(
        Layer.provide(Layer.mergeAll(Layer.succeedContext(context), HttpServer.layerServices))
      )
      const { dispose, handler } = HttpRouter.toWebHandler(app, { disableLogger: true })
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      const delivery = yield* SignedDelivery.issueComment({ secret: SECRET, body: "@porter claude add a test" })
      const response = yield* Effect.promise(() =>
        handler(SignedDelivery.toRequest(delivery, "http://porter.test/webhooks/github"))
      )
      assert.strictEqual(response.status, 202)
      const [task] = yield* (yield* TaskStore.TaskStore).list({ limit: 10 })
      assert.strictEqual(task?.repo.fullName, "octo-org/hello-world")
    }).pipe(
      Effect.provide(
        TestPorter.layer({ webhooks: Layer.orDie(GitHubWebhooks.layer({ secret: Redacted.make(SECRET) })) })
      )
    ))
})
