/**
 * Intake: which deliveries Porter takes (`accept`: the filters, then one claim per delivery id) and what the webhook
 * answers (`answer`: 503 when the claim cannot be stored, 202 with the handling handed to Background).
 */
import { assert, describe, it } from "@effect/vitest"
import { Background, Errors, Event, Intake, Messages, Settings, TaskStore, WebhookIntake } from "@porter/core"
import { Fixtures, InMemoryTaskStore, Machines } from "@porter/testing"
import { Effect, Layer, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import { layer, REPO, START, storedTask, tasksOf, thread, withKey } from "./support/Lifecycle.ts"

/** Decodes the body as a normalized event: the GitHub adapter's signature check and decoding are not under test. */
const eventWebhooks = Layer.succeed(
  WebhookIntake.WebhookIntake,
  WebhookIntake.WebhookIntake.of({
    parse: (raw) =>
      Schema.decodeUnknownEffect(Event.IncomingEventFromJson)(raw.body).pipe(
        Effect.mapError(() => new Errors.WebhookMalformed({ message: "payload does not decode" }))
      )
  })
)

const encode = (event: Event.IncomingEvent) => Schema.encodeSync(Event.IncomingEventFromJson)(event)
const bodyOf = (text: string): Intake.WebhookBody => () => Effect.succeed(text)

/** Every delivery the store ever claimed and never completed (the watchdog's view). */
const pendingDeliveries = Effect.flatMap(
  TaskStore.TaskStore,
  (store) => store.retryDeliveries(Number.MAX_SAFE_INTEGER, 100)
)

/** A Background that keeps the work it is given instead of running it. */
const recordingBackground = Effect.gen(function*() {
  const given = yield* Ref.make<ReadonlyArray<Effect.Effect<void>>>([])
  const service = Background.Background.of({ run: (effect) => Ref.update(given, (list) => [...list, effect]) })
  return { given, layer: Layer.succeed(Background.Background, service) }
})

describe("Intake.accept", () => {
  it.effect("ignores bots, Porter's own comments and comments not addressed to Porter, without claiming them", () =>
    Effect.gen(function*() {
      const intake = yield* Intake.Intake
      const cases: ReadonlyArray<readonly [Event.IncomingEvent, string]> = [
        [
          Fixtures.commentCreated({
            body: "@porter claude fix it",
            author: Fixtures.actor("renovate[bot]", 29139614, "Bot")
          }),
          "comment by a bot"
        ],
        [
          Fixtures.commentCreated({ body: "@porter claude fix it", author: Fixtures.actor("ci-helper", 7, "Bot") }),
          "comment by a bot"
        ],
        [
          Fixtures.commentCreated({ body: `@porter claude fix it\n${Messages.MARKER_PREFIX}reply -->` }),
          "comment by Porter"
        ],
        [Fixtures.commentCreated({ body: "Thanks, this looks good to me." }), "not addressed to Porter"],
        [Fixtures.commentCreated({ body: "ask @porter later" }), "not addressed to Porter"],
        [Fixtures.issueClosed(), "no active task on this issue"]
      ]
      for (const [event, reason] of cases) {
        assert.deepStrictEqual(yield* intake.accept(event), { _tag: "Ignored", reason })
      }
      assert.strictEqual((yield* pendingDeliveries).length, 0, "nothing ignored was claimed")
      assert.strictEqual((yield* tasksOf()).length, 0)
      assert.strictEqual((yield* thread()).length, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("claims a delivery once: Accepted at the clock's time, then Ignored as a duplicate; nothing runs yet", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const intake = yield* Intake.Intake
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      assert.deepStrictEqual(yield* intake.accept(event), { _tag: "Accepted", receivedAt: START })
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* intake.accept(event), { _tag: "Ignored", reason: "duplicate delivery" })
      // Accepting only claims: no task, no comment, no machine until the delivery is handled.
      assert.strictEqual((yield* tasksOf()).length, 0)
      assert.strictEqual((yield* thread()).length, 0)
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      const pending = yield* pendingDeliveries
      assert.deepStrictEqual(pending.map((d) => [d.id, d.receivedAt]), [[event.deliveryId, START]])
      assert.deepStrictEqual(Schema.decodeUnknownSync(Event.IncomingEventFromJson)(pending[0]!.payload), event)
    }).pipe(Effect.provide(layer())))

  it.effect("a comment addressed with the repository's mention name is taken; the default one is not", () =>
    Effect.gen(function*() {
      const intake = yield* Intake.Intake
      yield* (yield* Settings.Settings).set({ _tag: "repository", repo: REPO }, { mentionName: "bot" })
      assert.strictEqual(
        (yield* intake.accept(Fixtures.commentCreated({ body: "@bot claude fix it" })))._tag,
        "Accepted"
      )
      assert.deepStrictEqual(yield* intake.accept(Fixtures.commentCreated({ body: "@porter claude fix it" })), {
        _tag: "Ignored",
        reason: "not addressed to Porter"
      })
    }).pipe(Effect.provide(layer())))

  it.effect("a closed issue with an active task is Accepted (only that issue's tasks count)", () =>
    Effect.gen(function*() {
      const intake = yield* Intake.Intake
      yield* storedTask({ issueNumber: 2 })
      assert.strictEqual((yield* intake.accept(Fixtures.issueClosed({ issueNumber: 1 })))._tag, "Ignored")
      const closed = Fixtures.issueClosed({ issueNumber: 2 })
      assert.strictEqual((yield* intake.accept(closed))._tag, "Accepted")
      assert.deepStrictEqual(yield* intake.accept(closed), { _tag: "Ignored", reason: "duplicate delivery" })
      assert.strictEqual((yield* tasksOf(2))[0]!.state, "queued", "accepting does not cancel anything")
    }).pipe(Effect.provide(layer())))

  it.effect("a closed issue whose tasks all ended is ignored", () =>
    Effect.gen(function*() {
      const intake = yield* Intake.Intake
      const task = yield* storedTask()
      yield* (yield* TaskStore.TaskStore).transition(task.id, "cancelled", START)
      assert.deepStrictEqual(yield* intake.accept(Fixtures.issueClosed()), {
        _tag: "Ignored",
        reason: "no active task on this issue"
      })
    }).pipe(Effect.provide(layer())))
})

describe("Intake.answer", () => {
  it.effect("a store that cannot claim: 503, redeliver later, and nothing is processed", () =>
    Effect.gen(function*() {
      const background = yield* recordingBackground
      const failingClaims = Layer.effect(
        TaskStore.TaskStore,
        Effect.map(InMemoryTaskStore.make, (store) =>
          TaskStore.TaskStore.of({
            ...store,
            claimDelivery: () => Effect.fail(new Errors.StoreError({ message: "D1_ERROR: database is locked" }))
          }))
      )
      yield* Effect.gen(function*() {
        const intake = yield* Intake.Intake
        const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
        const answer = yield* intake.answer({}, bodyOf(encode(event)))
        assert.deepStrictEqual(answer, { status: 503, body: { error: "storage unavailable, redeliver later" } })
        assert.strictEqual((yield* Ref.get(background.given)).length, 0, "nothing handed to the background")
        assert.strictEqual((yield* tasksOf()).length, 0)
        assert.strictEqual((yield* thread()).length, 0)
        assert.strictEqual((yield* (yield* Machines).created).length, 0)
      }).pipe(
        Effect.provide(layer({ ...withKey, webhooks: eventWebhooks }, Layer.merge(failingClaims, background.layer)))
      )
    }))

  it.effect("an accepted delivery: 202 at once, its handling handed to Background; nothing happens until it runs", () =>
    Effect.gen(function*() {
      const background = yield* recordingBackground
      yield* Effect.gen(function*() {
        const intake = yield* Intake.Intake
        const machines = yield* Machines
        const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
        const answer = yield* intake.answer({ "x-github-event": "issue_comment" }, bodyOf(encode(event)))
        assert.deepStrictEqual(answer, { status: 202, body: { accepted: true, deliveryId: event.deliveryId } })

        const given = yield* Ref.get(background.given)
        assert.strictEqual(given.length, 1)
        assert.strictEqual((yield* tasksOf()).length, 0, "no task before the background work runs")
        assert.strictEqual((yield* thread()).length, 0)
        assert.strictEqual((yield* machines.created).length, 0)
        assert.strictEqual((yield* pendingDeliveries).length, 1, "claimed, not yet handled")

        // A duplicate is answered 200 and hands nothing over.
        const duplicate = yield* intake.answer({}, bodyOf(encode(event)))
        assert.deepStrictEqual(duplicate, { status: 200, body: { ignored: "duplicate delivery" } })
        assert.strictEqual((yield* Ref.get(background.given)).length, 1)

        yield* given[0]!
        const [task] = yield* tasksOf()
        assert.strictEqual(task!.state, "provisioning")
        assert.strictEqual((yield* machines.created).length, 1)
        assert.strictEqual((yield* thread()).length, 1)
        assert.strictEqual((yield* pendingDeliveries).length, 0, "the handling marked the delivery handled")
      }).pipe(Effect.provide(layer({ ...withKey, webhooks: eventWebhooks }, background.layer)))
    }))

  it.effect("an ignored delivery is answered 200 with its reason and hands nothing to Background", () =>
    Effect.gen(function*() {
      const background = yield* recordingBackground
      yield* Effect.gen(function*() {
        const intake = yield* Intake.Intake
        const answer = yield* intake.answer({}, bodyOf(encode(Fixtures.commentCreated({ body: "lgtm" }))))
        assert.deepStrictEqual(answer, { status: 200, body: { ignored: "not addressed to Porter" } })
        assert.strictEqual((yield* Ref.get(background.given)).length, 0)
        assert.strictEqual((yield* pendingDeliveries).length, 0)
      }).pipe(Effect.provide(layer({ ...withKey, webhooks: eventWebhooks }, background.layer)))
    }))

  it.effect("a body that cannot be read is answered 400 without a claim", () =>
    Effect.gen(function*() {
      const intake = yield* Intake.Intake
      const answer = yield* intake.answer({}, () => Effect.die(new Error("socket closed")))
      assert.deepStrictEqual(answer, { status: 400, body: { error: "unreadable request" } })
      assert.strictEqual((yield* pendingDeliveries).length, 0)
    }).pipe(Effect.provide(layer({ ...withKey, webhooks: eventWebhooks }))))
})
