/**
 * Every gateway agent, for real, through Porter's model gateway in the Worker (workerd, local D1): a writer's comment
 * runs Claude Code, Codex, Gemini CLI or OpenCode (the pinned CLIs from node_modules/.bin) on a process machine that
 * holds no provider key — only the gateway's URL and the task's gateway credential — against the scripted model
 * server, which the Worker's gateway reaches with the stored key (`PORTER_GATEWAY_*_URL`). The pull request is opened
 * and the final status comment reports the gateway's tokens and cost: exactly what the model server served.
 *
 * OpenCode spends 10–25 s starting up on a busy 2-core machine; it runs here all the same (the gateway's acceptance
 * names every agent), but only with PORTER_SLOW_AGENT_TESTS=1 in the runner's own agent tests.
 */
import { assert, layer } from "@effect/vitest"
import { Messages } from "@porter/core"
import * as ModelServer from "@porter/testkit/model"
import { Effect, Option } from "effect"
import { KEYS, Model } from "./support/ModelStack.ts"
import * as ModelStack from "./support/ModelStack.ts"
import { comment, eventually, machineOf, openIssue, porterComments, Stack, tasksOf } from "./support/Stack.ts"

const agents: ReadonlyArray<{ readonly agent: string; readonly header: string; readonly key: string }> = [
  { agent: "claude", header: "x-api-key", key: KEYS.ANTHROPIC_API_KEY },
  { agent: "codex", header: "authorization", key: `Bearer ${KEYS.OPENAI_API_KEY}` },
  { agent: "gemini", header: "x-goog-api-key", key: KEYS.GEMINI_API_KEY },
  { agent: "opencode", header: "x-api-key", key: KEYS.ANTHROPIC_API_KEY }
]

layer(ModelStack.layer, { timeout: "240 seconds", excludeTestServices: true })(
  "agents through the gateway (workerd)",
  (it) => {
    for (const c of agents) {
      it.effect(
        `${c.agent}: a pull request; no key on the machine; the report's tokens and cost are the gateway's`,
        () =>
          Effect.gen(function*() {
            const model = yield* Model
            const { writer } = yield* Stack
            model.setScript([
              ModelServer.write("hello.txt", `Hello from ${c.agent}\n`),
              ModelServer.text(`${c.agent} added hello.txt.`)
            ])
            const before = model.usage()
            const seenBefore = model.requests().length
            const issue = yield* openIssue(`Say hello (${c.agent})`)
            yield* comment(writer, issue.number, `@porter ${c.agent} add hello.txt`)
            const task = yield* eventually(
              `the ${c.agent} task to end`,
              Effect.map(tasksOf(issue.number), (tasks) =>
                Option.fromNullishOr(
                  tasks.find((t) => ["succeeded", "failed", "timed_out", "cancelled"].includes(t.state))
                )),
              "200 seconds"
            )
            assert.strictEqual(task.state, "succeeded", task.reason)
            assert.include(task.prUrl ?? "", "/pull/")

            // The machine held the gateway's URL and credential, and none of the stored keys.
            const machine = yield* machineOf(task.id)
            assert.isDefined(machine.env["GATEWAY_TOKEN"])
            assert.strictEqual(
              machine.env["MODEL_GATEWAY_URL"],
              `${(yield* Stack).worker.url}/gateway/tasks/${task.id}`
            )
            const onMachine = JSON.stringify(machine.env)
            for (const key of Object.values(KEYS)) assert.notInclude(onMachine, key)
            // The provider got the stored key, in its own header; never the gateway credential.
            const calls = model.requests().slice(seenBefore).filter((r) => r.turn !== undefined)
            assert.isAtLeast(calls.length, 2)
            for (const call of calls) assert.strictEqual(call.headers[c.header], c.key)
            assert.notInclude(JSON.stringify(calls.map((r) => r.headers)), machine.env["GATEWAY_TOKEN"]!)

            // The gateway's figures: every token the model server served for this task, priced.
            const served = model.usage()
            const usage = task.usage!
            assert.strictEqual(usage.inputTokens, served.inputTokens - before.inputTokens)
            assert.strictEqual(usage.outputTokens, served.outputTokens - before.outputTokens)
            assert.isAbove(usage.costUsd ?? 0, 0)
            const [status] = yield* porterComments(issue.number)
            assert.strictEqual(Messages.parseMarker(status!.body)?.state, "succeeded")
            assert.include(status!.body, `Usage: ${Messages.formatUsage(usage)}`)
            console.log(`${c.agent}: ${Messages.formatUsage(usage)} (${calls.length} model calls)`)
          }),
        240_000
      )
    }
  }
)
