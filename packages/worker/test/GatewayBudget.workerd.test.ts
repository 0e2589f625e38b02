// Budgets, end to end in the Worker (workerd, local D1): a script on the machine that keeps calling the model through
// the gateway is stopped at its task's cap — the call that crosses it is the last one the provider sees (at most one
// over), the next is refused in Anthropic's format, the task ends failed with "budget reached" and its status comment
// shows the spend and the cap. Then the spent monthly budgets — the repository's, the requester's — refuse new
// requests with a comment naming the budget; nothing starts.
import { assert, layer } from "@effect/vitest"
import { GitHubEmulator } from "@porter/testkit"
import * as ModelServer from "@porter/testkit/model"
import * as LocalStack from "@porter/worker/stack"
import { Context, Effect, Layer, Option } from "effect"
import {
  ADMIN_TOKEN,
  comment,
  eventually,
  machineOf,
  openIssue,
  porterComments,
  Stack,
  taskById,
  tasksOf
} from "./support/Stack.ts"

class Model extends Context.Service<Model, ModelServer.Server>()("@porter/worker/test/GatewayBudget/Model") {}

const StackWithGateway = Layer.effect(
  Stack,
  Effect.gen(function*() {
    const model = yield* Model
    const stack = yield* LocalStack.start({
      adminToken: ADMIN_TOKEN,
      workerEnv: { PORTER_GATEWAY_ANTHROPIC_URL: model.url, PORTER_SETTINGS_CACHE_MS: "0" }
    }).pipe(Effect.orDie)
    const github = stack.github!
    const owner = github.admin
    const rest = (token: string, method: string, path: string, body?: unknown) =>
      Effect.promise(() => GitHubEmulator.rest(token, method, `${github.url}${path}`, body))
    yield* rest(owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    const reader = yield* Effect.promise(() => github.createUser("rita"))
    yield* rest(owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, { permission: "push" })
    return Stack.of({ worker: stack.worker, github, machines: stack.machines, repo, admin: owner, writer, reader })
  })
).pipe(Layer.provideMerge(Layer.effect(Model, ModelServer.start({ script: [] }))))

const adminCall = (method: string, path: string, body: unknown) =>
  Effect.gen(function*() {
    const { worker } = yield* Stack
    const response = yield* Effect.promise(() =>
      worker.fetch(`${worker.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body)
      })
    )
    assert.strictEqual(response.status, 200, `${method} ${path}`)
  })

/** The machine's script: up to 40 streamed calls through the gateway, each status on a line; stops at the first refusal. */
const loop = [
  "const base = process.env.ANTHROPIC_BASE_URL, key = process.env.ANTHROPIC_API_KEY;",
  "for (let i = 1; i <= 40; i++) {",
  "const r = await fetch(base + \"/v1/messages\", { method: \"POST\", headers: { \"x-api-key\": key,",
  "\"content-type\": \"application/json\", \"anthropic-version\": \"2023-06-01\" }, body: JSON.stringify({",
  "model: \"loop-model\", max_tokens: 16, stream: true, messages: [{ role: \"user\", content: \"hi\" }] }) });",
  "const text = await r.text(); console.log(\"CALL \" + i + \" \" + r.status + \" \" + (r.status === 200 ? \"\" :",
  "text.slice(0, 400))); if (r.status !== 200) break; }"
].join(" ")

const finished = (issue: number) =>
  eventually(
    `the task on #${issue} to end`,
    Effect.map(tasksOf(issue), (tasks) =>
      Option.fromNullishOr(tasks.find((t) =>
        ["succeeded", "failed", "timed_out", "cancelled"].includes(t.state)
      ))),
    "90 seconds"
  )

layer(StackWithGateway, { timeout: "240 seconds", excludeTestServices: true })("budgets (workerd)", (it) => {
  it.effect(
    "a script that keeps calling the model stops at its task's cap; then monthly budgets refuse new requests",
    () =>
      Effect.gen(function*() {
        const model = yield* Model
        const { writer } = yield* Stack
        yield* adminCall("PUT", "/admin/secrets", {
          scope: "global",
          name: "ANTHROPIC_API_KEY",
          value: "sk-ant-api03-budget-e2e-key-000000"
        })
        // Each call costs about a fifth of a dollar at this price; the default cap is $1 for this repository.
        yield* adminCall("PUT", "/admin/settings", {
          scope: "global",
          settings: { taskBudgetUsd: 1, prices: ["loop-model=10000/10000"] }
        })
        const issue = yield* openIssue("Spend it all")
        yield* comment(
          writer,
          issue.number,
          `@porter script spend\n\n\`\`\`porter-script\nrun node --input-type=module -e '${loop}'\n\`\`\``
        )
        const task = yield* finished(issue.number)
        assert.strictEqual(task.state, "failed", (yield* machineOf(task.id)).output.slice(-3000))
        assert.match(task.reason ?? "", /^budget reached: \$1\.\d\d spent of this task's \$1\.00 budget$/)

        // The calls the provider saw, in order, and what each cost: the last one allowed crossed the cap, no other did.
        const served = model.requests().filter((r) => r.api === "anthropic")
        const usage = task.usage!
        const perCall = (usage.costUsd ?? 0) / served.length
        assert.isAtLeast(served.length, 2)
        assert.isBelow((usage.costUsd ?? 0) - perCall, 1 + 1e-9, "before the last call the task was under its cap")
        assert.isAtLeast(usage.costUsd ?? 0, 1, "the last call took it to or over the cap")
        const machine = yield* machineOf(task.id)
        const lines = machine.output.split("\n").filter((line) => /^\[agent\] CALL \d+ /.test(line))
        const refused = lines.find((line) => !/ 200\s*$/.test(line))
        assert.isDefined(refused, machine.output.slice(-2000))
        assert.include(refused!, " 403 ")
        assert.include(refused!, "permission_error")
        assert.include(refused!, "budget reached")
        assert.strictEqual(lines.filter((line) => / 200\s*$/.test(line)).length, served.length)

        // The issue says why, with the spend and the cap.
        const [status] = yield* porterComments(issue.number)
        assert.include(status!.body, "❌")
        assert.include(status!.body, "budget reached")
        assert.include(status!.body, "of this task's $1.00 budget")
        const { events } = yield* taskById(task.id)
        assert.isTrue(events.some((e) => e.to === "failed"))

        // The repository's monthly budget is now spent: a new request gets a comment naming it, and nothing starts.
        yield* adminCall("PUT", "/admin/settings", { scope: "global", settings: { repoMonthlyBudgetUsd: 0.5 } })
        const next = yield* openIssue("One more")
        yield* comment(writer, next.number, "@porter script do one more thing")
        const repoRefusal = yield* eventually(
          "the monthly budget's refusal",
          Effect.map(porterComments(next.number), (said) => Option.fromNullishOr(said[0])),
          "30 seconds"
        )
        assert.include(repoRefusal.body, "monthly budget")
        assert.include(repoRefusal.body, "repoMonthlyBudgetUsd")
        assert.strictEqual((yield* tasksOf(next.number)).length, 0)

        // The requester's (all repositories together): the same, naming them.
        yield* adminCall("PUT", "/admin/settings", {
          scope: "global",
          settings: { repoMonthlyBudgetUsd: 0, userMonthlyBudgetUsd: 0.5 }
        })
        const third = yield* openIssue("And another")
        yield* comment(writer, third.number, "@porter script and another")
        const userRefusal = yield* eventually(
          "the requester's budget's refusal",
          Effect.map(porterComments(third.number), (said) => Option.fromNullishOr(said[0])),
          "30 seconds"
        )
        assert.include(userRefusal.body, `@${writer.login}'s $0.50 monthly budget`)
        assert.include(userRefusal.body, "userMonthlyBudgetUsd")
        assert.strictEqual((yield* tasksOf(third.number)).length, 0)
        console.log(
          `budget: ${served.length} calls served, ${lines.length} made, ${Messages(usage)}; monthly refusals posted`
        )
      }),
    240_000
  )
})

const Messages = (usage: { readonly costUsd?: number | undefined }) => `$${(usage.costUsd ?? 0).toFixed(4)} spent`
