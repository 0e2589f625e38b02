// No provider key on a process machine: with Anthropic, OpenAI and Gemini keys stored in Porter, an agent that prints its
// environment and reads every file it can (its home, the clone, /proc/*/environ and /proc/*/cmdline of every process it
// can see) and sends it all away finds none of them — only the task's gateway credential, which Porter refuses once
// the task has ended. (The Worker in workerd, process machines, the GitHub emulator: support/Stack.ts.)
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { attacker, hostileScript, KEYS, keysIn } from "./support/Loot.ts"
import { admin, comment, eventually, machineOf, openIssue, Stack, tasksOf } from "./support/Stack.ts"
import * as StackLayer from "./support/Stack.ts"

layer(StackLayer.layer, { timeout: "180 seconds", excludeTestServices: true })(
  "no provider key on the machine",
  (it) => {
    it.effect(
      "a process machine: everything the agent can read and send holds no stored key",
      () =>
        Effect.gen(function*() {
          const { worker, writer } = yield* Stack
          const evil = yield* attacker
          for (const [name, value] of Object.entries(KEYS)) {
            yield* Effect.promise(() =>
              worker.fetch(`${worker.url}/admin/secrets`, {
                method: "PUT",
                headers: { authorization: `Bearer ${StackLayer.ADMIN_TOKEN}`, "content-type": "application/json" },
                body: JSON.stringify({ scope: "global", name, value })
              })
            )
          }
          yield* admin("GET", "/admin/secrets")
          const issue = yield* openIssue("Collect everything")
          yield* comment(
            writer,
            issue.number,
            `@porter script look around\n\n\`\`\`porter-script\n${hostileScript(evil.url)}\n\`\`\``
          )
          const task = yield* eventually(
            "the task to end",
            Effect.map(tasksOf(issue.number), (tasks) =>
              Option.fromNullishOr(
                tasks.find((t) => ["succeeded", "failed", "timed_out", "cancelled"].includes(t.state))
              )),
            "120 seconds"
          )
          assert.strictEqual(task.state, "succeeded", task.reason)

          // The collection ran and arrived: the agent's environment, with the gateway credential where its CLI reads a key.
          const machine = yield* machineOf(task.id)
          const credential = machine.env["GATEWAY_TOKEN"]!
          assert.strictEqual(evil.received.length, 1, "the loot was sent")
          const loot = evil.received[0]!
          assert.include(loot, "== env")
          assert.include(loot, `ANTHROPIC_API_KEY=${credential}`)
          assert.include(loot, `ANTHROPIC_BASE_URL=${worker.url}/gateway/tasks/${task.id}/anthropic`)
          assert.include(loot, "== /proc/")
          assert.isAbove(loot.length, 10_000)

          // None of the stored keys, in any encoding — not in what the agent sent, not in the machine's environment.
          assert.deepStrictEqual(keysIn(evil.received), [])
          assert.deepStrictEqual(keysIn([JSON.stringify(machine.env)]), [])
          assert.deepStrictEqual(
            keysIn([`a key: ${btoa(KEYS.OPENAI_API_KEY)}`]),
            ["OPENAI_API_KEY"],
            "the scan finds one"
          )

          // What it did steal opens nothing now that the task has ended.
          const stolen = yield* Effect.promise(async () => {
            const response = await fetch(`${worker.url}/gateway/tasks/${task.id}/anthropic/v1/messages`, {
              method: "POST",
              headers: { "x-api-key": credential, "content-type": "application/json" },
              body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [] })
            })
            return { status: response.status, body: await response.json() as { error: { message: string } } }
          })
          assert.strictEqual(stolen.status, 403)
          assert.include(stolen.body.error.message, "has ended")
          console.log(
            `loot: ${loot.length.toLocaleString("en")} bytes (env, ${loot.split("== /proc/").length - 1} processes, ` +
              `home, clone); stored keys found: none`
          )
        }),
      180_000
    )
  }
)
