/**
 * Faults on every wire, on the whole local stack (the Worker in workerd, the GitHub emulator behind a fault proxy,
 * the local machines server running the real runner, a fault proxy on the callbacks):
 *
 * - machines API: 429 bursts and 5xx on create, a create whose answer is lost, a machine that never launches, a
 *   machine killed while its runner works, 5xx on destroy;
 * - GitHub: 5xx on status-comment updates and creations;
 * - callbacks: some lost on the way in, some answered and the answer lost, and one task whose callbacks are all lost.
 *
 * Every task must end terminal, with its issue told, no machine left running, and its audit trail whole
 * (`Invariants.check`). Tasks get `--timeout 20s`, heartbeats time out after 3 s: a dead machine is noticed by the
 * sweep, which the test fires every half second. `PORTER_RELIABILITY=long` runs three times as many tasks.
 */
import { assert, layer } from "@effect/vitest"
import { Invariants, Stack } from "@porter/reliability"
import { Effect } from "effect"

const LONG = process.env["PORTER_RELIABILITY"] === "long"
const ROUNDS = LONG ? 3 : 1
const waitFor = (what: string, done: () => boolean, timeoutMs = 60_000) =>
  Effect.promise(async () => {
    for (const deadline = Date.now() + timeoutMs; !done();) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })

const run = (n: number) =>
  `@porter script --timeout 20s fault run ${n}\n\n\`\`\`porter-script\nappend NOTES.md - fault run ${n}\nprint Added a line.\n\`\`\``

layer(Stack.layer({ machines: "runner", limits: 100 }), { excludeTestServices: true, timeout: 240_000 })(
  "faults (workerd + emulators)",
  (it) => {
    it.effect(
      "machines API, GitHub and callback faults: every task terminal, issue told, no machine left, audit whole",
      () =>
        Effect.gen(function*() {
          const { callbackProxy, githubProxy, machines, writer } = yield* Stack.Stack

          // One task whose callbacks are all lost: it never reports, the deadline ends it.
          callbackProxy.add({
            name: "all callbacks lost",
            path: /^\/callbacks\/tasks\//,
            action: { _tag: "DropRequest" },
            count: Infinity
          })
          const silent = yield* Stack.openIssue("Silent machine")
          yield* Stack.comment(writer, silent, run(0))
          const silentMachine = () => machines.machines().find((m) => m.env["ISSUE_NUMBER"] === String(silent))
          // Its runner gives up on its callbacks and exits.
          yield* waitFor(
            "the silent machine to end",
            () => ["stopped", "destroyed"].includes(silentMachine()?.state ?? "")
          )
          callbackProxy.clear()

          // Then the rest, in two waves: answer faults of the machines API first, then dead machines (a machine that
          // fails to launch after its create answer was lost is tested below, on its own).
          let requested = 0
          const wave = (n: number) =>
            Effect.gen(function*() {
              for (let i = 0; i < n; i++) {
                const issue = yield* Stack.openIssue(`Fault run ${++issues}`)
                yield* Stack.comment(writer, issue, run(issues))
              }
            })
          let issues = 0
          githubProxy.add({
            name: "GitHub 502 on comment updates",
            method: "PATCH",
            path: /\/issues\/comments\/\d+$/,
            action: { _tag: "Status", status: 502 },
            count: 8 * ROUNDS,
            every: 2
          })
          githubProxy.add({
            name: "GitHub 500 on comment creation",
            method: "POST",
            path: /\/issues\/\d+\/comments$/,
            action: { _tag: "Status", status: 500 },
            count: 2 * ROUNDS,
            every: 3
          })
          callbackProxy.add({
            name: "callback lost",
            path: /^\/callbacks\/tasks\//,
            action: { _tag: "DropRequest" },
            count: 4 * ROUNDS,
            every: 5
          })
          callbackProxy.add({
            name: "callback answer lost",
            path: /^\/callbacks\/tasks\//,
            action: { _tag: "DropAnswer" },
            count: 3 * ROUNDS,
            every: 7
          })
          for (let round = 0; round < ROUNDS; round++) {
            machines.faults.rateLimit({ count: 3, retryAfterSeconds: 1, op: "create" })
            machines.faults.serverError({ count: 2, status: 503, op: "create" })
            machines.faults.dropCreateResponse(1)
            requested += 6
            yield* wave(4)
            yield* waitFor("the answer faults to be used", () => machines.faults.pending() === 0)
            machines.faults.failLaunch(1)
            machines.faults.dieAfterStart({ count: 1, afterMs: 1_500 })
            machines.faults.serverError({ count: 2, status: 500, op: "destroy" })
            requested += 4
            yield* wave(4)
          }
          const tasks = issues
          yield* Stack.sweepUntil("every task to end", Invariants.allTerminal(tasks + 1), LONG ? 180_000 : 120_000)
          const report = yield* Invariants.check
          assert.deepStrictEqual(report.problems, [])
          assert.strictEqual(report.tasks, tasks + 1)
          assert.strictEqual(machines.faults.pending(), 0, "every machines-API fault was used")
          assert.isAtLeast(report.byState["timed_out"] ?? 0, 2, "the silent task and a dead machine timed out")
          const silentTask = (yield* Stack.tasks).find((t) => t.issueNumber === silent)
          assert.strictEqual(silentTask?.state, "timed_out")

          const injected = [
            `machines API ${requested}`,
            ...[...githubProxy.injected(), ...callbackProxy.injected()].map(([name, n]) => `${name} ${n}`)
          ]
          console.log(
            `faults: ${injected.join(", ")}; ${report.tasks} tasks checked (${JSON.stringify(report.byState)}), ` +
              `${report.machinesChecked} machines, ${report.callbacksChecked} callbacks audited`
          )
        }),
      LONG ? 600_000 : 240_000
    )
  }
)

layer(Stack.layer({ machines: "stand-in" }), { excludeTestServices: true, timeout: 120_000 })(
  "a lost create answer",
  (it) => {
    // Found by this suite: `FlyMachines.create` recovered a lost answer by looking up the task's machines but skipped
    // those already gone, so a machine that failed to launch (or already ran and exited) was not found, a second one
    // was made and the first was in no audit trail. Now each create carries its own id in the machine's metadata and
    // the recovery hands back that machine whatever its state. Deterministic here: the lost create's machine also
    // fails to launch.
    it.effect(
      "a create whose answer is lost: every machine made for the task is recorded",
      () =>
        Effect.gen(function*() {
          const { machines, writer } = yield* Stack.Stack
          machines.faults.dropCreateResponse(1)
          machines.faults.failLaunch(1)
          const issue = yield* Stack.openIssue("Lost create answer")
          yield* Stack.comment(writer, issue, "@porter script --timeout 15s a quick run")
          yield* Stack.sweepUntil("the task to end", Invariants.allTerminal(1))
          const report = yield* Invariants.check
          assert.deepStrictEqual(report.problems, [])
        }),
      120_000
    )
  }
)
