// Who may ask, and how (issue 16), end to end: the Worker in workerd with its local D1, the GitHub emulator and the
// local machines running the real runner with the `script` agent. Commands GitHub would not show start nothing; an
// outsider's request waits for a writer's approval (approve → pull request, deny → nothing, no answer → cancelled,
// an outsider's approve → nothing); a question is answered in the status comment; one comment delivered under two
// delivery ids makes one task; `.github/porter.yml` picks the agent, runs setup commands and protects paths.
import { assert, layer } from "@effect/vitest"
import { Messages } from "@porter/core"
import { Effect, Option } from "effect"
import { createHmac } from "node:crypto"
import {
  ADMIN_TOKEN,
  comment,
  deliveriesAnswered,
  deliveryOf,
  eventually,
  machineOf,
  openIssue,
  porterComments,
  rest,
  Stack,
  taskById,
  taskInState,
  tasksOf
} from "./support/Stack.ts"
import * as StackLayer from "./support/Stack.ts"

/** How long an outsider's request waits for approval here (the Worker's `PORTER_APPROVAL_TIMEOUT_MS`). */
const APPROVAL_TIMEOUT_MS = 4_000

const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"]

const finished = (issue: number) =>
  eventually(
    `the task on #${issue} to end`,
    Effect.map(tasksOf(issue), (tasks) => Option.fromNullishOr(tasks.find((task) => TERMINAL.includes(task.state)))),
    "60 seconds"
  )

/** A call to the Worker's admin API with a JSON body. */
const adminCall = <A = unknown>(method: string, path: string, body?: unknown) =>
  Stack.use(({ worker }) =>
    Effect.promise(async () => {
      const response = await worker.fetch(`${worker.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`)
      return JSON.parse(text) as A
    })
  )

const setRepoSettings = (settings: Record<string, unknown>) =>
  Effect.flatMap(Stack, ({ repo }) => adminCall("PUT", "/admin/settings", { scope: `repository:${repo}`, settings }))

/** Commits `files` on the default branch through the Git Data API, as the repository's owner. */
const commitFiles = (files: Record<string, string>, message: string) =>
  Effect.gen(function*() {
    const { admin: owner, repo } = yield* Stack
    const ref = yield* rest<{ object: { sha: string } }>(owner.token, "GET", `/repos/${repo}/git/ref/heads/main`)
    const parent = yield* rest<{ tree: { sha: string } }>(
      owner.token,
      "GET",
      `/repos/${repo}/git/commits/${ref.object.sha}`
    )
    const tree = yield* rest<{ sha: string }>(owner.token, "POST", `/repos/${repo}/git/trees`, {
      base_tree: parent.tree.sha,
      tree: Object.entries(files).map(([path, content]) => ({ path, mode: "100644", type: "blob", content }))
    })
    const commit = yield* rest<{ sha: string }>(owner.token, "POST", `/repos/${repo}/git/commits`, {
      message,
      tree: tree.sha,
      parents: [ref.object.sha]
    })
    yield* rest(owner.token, "PATCH", `/repos/${repo}/git/refs/heads/main`, { sha: commit.sha })
  })

const script = (...lines: ReadonlyArray<string>) => ["```porter-script", ...lines, "```"].join("\n")

layer(StackLayer.layerWith({ PORTER_APPROVAL_TIMEOUT_MS: String(APPROVAL_TIMEOUT_MS) }), {
  timeout: "180 seconds",
  excludeTestServices: true
})("who may ask, and how (the Worker in workerd)", (it) => {
  it.effect("comments GitHub would not show as a command start nothing: an HTML comment opened mid-line, a lazy quote", () =>
    Effect.gen(function*() {
      const { writer } = yield* Stack
      const issue = yield* openIssue("Hidden commands")
      const hidden = [
        "Thanks! <!--\n@porter script must not run\n-->",
        "> earlier words\n@porter script must not run",
        "```\n@porter script must not run\n```",
        "- item\n\n  ```\n  @porter script must not run\n  ```"
      ]
      for (const body of hidden) {
        const posted = yield* comment(writer, issue.number, body)
        const [delivery] = yield* deliveryOf(posted.id)
        assert.strictEqual(delivery!.status, 200, body)
      }
      assert.deepStrictEqual(yield* tasksOf(issue.number), [])
      assert.deepStrictEqual(yield* porterComments(issue.number), [])
    }))

  it.effect("an outsider's request waits for approval; their own approve does nothing; a writer's runs it to a PR", () =>
    Effect.gen(function*() {
      const { github, reader, repo, writer } = yield* Stack
      yield* setRepoSettings({ outsiders: "approval" })
      const issue = yield* openIssue("Notes please")
      yield* comment(reader, issue.number, `@porter script add a note\n\n${script("append NOTES.md from rita")}`)
      const waiting = yield* taskInState(issue.number, "awaiting_approval")
      assert.strictEqual(waiting.requestedBy, reader.login)
      const [status] = yield* porterComments(issue.number)
      assert.strictEqual(Messages.parseMarker(status!.body)?.state, "awaiting_approval")
      assert.include(status!.body, `@${reader.login} (without write access)`)
      assert.include(status!.body, "`@porter approve`")

      // The outsider approves their own request: nothing happens, nothing is said.
      yield* comment(reader, issue.number, "@porter approve")
      yield* deliveriesAnswered
      assert.strictEqual((yield* taskById(waiting.id)).task.state, "awaiting_approval")
      assert.strictEqual((yield* porterComments(issue.number)).length, 1)

      yield* comment(writer, issue.number, "@porter approve")
      const task = yield* finished(issue.number)
      assert.strictEqual(task.state, "succeeded", task.reason)
      assert.isString(task.prUrl)
      const pulls = yield* rest<ReadonlyArray<{ html_url: string; body: string }>>(
        github.admin.token,
        "GET",
        `/repos/${repo}/pulls?state=all`
      )
      const pull = pulls.find((p) => p.html_url === task.prUrl)!
      assert.include(pull.body, `Opened by Porter for @${reader.login}`)
      const { events } = yield* taskById(task.id)
      assert.deepStrictEqual(
        events.filter((e) => e.kind === "transition").map((e) => e.to),
        ["awaiting_approval", "queued", "provisioning", "running", "succeeded"]
      )
      assert.isTrue(events.some((e) => e.kind === "approved"))
    }))

  it.effect("a writer's deny drops an outsider's request: no machine, the issue is told", () =>
    Effect.gen(function*() {
      const { machines, reader, writer } = yield* Stack
      yield* setRepoSettings({ outsiders: "approval" })
      const issue = yield* openIssue("Deny me")
      const before = machines.machines().length
      yield* comment(reader, issue.number, "@porter script do something")
      const waiting = yield* taskInState(issue.number, "awaiting_approval")
      yield* comment(writer, issue.number, "@porter deny")
      const task = yield* taskInState(issue.number, "cancelled")
      assert.strictEqual(task.id, waiting.id)
      assert.strictEqual(task.reason, `denied by @${writer.login}`)
      assert.strictEqual(machines.machines().length, before)
      const said = yield* porterComments(issue.number)
      assert.include(said[0]!.body, `⏹ Cancelled: denied by @${writer.login}`)
    }))

  it.effect("an outsider's request nobody approves is cancelled by the sweep once its time is up, told on the issue", () =>
    Effect.gen(function*() {
      const { machines, reader } = yield* Stack
      yield* setRepoSettings({ outsiders: "approval" })
      const issue = yield* openIssue("Nobody answers")
      const before = machines.machines().length
      yield* comment(reader, issue.number, "@porter script do something")
      yield* taskInState(issue.number, "awaiting_approval")
      yield* Effect.sleep(APPROVAL_TIMEOUT_MS + 500)
      yield* adminCall("POST", "/admin/sweep")
      const task = yield* taskInState(issue.number, "cancelled")
      assert.match(task.reason ?? "", /^nobody with write access approved it within/)
      assert.strictEqual(machines.machines().length, before)
      assert.include((yield* porterComments(issue.number))[0]!.body, "⏹ Cancelled: nobody with write access")
    }))

  it.effect("a question is answered in the status comment: no branch, no pull request", () =>
    Effect.gen(function*() {
      const { writer } = yield* Stack
      const issue = yield* openIssue("How does it work?")
      yield* comment(
        writer,
        issue.number,
        `@porter script ask where are webhooks verified?\n\n${
          script("write scratch.md notes", "print They are verified in Intake, with HMAC-SHA256.")
        }`
      )
      const task = yield* finished(issue.number)
      assert.strictEqual(task.state, "succeeded", task.reason)
      assert.strictEqual(task.outcome, "no_changes")
      assert.isUndefined(task.prUrl)
      assert.isUndefined(task.branch)
      const machine = yield* machineOf(task.id)
      assert.strictEqual(machine.env["TASK_MODE"], "ask")
      const [status] = yield* porterComments(issue.number)
      assert.include(status!.body, "💬 `script` answered in")
      assert.include(status!.body, "They are verified in Intake, with HMAC-SHA256.")
    }))

  it.effect("one comment delivered under two delivery ids (an App's hook and a repository's) makes one task", () =>
    Effect.gen(function*() {
      const { github, worker, writer } = yield* Stack
      const issue = yield* openIssue("Twice delivered")
      const posted = yield* comment(writer, issue.number, "@porter script add a line")
      const [delivery] = yield* deliveryOf(posted.id)
      const body = JSON.stringify(delivery!.payload)
      const signature = `sha256=${createHmac("sha256", github.app.webhookSecret).update(body).digest("hex")}`
      const status = yield* Effect.promise(async () =>
        (await worker.fetch(`${worker.url}/webhooks/github`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-github-event": "issue_comment",
            "x-github-delivery": `repository-hook-${posted.id}`,
            "x-hub-signature-256": signature
          },
          body
        })).status
      )
      assert.strictEqual(status, 202, "another delivery id: claimed, and handled")
      const task = yield* finished(issue.number)
      assert.strictEqual(task.state, "succeeded", task.reason)
      yield* Effect.sleep(500)
      assert.strictEqual((yield* tasksOf(issue.number)).length, 1)
      assert.strictEqual((yield* porterComments(issue.number)).length, 1)
    }))

  it.effect(".github/porter.yml: its default agent and setup commands reach the machine; a protected path is refused", () =>
    Effect.gen(function*() {
      const { writer } = yield* Stack
      yield* commitFiles(
        {
          ".github/porter.yml": [
            "agent: script",
            "setup:",
            "  - echo ready > .setup-done",
            "protected:",
            "  - \"secrets/**\""
          ].join("\n")
        },
        "Porter's configuration"
      )
      const issue = yield* openIssue("Touch the secrets")
      // No agent named: the file's default (script) runs, after the setup command.
      yield* comment(
        writer,
        issue.number,
        `@porter please\n\n${script("run test -f .setup-done", "write secrets/key.txt x")}`
      )
      const task = yield* finished(issue.number)
      assert.strictEqual(task.agent, "script")
      assert.strictEqual(task.state, "failed")
      assert.include(
        task.reason ?? "",
        "`secrets/key.txt` is protected in this repository (`secrets/**` in .github/porter.yml)"
      )
      const machine = yield* machineOf(task.id)
      assert.strictEqual(machine.env["SETUP_COMMANDS"], JSON.stringify(["echo ready > .setup-done"]))
      assert.isUndefined(task.prUrl)
      // A broken file: the issue is told which line, nothing runs.
      yield* commitFiles({ ".github/porter.yml": "agent: script\ntimeout: whenever\n" }, "Break it")
      const other = yield* openIssue("Broken configuration")
      yield* comment(writer, other.number, "@porter please")
      const [reply] = yield* eventually(
        "the configuration problem on the issue",
        Effect.map(porterComments(other.number), (c) => (c.length > 0 ? Option.some(c) : Option.none()))
      )
      assert.include(reply!.body, "`.github/porter.yml` line 2: `timeout`")
      assert.deepStrictEqual(yield* tasksOf(other.number), [])
      yield* commitFiles({ ".github/porter.yml": "agent: script\n" }, "Fix it")
    }))
})
