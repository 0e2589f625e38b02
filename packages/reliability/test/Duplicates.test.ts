/**
 * Duplicate and concurrent deliveries against the Worker in workerd with its local D1: one real comment's webhook
 * (made by the GitHub emulator, held back), delivered 100 times, 20 at once, straight into workerd — exactly one
 * 202 and one task; the 99 others are answered 200 "duplicate delivery". Then GitHub's own redelivery of it: still
 * one task. The task runs to its end on a stand-in machine and every invariant holds.
 */
import { assert, layer } from "@effect/vitest"
import { Deliveries, Invariants, Stack } from "@porter/reliability"
import { Effect } from "effect"

const COPIES = 100
const AT_ONCE = 20

layer(Stack.layer({ machines: "stand-in" }), { excludeTestServices: true, timeout: 120_000 })(
  "duplicate deliveries (workerd + D1)",
  (it) => {
    it.effect(`the same delivery ${COPIES} times, ${AT_ONCE} at once: one task`, () =>
      Effect.gen(function*() {
        const { github, worker, writer } = yield* Stack.Stack
        const issue = yield* Stack.openIssue("Duplicates")
        // Hold the webhook back: the emulator records it unsent; the test delivers it itself.
        yield* Effect.promise(() =>
          fetch(`${github.url}/_emulator/webhook`, { method: "PUT", body: JSON.stringify({ url: null }) })
        )
        const made = yield* Stack.comment(writer, issue, "@porter script add a line")
        const held = (yield* Stack.deliveriesAnswered).find((d) =>
          (d.payload as { comment?: { id?: number } }).comment?.id === made.id
        )
        assert.isDefined(held)
        assert.isUndefined(held!.status, "the emulator did not send it")
        yield* Effect.promise(() => github.setWebhook(`${worker.url}/webhooks/github`))
        const delivery = Deliveries.signed(
          github.app.webhookSecret,
          held!.event,
          JSON.stringify(held!.payload),
          held!.id
        )

        const statuses: Array<number> = []
        const bodies: Array<string> = []
        for (let sent = 0; sent < COPIES; sent += AT_ONCE) {
          const answers = yield* Effect.promise(() =>
            Promise.all(Array.from({ length: Math.min(AT_ONCE, COPIES - sent) }, async () => {
              const response = await worker.fetch(`${worker.url}/webhooks/github`, {
                method: "POST",
                headers: delivery.headers,
                body: delivery.body
              })
              return { status: response.status, body: await response.text() }
            }))
          )
          for (const answer of answers) {
            statuses.push(answer.status)
            bodies.push(answer.body)
          }
        }
        assert.strictEqual(statuses.filter((s) => s === 202).length, 1, `answers: ${statuses.join(" ")}`)
        assert.strictEqual(statuses.filter((s) => s === 200).length, COPIES - 1)
        assert.strictEqual(bodies.filter((b) => b.includes("duplicate delivery")).length, COPIES - 1)

        yield* Stack.sweepUntil("the task to end", Invariants.allTerminal(1))
        // GitHub's own redelivery of the same delivery changes nothing.
        const redelivered = yield* Effect.promise(() => github.redeliver(held!.id))
        assert.strictEqual(redelivered, 200)
        const tasks = (yield* Stack.tasks).filter((t) => t.issueNumber === issue)
        assert.strictEqual(tasks.length, 1)
        assert.strictEqual(tasks[0]!.state, "succeeded")
        const rows = yield* Effect.promise(() =>
          worker.db.prepare("SELECT count(*) AS n FROM deliveries WHERE id = ?").bind(held!.id).first<{ n: number }>()
        )
        assert.strictEqual(rows?.n, 1)

        const report = yield* Invariants.check
        assert.deepStrictEqual(report.problems, [])
        console.log(
          `duplicates: ${COPIES} copies (${AT_ONCE} at once) + 1 redelivery → ${report.tasks} task, ${report.callbacksChecked} callbacks audited`
        )
      }), 120_000)
  }
)
