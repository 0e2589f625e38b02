/**
 * The queue under a burst, on loopback: 100 requests at once (comments on 100 issues of one repository, by one
 * person, made concurrently on the GitHub emulator) into the Worker in workerd (local D1) with an active-task limit of
 * 3, run by stand-in machines. Checked on D1's audit trail, whose rows are numbered in the order they were written:
 *
 * - never more than 3 tasks hold a slot at any instant (admitted: `→ provisioning`, until their terminal transition);
 * - every task ends, succeeded, without the sweep's help (each end admits the next: no Cron Trigger is fired);
 * - tasks are admitted in order: each admission takes the oldest task waiting at that moment (task ids sort by
 *   arrival; a request whose handling took longer to record its task joins the queue when it is recorded);
 * - every invariant of the suite holds (one status comment each, told on the issue, audit trails whole).
 */
import { assert, layer } from "@effect/vitest"
import { Invariants, Stack } from "@porter/reliability"
import { Effect, Option, Schedule } from "effect"

const REQUESTS = 100
const LIMIT = 3

interface Row {
  readonly seq: number
  readonly task_id: string
  readonly from_state: string | null
  readonly to_state: string | null
}

const TERMINAL = new Set(["succeeded", "failed", "timed_out", "cancelled"])

layer(Stack.layer({ machines: "stand-in", limits: LIMIT }), { excludeTestServices: true, timeout: 300_000 })(
  "the queue (workerd + D1)",
  (it) => {
    it.effect(
      `${REQUESTS} requests at once with a limit of ${LIMIT}: never more than ${LIMIT} active, all end, in order`,
      () =>
        Effect.gen(function*() {
          const { worker, workerLogs, writer } = yield* Stack.Stack
          const issues = yield* Effect.forEach(
            Array.from({ length: REQUESTS }, (_, i) => i),
            (i) => Stack.openIssue(`Queue ${i}`),
            { concurrency: 10 }
          )
          const started = Date.now()
          yield* Effect.forEach(issues, (issue) => Stack.comment(writer, issue, "@porter script queue"), {
            concurrency: "unbounded",
            discard: true
          })
          yield* Stack.deliveriesAnswered
          // Every task ends without a sweep: each end admits the next.
          const ended = yield* Invariants.allTerminal(REQUESTS).pipe(
            Effect.flatMap((done) => (done ? Effect.void : Effect.fail("pending" as const))),
            Effect.retry(Schedule.spaced("250 millis")),
            Effect.timeoutOption("240 seconds")
          )
          if (Option.isNone(ended)) {
            const logs = workerLogs().slice(-20).map((line) => line.message.slice(0, 300)).join("\n")
            assert.fail(`the queue stalled; the Worker's last log lines:\n${logs}`)
          }
          const seconds = (Date.now() - started) / 1000

          const rows = yield* Effect.promise(() =>
            worker.db.prepare(
              "SELECT seq, task_id, from_state, to_state FROM task_events WHERE kind = 'transition' ORDER BY seq"
            ).all<Row>()
          )
          let active = 0
          let peak = 0
          const admitted: Array<string> = []
          const waiting = new Set<string>()
          const outOfOrder: Array<string> = []
          for (const row of rows.results) {
            if (row.from_state === null && row.to_state === "queued") waiting.add(row.task_id)
            else if (row.to_state === "provisioning") {
              active++
              admitted.push(row.task_id)
              const oldest = [...waiting].sort()[0]
              if (oldest !== row.task_id) outOfOrder.push(`${row.task_id} before ${oldest}`)
              waiting.delete(row.task_id)
            } else if (row.to_state !== null && TERMINAL.has(row.to_state) && row.from_state !== "queued") {
              active--
            }
            peak = Math.max(peak, active)
          }
          assert.strictEqual(admitted.length, REQUESTS, "every task was admitted once")
          assert.isAtMost(peak, LIMIT, `at most ${LIMIT} tasks held a slot at once`)
          assert.strictEqual(peak, LIMIT, "the limit was used")
          assert.deepStrictEqual(outOfOrder, [], "each admission took the oldest task waiting")
          const inArrivalOrder = admitted.filter((id, i) => i === 0 || id > admitted[i - 1]!).length

          const report = yield* Invariants.check
          assert.deepStrictEqual(report.problems.slice(0, 20), [])
          assert.strictEqual(report.byState["succeeded"], REQUESTS)
          console.log(
            `queue: ${REQUESTS} requests at once, limit ${LIMIT}: all succeeded in ${seconds.toFixed(1)} s, ` +
              `at most ${peak} active at once, each admission the oldest waiting (${inArrivalOrder} of ${REQUESTS} ` +
              `admitted after every earlier arrival)`
          )
        }),
      300_000
    )
  }
)
