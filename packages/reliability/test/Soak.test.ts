/**
 * A soak run, bounded, on loopback: tasks through the Worker in workerd (local D1), from comments made on the GitHub
 * emulator to stand-in machines on the local machines server (each reports `started`, then `completed`). 100 tasks in
 * `npm test`; 1,000 with `PORTER_RELIABILITY=long` (`npm run reliability:long`).
 *
 * Memory is sampled as the tasks go and printed as two series: the Worker isolate's V8 heap after a full garbage
 * collection (workerd's inspector) and the workerd process's resident memory. The heap must stay flat after the
 * first quarter (warm-up): it may not grow by more than 8 MiB to the end. RSS is printed, not judged: locally
 * workerd's RSS grows by some 20 KiB per request even for a Worker that does nothing (see `src/Workerd.ts`), and D1's
 * rows live in the same process. At the end every task is terminal and every invariant holds.
 */
import { assert, layer } from "@effect/vitest"
import { Invariants, Stack } from "@porter/reliability"
import { Effect } from "effect"
import { readFileSync } from "node:fs"

const LONG = process.env["PORTER_RELIABILITY"] === "long"
const TASKS = LONG ? 1_000 : 100
const ISSUES = LONG ? 50 : 10
const SAMPLES = LONG ? 20 : 10

const rssMiB = (pids: ReadonlyArray<number>) =>
  pids.reduce((sum, pid) => {
    try {
      return sum + Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024
    } catch {
      return sum
    }
  }, 0)

layer(Stack.layer({ machines: "stand-in", limits: 10_000 }), {
  excludeTestServices: true,
  timeout: LONG ? 1_800_000 : 180_000
})(
  "soak (workerd + D1)",
  (it) => {
    it.effect(`${TASKS} tasks: memory flat, every task terminal`, () =>
      Effect.gen(function*() {
        const { isolateHeapMiB, workerdPids, writer } = yield* Stack.Stack
        assert.isAbove(workerdPids.length, 0, "the workerd process is known (Linux /proc)")
        const issues: Array<number> = []
        for (let i = 0; i < ISSUES; i++) issues.push(yield* Stack.openIssue(`Soak ${i}`))
        const sample = (tasks: number) =>
          Effect.promise(async () => ({ tasks, heap: await isolateHeapMiB(), rss: rssMiB(workerdPids) }))
        const series: Array<{ readonly tasks: number; readonly heap: number; readonly rss: number }> = [
          yield* sample(0)
        ]
        const started = Date.now()
        for (let n = 1; n <= TASKS; n++) {
          yield* Stack.comment(writer, issues[n % ISSUES]!, `@porter script soak ${n}`)
          if (n % (TASKS / SAMPLES) === 0) {
            // Let the Worker keep up, so a sample measures a steady state and not a queue.
            yield* Stack.deliveriesAnswered
            series.push(yield* sample(n))
          }
        }
        yield* Stack.sweepUntil("every task to end", Invariants.allTerminal(TASKS), LONG ? 600_000 : 120_000, 1_000)
        const seconds = (Date.now() - started) / 1000
        series.push(yield* sample(TASKS))

        const report = yield* Invariants.check
        assert.deepStrictEqual(report.problems.slice(0, 20), [])
        assert.strictEqual(report.tasks, TASKS)
        assert.strictEqual(report.byState["succeeded"], TASKS)
        const after = series.filter((s) => s.tasks >= TASKS / 4)
        const warm = after[0]!.heap
        const peak = Math.max(...after.map((s) => s.heap))
        console.log(
          `soak: ${TASKS} tasks in ${seconds.toFixed(0)} s (${(TASKS / seconds).toFixed(1)}/s), all succeeded; ` +
            `${report.callbacksChecked} callbacks audited, ${report.machinesChecked} machines.\n` +
            `  isolate heap after GC (MiB) by tasks done: ${
              series.map((s) => `${s.tasks}:${s.heap.toFixed(1)}`).join(" ")
            }\n` +
            `  workerd RSS (MiB) by tasks done: ${series.map((s) => `${s.tasks}:${s.rss.toFixed(0)}`).join(" ")}`
        )
        assert.isBelow(
          peak - warm,
          8,
          `the isolate's heap grew from ${warm.toFixed(1)} to ${peak.toFixed(1)} MiB after warm-up`
        )
      }), LONG ? 1_800_000 : 180_000)
  }
)
