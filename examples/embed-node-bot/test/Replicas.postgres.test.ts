// Several replicas of the bot on one PostgreSQL: three bot processes (the example's bot, `fixtures/replica.ts`)
// behind one round-robin proxy — GitHub's webhook URL and the machines' callback URL — share a database, a
// callback-token key and a local machines' state directory. 200 comments become 200 deliveries, spread over the bots
// by the proxy, with duplicates (the same delivery sent at once to every live bot) and redeliveries (the emulator's,
// through the proxy); halfway, one bot is killed (SIGKILL) while its tasks are in flight. Machines are a fake runner
// (`fixtures/fakeRunner.ts`: started, heartbeats, completed) so 200 of them fit on two cores.
//
// Then: exactly one task per delivery, one machine per task, every task succeeded and shown on its issue, every
// delivery handled; the killed bot's tasks finished through the others (its stuck ones dispatched again by a sweep,
// which found their machine instead of making a second one), and no machine process is left.
import { assert, describe, it } from "@effect/vitest"
import { Messages, PorterConfig } from "@porter/core"
import { EncryptionKeys } from "@porter/sql"
import { NodeStorage } from "@porter/sql/node"
import * as TestPostgres from "@porter/sql/testing"
import { GitHubEmulator } from "@porter/testkit"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Processes from "./processes.ts"
import * as Support from "./support.ts"

const DELIVERIES = 200
const BOTS = 3
const KILLED = 1
// One issue per comment: tasks of one issue may wait for each other; these are independent.
const ISSUES = DELIVERIES
/** A dispatch left alone this long is stuck: a sweep takes it up. */
const DISPATCH_TIMEOUT_MS = 4_000

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const commentIdOf = (payload: unknown): number =>
  (payload as { readonly comment?: { readonly id?: number } }).comment?.id ?? -1

/** How many of `items` have each key. */
const countBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return counts
}

interface TaskRow {
  readonly id: string
  readonly delivery_id: string
  readonly state: string
}

describe("three bots on one PostgreSQL", () => {
  it.live(
    "200 deliveries with duplicates and redeliveries: one task each, dispatched once, all ended; a bot killed mid-run",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* TestPostgres.start()
        const sql = yield* Layer.build(NodeStorage.clientLayer({ _tag: "postgres", url: Redacted.make(server.url) }))
          .pipe(
            Effect.map((context) => Context.get(context, SqlClient.SqlClient))
          )
        const github = yield* GitHubEmulator.start()
        const owner = github.admin
        yield* Support.restAt(github.url, owner.token, "POST", "/user/repos", { name: "replicas", auto_init: true })
        const repo = `${owner.login}/replicas`
        const issues: Array<number> = []
        for (let i = 0; i < ISSUES; i++) {
          const issue = yield* Support.restAt<{ number: number }>(
            github.url,
            owner.token,
            "POST",
            `/repos/${repo}/issues`,
            {
              title: `Batch ${i}`,
              body: ""
            }
          )
          issues.push(issue.number)
        }
        const work = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "embed-bot-replicas-"))),
          (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
        )
        const log = join(work, "machines.log")
        // Whatever happens, no machine outlives the test (the bots leave theirs running when they stop: durable storage).
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            const text = (() => {
              try {
                return readFileSync(log, "utf8")
              } catch {
                return ""
              }
            })()
            for (const line of text.split("\n")) {
              const pid = Number(line.split(" ")[1])
              if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL")
            }
          })
        )

        const encryptionKey = EncryptionKeys.generate()
        const taskTokenSecret = randomBytes(32).toString("hex")
        const ports = yield* Effect.all(Array.from({ length: BOTS }, () => Processes.freePort))
        const proxy = yield* Processes.startProxy(ports.map((port) => `http://127.0.0.1:${port}`))
        // The bot to be killed reaches GitHub through a slow link (every call held 1 s): its dispatches take seconds,
        // so it dies with tasks half dispatched and deliveries half handled.
        const slowGitHub = yield* Processes.startProxy([github.url], { delayMs: 1_000 })
        const env = (i: number) => ({
          DATABASE_URL: server.url,
          PORTER_ENCRYPTION_KEY: encryptionKey,
          PORTER_TASK_TOKEN_SECRET: taskTokenSecret,
          GITHUB_API_URL: i === KILLED ? slowGitHub.url : github.url,
          GITHUB_APP_ID: String(github.app.id),
          GITHUB_APP_PRIVATE_KEY: github.app.privateKeyPkcs1,
          GITHUB_WEBHOOK_SECRET: github.app.webhookSecret,
          PORTER_PUBLIC_URL: proxy.url,
          PORTER_ADMIN_TOKEN: Support.ADMIN_TOKEN,
          PORTER_DATA_DIR: join(work, `bot-${i}`),
          PORTER_LOCAL_STATE_DIR: join(work, "machines"),
          PORTER_LOCAL_COMMAND: JSON.stringify([
            process.execPath,
            "--disable-warning=ExperimentalWarning",
            Processes.FAKE_RUNNER
          ]),
          PORTER_SWEEP_INTERVAL_MS: "1000",
          FAKE_DISPATCH_TIMEOUT_MS: String(DISPATCH_TIMEOUT_MS),
          FAKE_DELIVERY_RETRY_AFTER_MS: "4000",
          FAKE_WORK_MS: "1500",
          FAKE_LOG: log,
          FAKE_MAX_ACTIVE: "1000"
        })
        // The three start together: they race for the migrations, which are applied once.
        const bots = yield* Effect.all(
          ports.map((port, i) => Processes.startBot(Processes.REPLICA, port, env(i))),
          { concurrency: "unbounded" }
        )
        yield* Effect.promise(() => github.setWebhook(`${proxy.url}/webhooks/github`))

        const direct: Array<{ readonly guid: string; readonly status: number }> = []
        const redelivered: Array<{ readonly guid: string; readonly status: number }> = []
        let activeAtKill: ReadonlyArray<TaskRow> = []
        let midDispatch: ReadonlyArray<string> = []
        const posted = new Set<number>()
        /** The first delivery of each of our comments (the bots' own comments make deliveries too). */
        const ours = Effect.map(
          Effect.promise(() => github.deliveries()),
          (all) =>
            new Map(
              all.filter((d) => !d.redelivery && posted.has(commentIdOf(d.payload))).map((d) => [
                commentIdOf(d.payload),
                d
              ])
            )
        )
        for (let n = 0; n < DELIVERIES; n++) {
          const issue = issues[n % ISSUES]!
          const comment = yield* Support.restAt<Support.Comment>(
            github.url,
            owner.token,
            "POST",
            `/repos/${repo}/issues/${issue}/comments`,
            { body: `@porter script task ${n}` }
          )
          posted.add(comment.id)
          if (n % 10 === 9) {
            const recorded = [...(yield* ours).values()]
            // A duplicate: the delivery before last, sent at once to every bot still running.
            const copy = recorded.at(-2)!
            const live = bots.filter((bot) => !bot.exited())
            const statuses = yield* Effect.all(
              live.map((bot) =>
                Support.call(`${bot.url}/webhooks/github`, {
                  method: "POST",
                  headers: copy.headers,
                  body: JSON.stringify(copy.payload)
                })
              ),
              { concurrency: "unbounded" }
            )
            for (const answer of statuses) direct.push({ guid: copy.id, status: answer.status })
            // A redelivery, through the proxy: the last one.
            const last = recorded.at(-1)!.id
            redelivered.push({ guid: last, status: yield* Effect.promise(() => github.redeliver(last)) })
          }
          // From halfway on, the bot is killed as soon as one of the deliveries it took is mid-dispatch (its task
          // queued or provisioning): it dies with work that only a sweep of another bot can take up.
          if (n >= DELIVERIES / 2 && activeAtKill.length === 0) {
            const taken = [...proxy.webhooks].filter(([, answers]) =>
              answers.some((a) => a.backend === KILLED && a.status === 202)
            ).map(([guid]) => guid)
            const dispatching = taken.length === 0 ? [] : yield* sql<TaskRow>`SELECT id, delivery_id, state FROM tasks
            WHERE state IN ('queued', 'provisioning') AND delivery_id IN ${sql.in(taken)}`
            if (dispatching.length > 0 || n === DELIVERIES - 1) {
              yield* Effect.promise(() => bots[KILLED]!.kill())
              activeAtKill = yield* sql<TaskRow>`SELECT id, delivery_id, state FROM tasks
              WHERE state IN ('queued', 'provisioning', 'running')`
              midDispatch = dispatching.map((task) => task.id)
            }
          }
        }

        // A delivery in flight to the bot as it was killed can fail (its connection cut: the proxy answers 502).
        // GitHub shows such a delivery as failed and does not send it again by itself: an operator redelivers it, as
        // here. (One the bot claimed before dying is the sweep's to retry: that is what this test is about.)
        const attempts = yield* Support.eventually(
          "every delivery to be attempted",
          Effect.map(Effect.promise(() => github.deliveries()), (all) => {
            const mine = all.filter((d) => posted.has(commentIdOf(d.payload)))
            return mine.every((d) => d.status !== undefined || d.error !== undefined)
              ? Option.some(mine)
              : Option.none()
          }),
          "60 seconds"
        )
        const failed = [...new Set(attempts.map((d) => d.id))].filter((id) =>
          !attempts.some((d) => d.id === id && d.status !== undefined && d.status < 300)
        )
        for (const id of failed) yield* Effect.promise(() => github.redeliver(id))
        if (failed.length > 0) yield* Effect.logInfo("deliveries that failed as the bot died, redelivered", failed)

        const guids = new Set([...(yield* ours).values()].map((d) => d.id))
        assert.strictEqual(guids.size, DELIVERIES, "the emulator sent 200 comment deliveries")

        // Every delivery's task ends (the survivors sweep every second: 4 s to retry a delivery or redispatch a task).
        const tasks = yield* Support.eventually(
          "every task to end",
          Effect.map(sql<TaskRow>`SELECT id, delivery_id, state FROM tasks`.pipe(Effect.orDie), (rows) =>
            rows.length >= DELIVERIES && rows.every((row) =>
                !["queued", "provisioning", "running"].includes(row.state)
              )
              ? Option.some(rows)
              : Option.none()),
          "180 seconds"
        ).pipe(Effect.tapDefect(() =>
          Effect.gen(function*() {
            const rows = yield* sql<TaskRow>`SELECT id, delivery_id, state FROM tasks`.pipe(Effect.orDie)
            yield* Effect.logError("tasks by state", Object.fromEntries(countBy(rows, (row) => row.state)))
            // The deliveries no task came from: what became of them (claimed, retried, completed).
            const orphans = yield* sql`SELECT d.id, d.attempts, d.received_at, d.retried_at, d.completed_at,
              d.payload IS NULL AS dropped FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM tasks t
              WHERE t.delivery_id = d.id) AND d.id IN ${sql.in([...guids])}`.pipe(Effect.orDie)
            yield* Effect.logError("deliveries without a task", orphans)
            for (const bot of bots) yield* Effect.logError(bot.output().slice(-5_000))
          })
        ))

        // Exactly one task per delivery, each succeeded.
        assert.strictEqual(tasks.length, DELIVERIES)
        assert.deepStrictEqual(new Set(tasks.map((t) => t.delivery_id)), guids)
        assert.deepStrictEqual([...countBy(tasks, (t) => t.state).keys()], ["succeeded"])

        // Duplicates and redeliveries were answered as duplicates (200), never as a second acceptance — except for a
        // delivery whose first attempt never reached a live bot: one of its copies is then the one taken (202). A
        // redelivery through the proxy may also have been cut by the kill (502, or 0: no answer).
        const firstFailed = new Set(
          attempts.filter((d) => !d.redelivery && (d.status === undefined || d.status >= 300)).map((d) => d.id)
        )
        assert.isAbove(direct.length, 0)
        assert.isTrue(direct.every((d) => d.status === 200 || firstFailed.has(d.guid)), JSON.stringify(direct))
        assert.isTrue(
          redelivered.every((r) => r.status === 200 || firstFailed.has(r.guid) || r.status === 502 || r.status === 0),
          JSON.stringify(redelivered)
        )
        const accepted = countBy(
          [
            ...direct.filter((d) => d.status === 202).map((d) => d.guid),
            ...[...proxy.webhooks].flatMap(([guid, answers]) => answers.filter((a) => a.status === 202).map(() => guid))
          ],
          (guid) => guid
        )
        for (const [guid, times] of accepted) if (guids.has(guid)) assert.strictEqual(times, 1, `${guid} accepted once`)
        // The proxy spread the deliveries over the three bots.
        const byBot = [...proxy.webhooks.values()].flat().map((a) => a.backend)
        for (let i = 0; i < BOTS; i++) {
          assert.isAbove(byBot.filter((b) => b === i).length, 10, `bot ${i} took deliveries`)
        }

        // One machine per task: each task's fake runner started once, and ended.
        const lines = readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" "))
        const starts = countBy(lines.filter(([, , what]) => what === "start"), ([task]) => task!)
        assert.strictEqual(starts.size, DELIVERIES)
        for (const [task, started] of starts) assert.strictEqual(started, 1, `machines of ${task}`)
        const machineEvents = yield* sql<{ readonly task_id: string; readonly n: number }>`
        SELECT task_id, count(*)::int AS n FROM task_events WHERE kind = 'machine' GROUP BY task_id`
        assert.isTrue(machineEvents.every((row) => row.n === 1), "one machine recorded per task")

        // Dispatched once; a stuck task (mostly the killed bot's) again after each sweep that claimed it, finding its
        // machine rather than making one.
        const dispatches = yield* sql<{ readonly task_id: string; readonly n: number; readonly sweeps: number }>`
        SELECT task_id, count(*) FILTER (WHERE kind = 'dispatch')::int AS n,
          count(*) FILTER (WHERE kind = 'sweep')::int AS sweeps
        FROM task_events GROUP BY task_id`
        const active = new Set(activeAtKill.map((task) => task.id))
        // How long each swept task had been left alone when a sweep took it, at least. The sweep claims a task only
        // when its `updated_at` is at least the dispatch timeout older than the sweep's time C (compare-and-set), and
        // the store's triggers write each change down at the row's `updated_at` then (creation, transition, dispatch,
        // machine). So the lines written before the claim are at C − timeout or earlier, and a line written after it
        // (the task's own bot finishing a slow dispatch: the sweep then finds its machine) is at C or later: the
        // lines up to the sweep's own line, in time order, leave a gap of at least the timeout. Lines the bots write
        // themselves (a failed GitHub call, …) do not touch `updated_at` and are left out. A dispatch may be stuck
        // without its bot dying: the slow bot's dispatches take a second per GitHub call, and a loaded machine slows
        // every bot; such a task is stuck too, and may be swept. That holds for a sweep's own dispatch as well: when the
        // slow bot sweeps a task (or dies just after its sweep claimed one), its dispatch can stall past the timeout
        // and another bot sweeps the task again. What bounds the dispatches is the store's attempt count
        // (`maxDispatchAttempts`), and what bounds the machines is the sweep finding the task's machine: one each.
        const history = yield* sql<{ readonly task_id: string; readonly kind: string; readonly at: number }>`
        SELECT task_id, kind, at::float8 AS at FROM task_events
        WHERE kind IN ('created', 'transition', 'dispatch', 'machine', 'sweep')
          AND task_id IN (SELECT task_id FROM task_events WHERE kind = 'sweep')
        ORDER BY task_id, at`
        const linesOf = new Map<string, Array<(typeof history)[number]>>()
        for (const line of history) linesOf.set(line.task_id, [...(linesOf.get(line.task_id) ?? []), line])
        const idle = new Map<string, number>()
        for (const [task, lines] of linesOf) {
          const firstSweep = lines.find((line) => line.kind === "sweep")!.at
          const times = lines.filter((line) => line.kind !== "sweep" && line.at < firstSweep).map((line) => line.at)
          times.push(firstSweep)
          let gap = 0
          for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!)
          idle.set(task, gap)
        }
        for (const row of dispatches) {
          // Each dispatch attempt is the accepting bot's first one, or one sweep's (a sweep line, then the attempt).
          assert.isTrue(row.n === row.sweeps || row.n === row.sweeps + 1, `${row.task_id}: ${row.n} / ${row.sweeps}`)
          if (row.sweeps > 0) {
            assert.isTrue(
              active.has(row.task_id) || (idle.get(row.task_id) ?? 0) >= DISPATCH_TIMEOUT_MS,
              `${row.task_id} was swept though not stuck (idle ${idle.get(row.task_id)} ms)`
            )
          }
          assert.isAtMost(row.n, PorterConfig.defaults.maxDispatchAttempts, row.task_id)
        }
        const resumed = dispatches.filter((row) => row.sweeps > 0)
        const killedBots = [...proxy.webhooks.entries()].filter(([, answers]) =>
          answers.some((a) => a.backend === KILLED && a.status === 202)
        ).map(([guid]) => guid)
        assert.isAbove(killedBots.length, 0, "the killed bot had accepted deliveries")
        assert.isAbove(midDispatch.length, 0, "the bot was killed while it dispatched a task")
        const ended = new Map(tasks.map((task) => [task.id, task.state]))
        for (const id of midDispatch) assert.strictEqual(ended.get(id), "succeeded", id)
        // Its half-done work was taken up by the others' sweeps: deliveries handled again, or tasks dispatched again.
        const retried = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE attempts > 1`
        assert.isAbove(retried[0]!.n + resumed.length, 0, "the killed bot's work was taken up by another's sweep")

        // Every delivery handled (none left for a retry) and every task on its issue.
        const pending = yield* sql<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM deliveries WHERE completed_at IS NULL`
        assert.strictEqual(pending[0]!.n, 0)
        const markers: Array<string> = []
        for (const issue of issues) {
          const list = yield* Support.restAt<ReadonlyArray<Support.Comment>>(
            github.url,
            owner.token,
            "GET",
            `/repos/${repo}/issues/${issue}/comments?per_page=100`
          )
          for (const comment of list) {
            const marker = comment.user.login === github.app.botLogin ? Messages.parseMarker(comment.body) : undefined
            if (marker !== undefined) markers.push(marker.id)
          }
        }
        // One status comment per task, but where the killed bot's request to make one was on its way when it died: it
        // still lands (GitHub completes a request its sender no longer waits for), and the bot that takes the task up
        // makes its own.
        const byTask = countBy(markers, (id) => id)
        assert.strictEqual(byTask.size, DELIVERIES, "every task shows on its issue")
        const twice = [...byTask].filter(([, n]) => n > 1).map(([id]) => id)
        const taken = new Set(killedBots)
        for (const id of twice) {
          const task = tasks.find((t) => t.id === id)
          assert.isTrue(task !== undefined && taken.has(task.delivery_id), `${id}: two status comments`)
        }
        yield* Effect.logInfo("replicas", {
          acceptedByKilledBot: killedBots.length,
          activeAtKill: activeAtKill.length,
          midDispatchAtKill: midDispatch.length,
          resumedBySweep: resumed.length,
          deliveriesRetried: retried[0]!.n,
          tasksWithTwoStatusComments: twice.length
        })
        const pids = lines.map(([, pid]) => Number(pid))
        yield* Support.eventually(
          "every machine to be gone",
          Effect.sync(() => (pids.some(alive) ? Option.none() : Option.some(true))),
          "20 seconds"
        )
      })),
    300_000
  )
})
