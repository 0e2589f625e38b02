/**
 * Fuzzing, in-process (Porter's HTTP app with the real GitHub webhook intake, in-memory layers): ≥ 10,000 generated
 * inputs each for the webhook endpoint, the callback endpoint and the command parser.
 *
 * - Webhooks: only 2xx/4xx answers, never a 5xx or a defect (the app turns a defect into a logged 400, so the logs
 *   are checked too); no task from an invalid input (bad or missing signature, tampered or malformed body, missing
 *   headers, oversized); a valid signed delivery creates exactly the task the command parser says it should (one
 *   for a run, none for anything else).
 * - Callbacks: the answer is exactly the one the contract gives for the input (401 token, 413 size, 400 body, 404
 *   task, 409 ended, 200); nothing changes a task unless the token and body are right; a task that ended never
 *   changes again.
 * - Parser: total (never throws, always one of its results), deterministic, mentions in code, quotes and HTML
 *   comments never count, and generated well-formed commands parse to exactly what they say.
 *
 * `PORTER_RELIABILITY=long` multiplies the runs by 5.
 */
import { assert, describe, it } from "@effect/vitest"
import { AgentCatalog, CommandParser, Ids, type Task } from "@porter/core"
import { Deliveries } from "@porter/reliability"
import { Effect, Option, Redacted, Schema } from "effect"
import fc from "fast-check"
import * as App from "./support/App.ts"
import {
  callbackBody,
  commandLine,
  commentBody,
  webhookCase,
  webhookExtras,
  webhookRequest
} from "./support/Arbitraries.ts"

const LONG = process.env["PORTER_RELIABILITY"] === "long"
const RUNS = LONG ? 50_000 : 10_000
const REPO = "octo-org/parser"

const tally = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)
const show = (map: Map<string, number>) =>
  [...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(", ")

/** Defects and storage failures the app caught and logged: each one is a crash the fuzzer found. */
const crashes = (app: App.App) =>
  app.logs().filter((line) =>
    /intake failed|callback failed|storage failed|handling a delivery failed/.test(line.message)
  )

describe("fuzzing, in-process", () => {
  it.live(
    `webhook endpoint: ${RUNS.toLocaleString("en")} inputs, 2xx/4xx only, tasks exactly as the parser says`,
    () =>
      Effect.gen(function*() {
        const app = yield* App.make
        const statuses = new Map<string, number>()
        const kinds = new Map<string, number>()
        let expectedTasks = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(webhookCase, webhookExtras, async (testCase, extras) => {
              const delivery = webhookRequest(App.WEBHOOK_SECRET, testCase, {
                ...extras,
                valid: "",
                maxBytes: App.MAX_WEBHOOK_BYTES
              })
              let expected = 0
              if (
                testCase.kind === "valid" && testCase.event === "issue_comment" && testCase.action === "created" &&
                testCase.author === "User"
              ) {
                const parsed = app.parser.parse(testCase.body, app.settings)
                if (parsed._tag === "Run") expected = 1
                if (parsed._tag === "Retry") {
                  // A retry starts a task again when the issue's latest task has ended.
                  const [latest] = await Effect.runPromise(app.store.listByIssue(REPO, testCase.issueNumber, 1))
                  if (latest !== undefined && latest.isTerminal) expected = 1
                }
              }
              const before = app.created()
              const response = await app.handler(
                new Request("http://porter.test/webhooks/github", {
                  method: "POST",
                  headers: delivery.headers,
                  body: delivery.body
                })
              )
              await response.arrayBuffer()
              const kind = testCase.kind === "valid"
                ? `valid ${testCase.event}`
                : `${testCase.kind}${"how" in testCase ? ` (${testCase.how})` : ""}`
              tally(kinds, testCase.kind)
              tally(statuses, String(response.status))
              assert.isTrue(response.status < 500, `${kind}: ${response.status}`)
              if (testCase.kind === "valid") assert.include([200, 202], response.status, kind)
              if (testCase.kind === "bad signature") assert.strictEqual(response.status, 401, kind)
              if (testCase.kind === "malformed") assert.include([200, 400, 401], response.status, kind)
              if (testCase.kind === "oversized") assert.strictEqual(response.status, 413, kind)
              assert.strictEqual(app.created() - before, expected, `${kind}: ${JSON.stringify(testCase).slice(0, 300)}`)
              expectedTasks += expected
            }),
            { numRuns: RUNS }
          )
        )
        assert.deepStrictEqual(crashes(app), [])
        assert.strictEqual(app.created(), expectedTasks)
        assert.isAbove(expectedTasks, RUNS / 40, "the generator makes runs often enough to test task creation")
        console.log(
          `webhook fuzz: ${RUNS} inputs (${show(kinds)}); answers ${
            show(statuses)
          }; ${app.created()} tasks created, as expected`
        )
      }),
    { timeout: LONG ? 600_000 : 120_000 }
  )

  it.live(
    `callback endpoint: ${RUNS.toLocaleString("en")} inputs, the contract's answer each time`,
    () =>
      Effect.gen(function*() {
        const app = yield* App.make
        const statuses = new Map<string, number>()
        const machinesSeen = new Set<string>()
        const live: Array<{ readonly id: string; readonly token: string }> = []
        let serial = 0
        /** New tasks through the webhook endpoint, each a `script` run dispatched to an in-memory machine. */
        const refill = async () => {
          for (let i = 0; i < 20; i++) {
            const body = JSON.stringify({
              action: "created",
              issue: {
                number: 1 + (serial % 30),
                title: "t",
                body: "",
                state: "open",
                user: { login: "o", id: 1, type: "User" }
              },
              comment: {
                id: 900_000 + ++serial,
                body: "@porter script do it",
                user: { login: "octocat", id: 583231, type: "User" }
              },
              repository: {
                id: 1,
                name: "parser",
                full_name: REPO,
                owner: { login: "octo-org", id: 2, type: "Organization" },
                default_branch: "main"
              },
              sender: { login: "octocat", id: 583231, type: "User" },
              installation: { id: 31 }
            })
            const delivery = Deliveries.signed(App.WEBHOOK_SECRET, "issue_comment", body)
            const response = await app.handler(
              new Request("http://porter.test/webhooks/github", { method: "POST", headers: delivery.headers, body })
            )
            assert.strictEqual(response.status, 202)
          }
          for (const created of await Effect.runPromise(app.machines.created)) {
            if (machinesSeen.has(created.machine.id)) continue
            machinesSeen.add(created.machine.id)
            live.push({ id: created.spec.taskId, token: Redacted.value(created.spec.secretEnv["CALLBACK_TOKEN"]!) })
          }
        }
        yield* Effect.promise(refill)
        const taskOf = (id: string) => Effect.runPromise(app.store.find(id as Ids.TaskId)).then(Option.getOrUndefined)
        const snapshot = (task: Task.Task | undefined) => (task ? JSON.stringify(task) : "none")

        const target = fc.oneof(
          { weight: 6, arbitrary: fc.nat().map((n) => ({ kind: "existing" as const, n })) },
          { weight: 1, arbitrary: fc.constant({ kind: "unknown id" as const, n: 0 }) },
          {
            weight: 1,
            arbitrary: fc.string({ maxLength: 40 }).map((text) => ({ kind: "garbage id" as const, n: 0, text }))
          }
        )
        const token = fc.constantFrom("right", "right", "right", "other task's", "random", "missing", "not bearer")
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(target, token, callbackBody, fc.boolean(), async (to, tokenKind, body, oversized) => {
              if ((await Effect.runPromise(app.store.countActive({}))) < 5) await refill()
              const entry = live[to.n % live.length]!
              const id = to.kind === "existing"
                ? entry.id
                : to.kind === "unknown id"
                ? await Effect.runPromise(Ids.makeTaskId)
                : "text" in to
                ? to.text
                : ""
              const rightToken = Redacted.value(await Effect.runPromise(app.tokens.issue(id)))
              const presented = tokenKind === "right"
                ? rightToken
                : tokenKind === "other task's"
                ? (live.find((t) => t.id !== id)?.token ?? "x")
                : tokenKind === "random"
                ? `tok_${Math.random().toString(36).slice(2)}`
                : undefined
              const headers: Record<string, string> = { "content-type": "application/json" }
              if (presented !== undefined) headers["authorization"] = `Bearer ${presented}`
              if (tokenKind === "not bearer") {
                headers["authorization"] = `Basic ${Buffer.from(`x:${rightToken}`).toString("base64")}`
              }
              const text = oversized && to.n % 50 === 0
                ? `{"type":"heartbeat","step":"${"x".repeat(256 * 1024)}"}`
                : body.text
              const before = to.kind === "existing" ? await taskOf(id) : undefined

              const response = await app.handler(
                new Request(`http://porter.test/callbacks/tasks/${encodeURIComponent(id)}`, {
                  method: "POST",
                  headers,
                  body: text
                })
              )
              await response.arrayBuffer()
              tally(statuses, String(response.status))
              const validId = Option.isSome(Schema.decodeUnknownOption(Ids.TaskId)(id))
              const tokenOk = (tokenKind === "right" && validId) ||
                (tokenKind === "other task's" && presented === rightToken)
              // The token is checked before the body is read. A garbage id may not even match the route (404), or be
              // turned away before the body is read (401, 413);
              // with the token of that very text (which only the deployment's secret can make), the path does not
              // decode (400).
              const expected = !validId
                ? tokenKind === "right" ? [400, 401, 404, 413] : [401, 404, 413]
                : !tokenOk
                ? [401]
                : text.length > 256 * 1024
                ? [413]
                : !body.valid
                ? [400]
                : to.kind !== "existing"
                ? [404]
                : before!.isTerminal
                ? [409]
                : [200]
              assert.include(
                expected,
                response.status,
                `${to.kind}, token ${tokenKind}, body ${body.text.slice(0, 80)}`
              )
              if (to.kind === "existing") {
                const after = await taskOf(id)
                if (response.status !== 200) {
                  // Only the audit trail may have grown: the task itself did not change.
                  assert.strictEqual(snapshot(after), snapshot(before))
                } else if (body.terminal) {
                  assert.isTrue(after!.isTerminal, "a completed callback ends the task")
                }
                if (before!.isTerminal) assert.strictEqual(after!.state, before!.state, "a terminal task never changes")
              }
            }),
            { numRuns: RUNS }
          )
        )
        assert.deepStrictEqual(crashes(app), [])
        console.log(`callback fuzz: ${RUNS} inputs over ${live.length} tasks; answers ${show(statuses)}`)
      }),
    { timeout: LONG ? 600_000 : 120_000 }
  )

  it.live(
    `command parser: ${RUNS.toLocaleString("en")} texts each for totality and determinism, plus well-formed commands`,
    () =>
      Effect.sync(() => {
        const catalog = AgentCatalog.make(AgentCatalog.builtInAgents)
        const parser = CommandParser.make(catalog)
        const settings = App.settings
        const tags = new Map<string, number>()
        const known = ["Run", "Help", "Status", "Cancel", "Retry", "NotForPorter", "Problem"]
        fc.assert(
          fc.property(
            fc.oneof(
              commentBody,
              fc.string({ unit: "grapheme", maxLength: 300 }),
              fc.string({ unit: "binary", maxLength: 300 })
            ),
            (text) => {
              const first = parser.parse(text, settings)
              tally(tags, first._tag)
              assert.include(known, first._tag)
              assert.deepStrictEqual(parser.parse(text, settings), first)
              if (!text.toLowerCase().includes("@porter")) assert.strictEqual(first._tag, "NotForPorter")
              if (first._tag === "Run") {
                assert.isTrue(catalog.resolve(first.agent)._tag === "Some", "a run names a known agent")
                assert.isAbove(first.instructions.trim().length, 0)
                if (first.timeoutMs !== undefined) assert.isAtMost(first.timeoutMs, settings.maxTimeoutMs)
              }
            }
          ),
          { numRuns: RUNS }
        )
        // A mention in code, a quote or an HTML comment never counts.
        fc.assert(
          fc.property(commandLine, fc.constantFrom("fence", "tilde", "quote", "comment", "indented"), (line, where) => {
            const text = where === "fence"
              ? `\`\`\`\n${line}\n\`\`\``
              : where === "tilde"
              ? `~~~\n${line}\n~~~`
              : where === "quote"
              ? `> ${line}`
              : where === "comment"
              ? `<!--\n${line}\n-->`
              : `    ${line.trim()}`
            assert.strictEqual(parser.parse(text, settings)._tag, "NotForPorter", text)
          }),
          { numRuns: Math.round(RUNS / 2) }
        )
        // Well-formed commands parse to exactly what they say.
        const agents = AgentCatalog.builtInAgents
        const instruction = fc.array(fc.stringMatching(/^[a-z][a-z0-9.]{0,11}$/), { minLength: 1, maxLength: 8 })
          .filter((ws) =>
            !ws[0]!.startsWith("-") && !["help", "status", "cancel", "stop", "retry"].includes(ws.join(" "))
          )
          .map((ws) => ws.join(" "))
        fc.assert(
          fc.property(
            fc.constantFrom(...agents),
            fc.option(fc.constantFrom("opus", "sonnet", "gpt-5.1", "gemini-2.5-pro"), { nil: undefined }),
            fc.option(fc.integer({ min: 1, max: 119 }), { nil: undefined }),
            fc.option(fc.constantFrom(1, 2.5, 10), { nil: undefined }),
            instruction,
            (agent, model, minutes, budget, words) => {
              const text = `@porter ${agent.name}${model ? ` --model ${model}` : ""}${
                minutes ? ` --timeout ${minutes}m` : ""
              }${budget ? ` --budget ${budget}` : ""} ${words}`
              const parsed = parser.parse(text, settings)
              // A flag the agent cannot honour is refused, naming the agent (Amp and script take no model; Amp's
              // calls are not metered, so no budget).
              const unhonoured = (model !== undefined && agent.acceptsModel === false) ||
                (budget !== undefined && agent.keysOnMachine === true)
              if (unhonoured) {
                assert.strictEqual(parsed._tag === "Problem" ? parsed.kind : parsed._tag, "unsupported_flag", text)
                if (parsed._tag === "Problem") assert.include(parsed.message, `\`${agent.name}\``)
                return
              }
              assert.strictEqual(parsed._tag, "Run", text)
              if (parsed._tag !== "Run") return
              assert.strictEqual(parsed.agent, agent.name)
              assert.strictEqual(parsed.model, model)
              assert.strictEqual(parsed.timeoutMs, minutes === undefined ? undefined : minutes * 60_000)
              assert.strictEqual(parsed.budgetUsd, budget)
              assert.strictEqual(parsed.instructions, words)
            }
          ),
          { numRuns: Math.round(RUNS / 2) }
        )
        console.log(
          `parser fuzz: ${RUNS} free texts (${show(tags)}), ${Math.round(RUNS / 2)} hidden mentions, ${
            Math.round(RUNS / 2)
          } well-formed commands`
        )
      }),
    { timeout: LONG ? 600_000 : 120_000 }
  )
})
