// No provider key in a Docker machine: the same hostile agent as GatewayKeys.workerd.test.ts, its machine a container
// of the runner image (the docker tier: `porter-runner:test`, scripts/docker-test-image.sh), the Worker in workerd.
// With Anthropic, OpenAI and Gemini keys stored in Porter, everything the agent prints, reads (its home, the clone,
// /proc/*/environ and /proc/*/cmdline of every process in the container) and sends away holds none of them.
import { assert, it } from "@effect/vitest"
import { GitHubEmulator } from "@porter/testkit"
import * as LocalStack from "@porter/worker/stack"
import { Effect, Option, Schedule } from "effect"
import { attacker, hostileScript, KEYS, keysIn } from "./support/Loot.ts"

const SOCKET = process.env["DOCKER_SOCKET"] ?? "/var/run/docker.sock"
const IMAGE = process.env["PORTER_TEST_IMAGE"] ?? "porter-runner:test"

it.live("a Docker machine: everything the agent can read and send holds no stored key", () =>
  Effect.gen(function*() {
    const evil = yield* attacker
    const stack = yield* LocalStack.start({ docker: { socketPath: SOCKET, image: IMAGE } }).pipe(Effect.orDie)
    const { worker } = stack
    const github = stack.github!
    const owner = github.admin
    const rest = <A>(method: string, path: string, body?: unknown) =>
      Effect.promise(() => GitHubEmulator.rest<A>(owner.token, method, `${github.url}${path}`, body))
    const adminCall = <A>(method: string, path: string, body?: unknown) =>
      Effect.promise(async () => {
        const response = await worker.fetch(`${worker.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        return JSON.parse(await response.text()) as A
      })
    for (const [name, value] of Object.entries(KEYS)) {
      yield* adminCall("PUT", "/admin/secrets", { scope: "global", name, value })
    }
    yield* rest("POST", "/user/repos", { name: "widgets", auto_init: true })
    const issue = yield* rest<{ number: number }>("POST", `/repos/${owner.login}/widgets/issues`, {
      title: "Collect everything",
      body: ""
    })
    yield* rest("POST", `/repos/${owner.login}/widgets/issues/${issue.number}/comments`, {
      body: `@porter script look around\n\n\`\`\`porter-script\n${hostileScript(evil.url)}\n\`\`\``
    })
    const task = yield* adminCall<{ tasks: ReadonlyArray<{ id: string; state: string; reason?: string }> }>(
      "GET",
      "/admin/tasks"
    ).pipe(
      Effect.map(({ tasks }) =>
        Option.fromNullishOr(tasks.find((t) => ["succeeded", "failed", "timed_out", "cancelled"].includes(t.state)))
      ),
      Effect.flatMap(Option.match({ onNone: () => Effect.fail("pending" as const), onSome: Effect.succeed })),
      Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 300 }),
      Effect.orDie
    )
    assert.strictEqual(task.state, "succeeded", task.reason)
    const machine = stack.machines.machines().find((m) => m.metadata["porter_task_id"] === task.id)!
    assert.strictEqual(evil.received.length, 1, `the loot was sent\n${machine.output.slice(-3000)}`)
    const loot = evil.received[0]!
    assert.include(loot, `ANTHROPIC_API_KEY=${machine.env["GATEWAY_TOKEN"]}`)
    assert.include(loot, "== /proc/1")
    assert.deepStrictEqual(keysIn(evil.received), [])
    assert.deepStrictEqual(keysIn([JSON.stringify(machine.env)]), [])
    console.log(
      `docker loot: ${loot.length.toLocaleString("en")} bytes (${loot.split("== /proc/").length - 1} processes); ` +
        "stored keys found: none"
    )
  }).pipe(Effect.scoped), 240_000)
