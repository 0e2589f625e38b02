/**
 * The long fuzzing run (`PORTER_RELIABILITY=long`, `npm run reliability:long`): the same generated inputs as
 * `Fuzz.test.ts`, ≥ 10,000 each, against the built Worker in workerd with its local D1, GitHub (the emulator) and
 * the local machines server behind it.
 *
 * - Webhooks: valid deliveries are built from a real delivery of the emulator (its repository, installation and a
 *   writer), so accepted runs go all the way to a task; the background work runs after the answer, so tasks are
 *   counted in batches of 100 once D1 has no unfinished delivery. Only 2xx/4xx answers; exactly the tasks the parser
 *   says (a `retry` may or may not start one, depending on its issue's latest task: counted as a range).
 * - Callbacks: tasks on sleeping machines (they never call back; the fuzzer plays the runner), tokens computed with
 *   the Worker's task-token secret; each answer is the one the contract gives, and a refused callback changes
 *   nothing in the task's row. Tasks are made ten at a time on ten issues, so some wait queued behind their issue's
 *   earlier task: those have no machine and take no callback (409).
 */
import { assert, describe, layer } from "@effect/vitest"
import { AgentCatalog, CommandParser, Ids, Settings, TaskTokens } from "@porter/core"
import { Deliveries, Stack } from "@porter/reliability"
import { Effect, Option, Redacted, Schema } from "effect"
import fc from "fast-check"
import { request as httpRequest } from "node:http"
import { callbackBody, webhookCase, webhookExtras, webhookRequest } from "./support/Arbitraries.ts"

const LONG = process.env["PORTER_RELIABILITY"] === "long"
const RUNS = 10_000
const TASK_TOKEN_SECRET = "reliability-long-task-token-secret-0123456789"
const parser = CommandParser.make(AgentCatalog.make(AgentCatalog.builtInAgents))
const settings = new Settings.RepoSettings({
  ...Settings.defaults,
  maxActivePerRepo: 1_000_000,
  maxActivePerUser: 1_000_000
})

const tally = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)
const show = (map: Map<string, number>) =>
  [...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(", ")

/**
 * POST on a connection of its own: the status, or "closed" when the server closed the connection while the body was
 * still being sent (EPIPE / reset) before any answer.
 */
const postAlone = (url: string, headers: Readonly<Record<string, string>>, body: string) =>
  new Promise<{ readonly status: number } | "closed">((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: "POST", headers: { ...headers, connection: "close" }, agent: false },
      (response) => {
        response.resume()
        response.on("end", () => resolve({ status: response.statusCode ?? 0 }))
        response.on("error", reject)
      }
    )
    request.on(
      "error",
      (error: NodeJS.ErrnoException) =>
        error.code === "EPIPE" || error.code === "ECONNRESET" ? resolve("closed") : reject(error)
    )
    request.end(body)
  })

/** Waits until D1 holds no claimed-but-unfinished delivery (the Worker's background work is done). */
const settled = Effect.gen(function*() {
  const { worker } = yield* Stack.Stack
  for (let i = 0; i < 1200; i++) {
    const row = yield* Effect.promise(() =>
      worker.db.prepare("SELECT count(*) AS n FROM deliveries WHERE completed_at IS NULL AND payload IS NOT NULL")
        .first<{ n: number }>()
    )
    if ((row?.n ?? 0) === 0) return
    yield* Effect.sleep("100 millis")
  }
  return yield* Effect.die(new Error("the Worker's background work did not finish"))
})

const taskCount = Stack.Stack.use(({ worker }) =>
  Effect.promise(async () =>
    (await worker.db.prepare("SELECT count(*) AS n FROM tasks").first<{ n: number }>())?.n ?? 0
  )
)

/** A real `issue_comment.created` payload from the emulator: the template of valid deliveries. */
const template = Effect.gen(function*() {
  const { writer } = yield* Stack.Stack
  const issues: Array<number> = []
  for (let i = 0; i < 20; i++) issues.push(yield* Stack.openIssue(`Fuzz ${i}`))
  const made = yield* Stack.comment(writer, issues[0]!, "just a comment")
  const delivery = (yield* Stack.deliveriesAnswered).find((d) =>
    (d.payload as { comment?: { id?: number } }).comment?.id === made.id
  )!
  return { issues, payload: delivery.payload as Record<string, Record<string, unknown>> }
})

let commentIds = 5_000_000

describe.skipIf(!LONG)("fuzzing against the Worker in workerd (long run)", () => {
  layer(Stack.layer({ machines: "stand-in", limits: 1_000_000 }), { excludeTestServices: true, timeout: 3_600_000 })(
    "webhooks",
    (it) => {
      it.effect(`webhook endpoint: ${RUNS.toLocaleString("en")} inputs`, () =>
        Effect.gen(function*() {
          const { github, worker } = yield* Stack.Stack
          const { issues, payload } = yield* template
          const secret = github.app.webhookSecret
          const statuses = new Map<string, number>()
          let min = yield* taskCount
          let max = min
          const cases = fc.sample(fc.tuple(webhookCase, webhookExtras), { numRuns: RUNS, seed: 42 })
          for (let start = 0; start < cases.length; start += 100) {
            for (const [testCase, extras] of cases.slice(start, start + 100)) {
              let delivery: Deliveries.Delivery
              if (testCase.kind === "valid") {
                const issueNumber = issues[testCase.issueNumber % issues.length]!
                const bot = { login: "dependabot[bot]", id: 49699333, type: "Bot" }
                const user = testCase.author === "Bot" ? bot : payload["comment"]!["user"]
                const body = {
                  ...payload,
                  action: testCase.action,
                  issue: { ...payload["issue"], number: issueNumber },
                  comment: { ...payload["comment"], id: ++commentIds, body: testCase.body, user },
                  sender: user,
                  ...(testCase.event === "pull_request" ? { pull_request: { number: issueNumber } } : {})
                }
                delivery = Deliveries.signed(secret, testCase.event, JSON.stringify(body))
                if (testCase.event === "issue_comment" && testCase.action === "created" && testCase.author === "User") {
                  const parsed = parser.parse(testCase.body, settings)
                  if (parsed._tag === "Run") min++
                  if (parsed._tag === "Run" || parsed._tag === "Retry") max++
                }
              } else {
                delivery = webhookRequest(secret, testCase, { ...extras, valid: "", maxBytes: 1024 * 1024 })
              }
              // An oversized body is refused from its Content-Length, before it is read, and workerd then closes the
              // connection: sent through Miniflare's pooled client, the refusal would break the next request on the
              // same socket (and the sender sees EPIPE). Those go on a connection of their own; Cloudflare's edge
              // buffers requests, so there GitHub simply gets the 413.
              const response = testCase.kind === "oversized"
                ? yield* Effect.promise(() =>
                  postAlone(`${worker.url}/webhooks/github`, delivery.headers, delivery.body)
                )
                : yield* Effect.promise(() =>
                  worker.fetch(`${worker.url}/webhooks/github`, {
                    method: "POST",
                    headers: delivery.headers,
                    body: delivery.body
                  })
                    .then((r) => r.arrayBuffer().then(() => r))
                )
              if (response === "closed") {
                tally(statuses, "closed while sending (oversized)")
                continue
              }
              tally(statuses, String(response.status))
              assert.isBelow(response.status, 500, JSON.stringify(testCase).slice(0, 300))
              if (testCase.kind === "bad signature") assert.strictEqual(response.status, 401)
              if (testCase.kind === "oversized") assert.strictEqual(response.status, 413)
            }
            yield* settled
            const count = yield* taskCount
            assert.isTrue(
              count >= min && count <= max,
              `after ${start + 100} inputs: ${count} tasks, expected ${min}…${max}`
            )
          }
          console.log(
            `webhook fuzz (workerd): ${RUNS} inputs; answers ${
              show(statuses)
            }; ${yield* taskCount} tasks (expected ${min}…${max})`
          )
        }), 3_600_000)
    }
  )

  layer(
    Stack.layer({ machines: "sleeper", limits: 1_000_000, workerEnv: { PORTER_TASK_TOKEN_SECRET: TASK_TOKEN_SECRET } }),
    { excludeTestServices: true, timeout: 3_600_000 }
  )("callbacks", (it) => {
    it.effect(`callback endpoint: ${RUNS.toLocaleString("en")} inputs`, () =>
      Effect.gen(function*() {
        const { github, worker } = yield* Stack.Stack
        const { issues, payload } = yield* template
        const tokens = yield* TaskTokens.make(Redacted.make(TASK_TOKEN_SECRET))
        const row = (id: string) =>
          Effect.promise(() => worker.db.prepare("SELECT state, heartbeat_at FROM tasks WHERE id = ?").bind(id).first())
        const active = () =>
          Effect.promise(async () =>
            (await worker.db.prepare("SELECT id FROM tasks WHERE state IN ('queued', 'provisioning', 'running')").all<
              { id: string }
            >()).results.map((r) => r.id)
          )
        const refill = Effect.gen(function*() {
          for (let i = 0; i < 10; i++) {
            const body = {
              ...payload,
              comment: { ...payload["comment"], id: ++commentIds, body: "@porter script fuzzed" },
              issue: { ...payload["issue"], number: issues[i]! }
            }
            const delivery = Deliveries.signed(github.app.webhookSecret, "issue_comment", JSON.stringify(body))
            yield* Effect.promise(() =>
              worker.fetch(`${worker.url}/webhooks/github`, {
                method: "POST",
                headers: delivery.headers,
                body: delivery.body
              })
            )
          }
          yield* settled
        })
        const statuses = new Map<string, number>()
        const cases = fc.sample(
          fc.tuple(
            fc.oneof(
              { weight: 6, arbitrary: fc.constant("existing" as const) },
              fc.constant("unknown id" as const),
              fc.constant("garbage id" as const)
            ),
            fc.constantFrom("right", "right", "right", "random", "missing"),
            callbackBody,
            fc.nat(),
            fc.string({ maxLength: 40 })
          ),
          { numRuns: RUNS, seed: 7 }
        )
        let live = yield* active()
        for (const [to, tokenKind, body, n, garbage] of cases) {
          if (live.length < 3) {
            yield* refill
            live = yield* active()
          }
          const id = to === "existing" ? live[n % live.length]! : to === "unknown id" ? yield* Ids.makeTaskId : garbage
          const right = Redacted.value(yield* tokens.issue(id))
          const headers: Record<string, string> = { "content-type": "application/json" }
          if (tokenKind === "right") headers["authorization"] = `Bearer ${right}`
          if (tokenKind === "random") headers["authorization"] = `Bearer tok_${n.toString(36)}`
          const before = to === "existing" ? yield* row(id) : null
          const response = yield* Effect.promise(() =>
            worker.fetch(`${worker.url}/callbacks/tasks/${encodeURIComponent(id)}`, {
              method: "POST",
              headers,
              body: body.text
            })
          )
          yield* Effect.promise(() => response.arrayBuffer())
          tally(statuses, String(response.status))
          const validId = Option.isSome(Schema.decodeUnknownOption(Ids.TaskId)(id))
          // A task still queued (its issue's earlier task holds the issue's slot) has no machine and takes no callback
          // (409), unless a task of its issue ended meanwhile and it was admitted before this call (200).
          const waiting = before !== null && before["state"] === "queued"
          // A garbage id with the token of that very text (only the deployment's secret can make it): the path does
          // not decode (400).
          const expected = !validId
            ? tokenKind === "right" ? [400, 401, 404] : [401, 404]
            : tokenKind !== "right"
            ? [401]
            : !body.valid
            ? [400]
            : to !== "existing"
            ? [404]
            : waiting
            ? [409, 200]
            : [200]
          assert.include(expected, response.status, `${to}, token ${tokenKind}, body ${body.text.slice(0, 80)}`)
          if (to === "existing" && response.status !== 200) {
            const after = yield* row(id)
            // A refused call changes nothing a callback could: the state and the heartbeat. (The task's own work goes
            // on meanwhile: a dispatch records its machine, a waiting task may be admitted.)
            if (!(waiting && after?.["state"] === "provisioning")) {
              assert.deepStrictEqual(
                { state: after?.["state"], heartbeat: after?.["heartbeat_at"] },
                { state: before?.["state"], heartbeat: before?.["heartbeat_at"] }
              )
            }
          }
          if (to === "existing" && body.terminal && response.status === 200) live = live.filter((t) => t !== id)
        }
        console.log(`callback fuzz (workerd): ${RUNS} inputs; answers ${show(statuses)}`)
      }), 3_600_000)
  })
})
