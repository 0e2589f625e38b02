/**
 * Secret leakage: one full run — a writer's comment, the Worker in workerd, the real runner on a process machine,
 * the real Claude Code CLI against the scripted model server through Porter's model gateway, a pull request — with
 * recognisable secret values: the agent's key (stored through the admin API, encrypted in D1, attached by the gateway
 * and never sent to the machine), the machine's callback token and gateway credential, the Fly token, the encryption
 * key, the admin token and the webhook secret. The agent is scripted to print its key and environment.
 *
 * Then every log line (the Worker's console, the machine's stdout and stderr), every comment on the issue, the pull
 * request's title and body, every callback body (both ways, at the callback proxy), every request body sent to
 * GitHub (at the GitHub proxy) and every stored row (all of D1's tables) is scanned: none of the values may be
 * there in clear, base64, base64url, Basic-auth or URL-encoded form — nor in what Porter keeps of the run (the agent's
 * session file, the transcript and the diff, in D1's task_artifacts and in the secret gists that mirror them). The
 * machine side: the agent's key is in none of
 * the machine's environment and output (the agent printed the gateway credential it has instead, scrubbed).
 */
import { assert, layer } from "@effect/vitest"
import { Invariants, SecretScan, Stack } from "@porter/reliability"
import * as ModelServer from "@porter/testkit/model"
import { Effect } from "effect"

const AGENT_KEY = "sk-ant-api03-CANARY-agent-key-7f3a9c1e5b"
const FLY_TOKEN = "fly-CANARY-deploy-token-4d2b8e6a0c"
const KEY_BYTES = "secret-encryption-key-canary-001" // 32 bytes
const ENCRYPTION_KEY = Buffer.from(KEY_BYTES).toString("base64")

layer(
  Stack.layer({
    machines: "runner",
    flyToken: FLY_TOKEN,
    gistMirror: true,
    workerEnv: { PORTER_ENCRYPTION_KEY: ENCRYPTION_KEY }
  }),
  { excludeTestServices: true, timeout: 180_000 }
)("secret leakage (workerd + runner + Claude Code)", (it) => {
  it.effect(
    "no secret in any log line, comment, pull request, callback, GitHub request or stored row",
    () =>
      Effect.gen(function*() {
        const stack = yield* Stack.Stack
        const { callbackProxy, github, githubProxy, machines, repo, worker, writer } = stack
        const model = yield* ModelServer.start({
          script: [
            ModelServer.bash("echo \"my key is $ANTHROPIC_API_KEY\"; printenv | sort"),
            ModelServer.write("notes/hello.txt", "Hello from the secret-leak run.\n"),
            ModelServer.text("Added notes/hello.txt.")
          ]
        })
        yield* Stack.admin("PUT", "/admin/secrets", { scope: "global", name: "ANTHROPIC_API_KEY", value: AGENT_KEY })
        yield* Stack.admin("PUT", "/admin/secrets", { scope: "global", name: "ANTHROPIC_BASE_URL", value: model.url })
        const issue = yield* Stack.openIssue("Say hello")
        yield* Stack.comment(writer, issue, "@porter claude add a hello note")
        yield* Stack.sweepUntil("the run to end", Invariants.allTerminal(1), 150_000, 1_000)

        const [task] = yield* Stack.tasks
        assert.strictEqual(task?.state, "succeeded", `${task?.state}: ${task?.reason}`)
        assert.include(task?.prUrl ?? "", "/pull/")
        const turns = model.requests().filter((r) => r.turn !== undefined)
        assert.isAtLeast(turns.length, 3, "the agent ran its script")
        // The provider got the key from Porter's gateway; the agent had only its gateway credential.
        assert.strictEqual(turns[0]!.headers["x-api-key"], AGENT_KEY, "the gateway attached the stored key")

        const machine = machines.machines().find((m) => m.metadata["porter_task_id"] === task!.id)!
        assert.isUndefined(machine.env["GITHUB_TOKEN"], "machines get no GitHub token (they clone through Porter)")
        const secrets: ReadonlyArray<SecretScan.Secret> = [
          { name: "ANTHROPIC_API_KEY", value: AGENT_KEY },
          { name: "CALLBACK_TOKEN", value: machine.env["CALLBACK_TOKEN"]! },
          { name: "GATEWAY_TOKEN", value: machine.env["GATEWAY_TOKEN"]! },
          { name: "FLY_API_TOKEN", value: FLY_TOKEN },
          { name: "PORTER_ENCRYPTION_KEY", value: ENCRYPTION_KEY },
          { name: "PORTER_ENCRYPTION_KEY (bytes)", value: KEY_BYTES },
          { name: "PORTER_ADMIN_TOKEN", value: stack.adminToken },
          { name: "GITHUB_WEBHOOK_SECRET", value: github.app.webhookSecret }
        ]
        assert.isTrue(secrets.every((s) => s.value !== undefined && s.value.length >= 16), "every secret is known")

        const sources: Array<SecretScan.Source> = []
        for (const line of stack.workerLogs()) sources.push({ label: "Worker log", text: line.message })
        for (const m of machines.machines()) sources.push({ label: `machine ${m.id} output`, text: m.output })
        const comments = yield* Stack.rest<ReadonlyArray<{ id: number; body: string }>>(
          stack.owner.token,
          "GET",
          `/repos/${repo}/issues/${issue}/comments?per_page=100`
        )
        for (const c of comments) sources.push({ label: `comment ${c.id}`, text: c.body })
        const pulls = yield* Stack.rest<ReadonlyArray<{ number: number; title: string; body: string | null }>>(
          stack.owner.token,
          "GET",
          `/repos/${repo}/pulls?state=all`
        )
        for (const p of pulls) sources.push({ label: `pull request #${p.number}`, text: `${p.title}\n${p.body ?? ""}` })
        // The machine reaches Porter's gateway through the same public URL: those exchanges are the agent's own model
        // calls, which carry its gateway credential by design; they must carry no other secret (least of all the key).
        const gatewaySources: Array<SecretScan.Source> = []
        for (const x of callbackProxy.exchanges()) {
          const text = `${x.requestBody ?? ""}\n${x.responseBody ?? ""}`
          if (x.path.startsWith("/gateway/")) gatewaySources.push({ label: `model call ${x.path}`, text })
          else sources.push({ label: `callback ${x.path}`, text })
        }
        for (const x of githubProxy.exchanges()) {
          if (x.requestBody !== undefined) {
            sources.push({ label: `GitHub request ${x.method} ${x.path}`, text: x.requestBody })
          }
        }
        const tables = yield* Effect.promise(() =>
          worker.db.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'"
          ).all<{ name: string }>()
        )
        let rows = 0
        for (const { name } of tables.results) {
          const all = yield* Effect.promise(() => worker.db.prepare(`SELECT * FROM "${name}"`).all())
          rows += all.results.length
          sources.push({ label: `D1 ${name}`, text: JSON.stringify(all.results) })
        }
        assert.isTrue(tables.results.some((t) => t.name === "secrets"), "the secrets table was scanned")
        // What Porter keeps of the run: the session file and the transcript (which hold the agent's printed
        // environment), the diff; and their copies in the mirror's secret gist.
        const artifacts = yield* Effect.promise(() =>
          worker.db.prepare("SELECT kind, content FROM task_artifacts WHERE task_id = ?").bind(task!.id).all<
            { kind: string; content: string }
          >()
        )
        assert.deepStrictEqual(artifacts.results.map((a) => a.kind).sort(), ["diff", "session", "transcript"])
        assert.include(
          artifacts.results.find((a) => a.kind === "session")!.content,
          "ANTHROPIC_API_KEY=[redacted]",
          "the session holds the printed environment, redacted"
        )
        for (const a of artifacts.results) sources.push({ label: `kept ${a.kind}`, text: a.content })
        const gists = yield* Stack.rest<ReadonlyArray<{ id: string; description: string }>>(
          stack.gistUser!.token,
          "GET",
          "/gists"
        )
        const mirrored = gists.filter((g) => g.description === `Porter task ${task!.id}`)
        assert.strictEqual(mirrored.length, 1, "the run was mirrored to one secret gist")
        const gist = yield* Stack.rest<{ files: Record<string, { content: string }> }>(
          stack.gistUser!.token,
          "GET",
          `/gists/${mirrored[0]!.id}`
        )
        assert.includeMembers(Object.keys(gist.files), ["session.jsonl", "transcript.md", "changes.diff"])
        for (const [name, file] of Object.entries(gist.files)) {
          sources.push({ label: `gist ${name}`, text: file.content })
        }
        assert.isTrue(
          sources.some((s) => s.label.startsWith("callback") && s.text.includes("completed")),
          "the completed callback was captured"
        )

        // The agent did try: what it printed (its environment) went to the model, and held its gateway credential in
        // the key's place, not the key.
        const printed = JSON.stringify(turns.slice(1).map((turn) => turn.body))
        assert.include(printed, `ANTHROPIC_API_KEY=${machine.env["GATEWAY_TOKEN"]}`)
        assert.notInclude(printed, AGENT_KEY)
        const findings = SecretScan.scan(secrets, sources)
        assert.deepStrictEqual(findings, [])
        assert.isAbove(gatewaySources.length, 0, "the agent's model calls went through the gateway")
        assert.deepStrictEqual(SecretScan.scan(secrets.filter((x) => x.name !== "GATEWAY_TOKEN"), gatewaySources), [])
        // The machine side: the agent's key is nowhere on the machine — not in its environment, not in its output.
        const machineSide = machines.machines().flatMap((m) => [
          { label: `machine ${m.id} environment`, text: JSON.stringify(m.env) },
          { label: `machine ${m.id} output`, text: m.output }
        ])
        assert.deepStrictEqual(SecretScan.scan([{ name: "ANTHROPIC_API_KEY", value: AGENT_KEY }], machineSide), [])
        // The scan itself works: the agent's key is where it must be (the model server saw it in the agent's requests).
        assert.isAbove(
          SecretScan.scan(secrets, [{ label: "model requests", text: JSON.stringify(model.requests()) }]).length,
          0
        )
        console.log(
          `secrets: ${secrets.length} values × ${SecretScan.needles(AGENT_KEY).length} forms scanned in ` +
            `${sources.length} sources (${stack.workerLogs().length} Worker log lines, ${comments.length} comments, ` +
            `${pulls.length} pull request, ${callbackProxy.exchanges().length} callbacks, ${rows} D1 rows, ` +
            `${artifacts.results.length} kept artifacts, ${Object.keys(gist.files).length} gist files): none found; ` +
            "the machine's environment and output hold no provider key"
        )
      }),
    180_000
  )
})
