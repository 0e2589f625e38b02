/**
 * Fuzzing the model gateway, in-process (Porter's HTTP app, in-memory layers, a provider stand-in upstream that never
 * answers 5xx — `App.modelStub`): ≥ 10,000 generated requests under `/gateway/` — any method, path, task id, provider
 * segment, credential (right, the task token, another task's, random, none; in every place a CLI puts a key, several at
 * once), headers and body (JSON, text, bytes, over the limit; some asking the stand-in to echo the key it got or to
 * answer 429).
 *
 * Each answer: never a 5xx (every 5xx would be Porter's own), always one of the gateway's statuses; never a stored
 * provider key in any encoding, in its body or headers; a model call only with the task's own gateway credential on
 * an active task. Nothing crashed (no defect or storage failure logged). `PORTER_RELIABILITY=long` runs 5 times more.
 */
import { assert, describe, it } from "@effect/vitest"
import { SecretScan } from "@porter/core"
import { Deliveries } from "@porter/reliability"
import { Effect, Redacted } from "effect"
import fc from "fast-check"
import * as App from "./support/App.ts"

const LONG = process.env["PORTER_RELIABILITY"] === "long"
const RUNS = LONG ? 50_000 : 10_000

const tally = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)
const show = (map: Map<string, number>) =>
  [...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(", ")

const needles = Object.values(App.PROVIDER_KEYS).flatMap((key) => SecretScan.variantsOf(key))

const ALLOWED = new Set([200, 400, 401, 403, 404, 413, 429])

const validRest = [
  "anthropic/v1/messages",
  "anthropic/v1/messages/count_tokens",
  "openai/v1/responses",
  "openai/v1/chat/completions",
  "openai/v1/models",
  "openai/v1/models/gpt-5",
  "gemini/v1beta/models/gemini-2.5-pro:generateContent",
  "gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
  "gemini/v1/models/gemini-2.5-flash:countTokens",
  "gemini/v1beta/models"
]

const segment = fc.oneof(
  fc.constantFrom("anthropic", "openai", "gemini", "v1", "v1beta", "messages", "models", "..", ".", "%2e%2e", ""),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.stringMatching(/^[a-z0-9:._-]{1,30}$/)
)

const rest = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...validRest) },
  { weight: 3, arbitrary: fc.array(segment, { maxLength: 6 }).map((parts) => parts.join("/")) },
  { weight: 1, arbitrary: fc.constantFrom(...validRest).map((path) => `${path}/${"x".repeat(2_000)}`) },
  { weight: 1, arbitrary: fc.constantFrom(...validRest).map((path) => path.replace("/v1", "//v1/../v1")) }
)

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constant("POST") },
  { weight: 2, arbitrary: fc.constant("GET") },
  { weight: 1, arbitrary: fc.constantFrom("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD") }
)

const place = fc.constantFrom("x-api-key", "bearer", "x-goog-api-key", "query", "all", "basic")
const credential = fc.constantFrom("right", "right", "right", "task token", "other task's", "random", "none", "empty")

const body = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      model: fc.constantFrom("claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro", "", "x".repeat(300)),
      stream: fc.boolean(),
      marker: fc.constantFrom("", "", "", "porter-fuzz-echo", "porter-fuzz-limit")
    }).map(({ marker, model, stream }) =>
      JSON.stringify({ model, stream, max_tokens: 10, messages: [{ role: "user", content: `hi ${marker}` }] })
    )
  },
  { weight: 2, arbitrary: fc.json() },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("latin1")) },
  {
    weight: 1,
    arbitrary: fc.nat({ max: 3 }).map((n) => `{"stream":true,"pad":"${"x".repeat(App.MAX_GATEWAY_BYTES + n)}"}`)
  }
)

const extraHeaders = fc.dictionary(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((name) => !["host", "content-length"].includes(name)),
  fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
  { maxKeys: 3 }
)

describe("fuzzing the model gateway, in-process", () => {
  it.live(
    `${RUNS.toLocaleString("en")} requests under /gateway/: no 5xx, no crash, no key in any answer`,
    () =>
      Effect.gen(function*() {
        const app = yield* App.make
        const statuses = new Map<string, number>()
        const tasks: Array<{ readonly id: string; readonly callback: string; readonly gateway: string }> = []
        // Tasks through the webhook endpoint: `script` runs dispatched to in-memory machines; every fifth is cancelled.
        for (let i = 0; i < 10; i++) {
          const payload = JSON.stringify({
            action: "created",
            issue: { number: 1 + i, title: "t", body: "", state: "open", user: { login: "o", id: 1, type: "User" } },
            comment: {
              id: 990_000 + i,
              body: "@porter script do it",
              user: { login: "octocat", id: 583231, type: "User" }
            },
            repository: {
              id: 1,
              name: "parser",
              full_name: "octo-org/parser",
              owner: { login: "octo-org", id: 2, type: "Organization" },
              default_branch: "main"
            },
            sender: { login: "octocat", id: 583231, type: "User" },
            installation: { id: 31 }
          })
          const delivery = Deliveries.signed(App.WEBHOOK_SECRET, "issue_comment", payload)
          const response = yield* Effect.promise(() =>
            app.handler(
              new Request("http://porter.test/webhooks/github", {
                method: "POST",
                headers: delivery.headers,
                body: payload
              })
            )
          )
          assert.strictEqual(response.status, 202)
        }
        for (const created of yield* app.machines.created) {
          tasks.push({
            id: created.spec.taskId,
            callback: Redacted.value(created.spec.secretEnv["CALLBACK_TOKEN"]!),
            gateway: Redacted.value(created.spec.secretEnv["GATEWAY_TOKEN"]!)
          })
        }
        assert.isAtLeast(tasks.length, 5)
        const ended = new Set<string>()
        for (const task of tasks.filter((_, i) => i % 5 === 4)) {
          yield* Effect.promise(() =>
            app.handler(
              new Request(`http://porter.test/callbacks/tasks/${task.id}`, {
                method: "POST",
                headers: { authorization: `Bearer ${task.callback}`, "content-type": "application/json" },
                body: JSON.stringify({ type: "completed", outcome: "no_changes" })
              })
            )
          )
          ended.add(task.id)
        }

        const target = fc.oneof(
          { weight: 8, arbitrary: fc.nat().map((n) => ({ kind: "task" as const, n })) },
          { weight: 1, arbitrary: fc.constant({ kind: "unknown" as const, n: 0 }) },
          {
            weight: 1,
            arbitrary: fc.string({ maxLength: 40 }).map((text) => ({ kind: "garbage" as const, n: 0, text }))
          }
        )
        let modelCalls = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              target,
              rest,
              method,
              credential,
              place,
              body,
              extraHeaders,
              async (to, path, verb, cred, where, text, extra) => {
                const task = tasks[to.n % tasks.length]!
                const id = to.kind === "task"
                  ? task.id
                  : to.kind === "unknown"
                  ? "task_01zzzzzzzzzzzzzzzzzzzzzzzz"
                  : encodeURIComponent(to.text)
                const presented = cred === "right"
                  ? task.gateway
                  : cred === "task token"
                  ? task.callback
                  : cred === "other task's"
                  ? tasks[(to.n + 1) % tasks.length]!.gateway
                  : cred === "random"
                  ? `tok_${Math.random().toString(36).slice(2)}`
                  : cred === "empty"
                  ? ""
                  : undefined
                const headers: Record<string, string> = { ...extra, "content-type": "application/json" }
                let url = `http://porter.test/gateway/tasks/${id}/${path}`
                if (presented !== undefined) {
                  if (where === "x-api-key" || where === "all") headers["x-api-key"] = presented
                  if (where === "bearer" || where === "all") headers["authorization"] = `Bearer ${presented}`
                  if (where === "x-goog-api-key") headers["x-goog-api-key"] = presented
                  if (where === "basic") headers["authorization"] = `Basic ${btoa(`x:${presented}`)}`
                  if (where === "query" || where === "all") {
                    url += `${url.includes("?") ? "&" : "?"}key=${encodeURIComponent(presented)}`
                  }
                }
                const seenBefore = modelCalls
                const response = await app.handler(
                  new Request(url, {
                    method: verb,
                    headers,
                    ...(verb === "GET" || verb === "HEAD" ? {} : { body: text })
                  })
                )
                const answer = await response.text()
                tally(statuses, String(response.status))
                if (response.status === 200) modelCalls++
                assert.isTrue(ALLOWED.has(response.status), `${response.status} for ${verb} ${url.slice(0, 200)}`)
                const everything = `${answer}\n${JSON.stringify([...response.headers])}`
                for (const needle of needles) {
                  assert.notInclude(everything, needle, `a key in the answer to ${verb} ${path}`)
                }
                // A 200 only for the task's own gateway credential, on an active task, on a route the gateway serves.
                if (response.status === 200) {
                  assert.strictEqual(to.kind, "task")
                  assert.isTrue(
                    cred === "right" || (cred === "other task's" && presented === task.gateway),
                    `200 with ${cred}`
                  )
                  assert.isFalse(ended.has(task.id), "a call for an ended task")
                  assert.strictEqual(where === "basic", false, "Basic is no place for a key")
                } else {
                  assert.strictEqual(modelCalls, seenBefore)
                }
              }
            ),
            { numRuns: RUNS }
          )
        )
        const crashes = app.logs().filter((line) =>
          line.level === "Fatal" || /defect|could not read its state|storage failed/i.test(line.message)
        )
        assert.deepStrictEqual(crashes, [])
        for (const code of ["200", "401", "403", "404"]) assert.isTrue(statuses.has(code), `some ${code} answers`)
        console.log(`gateway fuzz: ${RUNS.toLocaleString("en")} requests, answers ${show(statuses)}; no 5xx, no key`)
      }),
    600_000
  )
})
