// The reference Worker end to end, in workerd: the bundle `wrangler deploy` would upload, run by Miniflare with a
// local D1 (migrations applied), talking to the GitHub emulator and the local Fly machines server, whose machines
// run the real runner with the deterministic `script` agent. One stack for the whole file (see support/Stack.ts).
import { assert, layer } from "@effect/vitest"
import { Messages } from "@porter/core"
import * as WorkerApp from "@porter/worker/app"
import { Effect, Option } from "effect"
import { createHmac } from "node:crypto"
import { readFileSync } from "node:fs"
import {
  ADMIN_TOKEN,
  comment,
  deliveryOf,
  eventually,
  HEARTBEAT_TIMEOUT_MS,
  longRun,
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

const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"]

const finished = (issue: number) =>
  eventually(
    `the task on #${issue} to end`,
    Effect.map(tasksOf(issue), (tasks) => Option.fromNullishOr(tasks.find((task) => TERMINAL.includes(task.state)))),
    "60 seconds"
  )

const stateOf = (body: string) => Messages.parseMarker(body)?.state

layer(StackLayer.layer, { timeout: "120 seconds", excludeTestServices: true })("the Worker in workerd", (it) => {
  it.effect(
    "a writer's comment becomes a pull request, reported on the issue; a redelivery changes nothing",
    () =>
      Effect.gen(function*() {
        const { github, machines, repo, worker, writer } = yield* Stack
        const issue = yield* openIssue("Add a changelog")
        const trigger = yield* comment(
          writer,
          issue.number,
          "@porter script add a changelog line\n\n```porter-script\nappend CHANGELOG.md - ISO weeks\n" +
            "commit Add a changelog line\nwrite docs/weeks.md Weeks.\n```"
        )

        // Answered at once (verified and claimed); the rest happened under waitUntil.
        const [delivery] = yield* deliveryOf(trigger.id)
        assert.strictEqual(delivery!.status, 202)

        const task = yield* finished(issue.number)
        assert.strictEqual(task.state, "succeeded", task.reason)
        assert.strictEqual(task.agent, "script")
        assert.strictEqual(task.outcome, "pushed")

        // 👀 on the comment, one status comment (edited in place) that ends ✅ with the PR link.
        const reactions = yield* rest<ReadonlyArray<{ content: string; user: { login: string } }>>(
          github.admin.token,
          "GET",
          `/repos/${repo}/issues/comments/${trigger.id}/reactions`
        )
        assert.deepStrictEqual(reactions.map((r) => [r.content, r.user.login]), [["eyes", github.app.botLogin]])
        const said = yield* porterComments(issue.number)
        assert.strictEqual(said.length, 1, "one status comment")
        const status = said[0]!.body
        assert.strictEqual(stateOf(status), "succeeded")
        assert.include(status, "✅")
        assert.include(status, `**Pull request:** ${task.prUrl}`)

        // The pull request exists, from the task's branch, with the commit the runner reported.
        const pulls = yield* rest<
          ReadonlyArray<{ html_url: string; head: { ref: string; sha: string }; base: { ref: string } }>
        >(
          github.admin.token,
          "GET",
          `/repos/${repo}/pulls?state=all`
        )
        const pull = pulls.find((p) => p.html_url === task.prUrl)
        assert.isDefined(pull, "the pull request the status comment links to")
        assert.strictEqual(pull!.head.ref, task.branch)
        assert.strictEqual(pull!.head.sha, task.commitSha)
        assert.strictEqual(pull!.base.ref, "main")
        // Its commits were made by Porter through the Git Data API (the machine pushed nothing), with the agent's
        // messages: the one it made, then the runner's commit of what it left; each signed by GitHub (Verified).
        const [owner, name] = repo.split("/") as [string, string]
        const number = Number(pull!.html_url.split("/").pop())
        const prCommits = yield* Effect.promise(() => github.pullRequestCommits(owner, name, number))
        assert.deepStrictEqual(prCommits.map((c) => [c.viaGitDataApi, c.verified]), [[true, true], [true, true]])
        assert.match(prCommits[0]!.message, new RegExp(`^Add a changelog line\n\nPorter-Task: ${task.id}\n`))
        assert.match(prCommits[1]!.message, /^Add a changelog \(#\d+\)/)
        const writes = (yield* Effect.promise(() => github.gitDataLog())).filter((w) => w.repository === repo)
        assert.includeMembers(writes.map((w) => w.operation), ["tree", "commit", "ref.create"])
        assert.strictEqual(writes.filter((w) => w.operation === "commit").at(-1)!.sha, task.commitSha)

        // The machine got the task's environment, ran, and was destroyed.
        const machine = yield* machineOf(task.id)
        assert.strictEqual(task.machineId, machine.id)
        const env = machine.env
        assert.strictEqual(env["TASK_ID"], task.id)
        assert.strictEqual(env["REPO_FULL_NAME"], repo)
        assert.strictEqual(env["REPO_CLONE_URL"], `${worker.url}/git/tasks/${task.id}`)
        assert.strictEqual(env["ISSUE_NUMBER"], String(issue.number))
        assert.strictEqual(env["AGENT"], "script")
        assert.include(env["PROMPT"], "add a changelog line")
        assert.strictEqual(env["CALLBACK_URL"], `${worker.url}/callbacks/tasks/${task.id}`)
        assert.isTrue(Number.isFinite(Date.parse(env["TASK_DEADLINE"] ?? "")))
        assert.strictEqual(env["HEARTBEAT_INTERVAL_MS"], String(StackLayer.HEARTBEAT_INTERVAL_MS))
        assert.isUndefined(env["GITHUB_TOKEN"], "no GitHub token on the machine")
        assert.isUndefined(env["GITHUB_API_URL"])
        // The callback token is the one derived from the encryption key (no extra secret configured).
        assert.strictEqual(
          env["CALLBACK_TOKEN"],
          yield* Effect.promise(() => WorkerApp.issueTaskToken(worker.env, task.id))
        )
        assert.strictEqual(machine.metadata["porter"], "1")
        assert.strictEqual(machine.metadata["porter_task_id"], task.id)
        yield* Effect.promise(() => machines.waitFor(machine.id, "destroyed", 20_000))

        // The audit trail has the whole life.
        const { events } = yield* taskById(task.id)
        assert.deepStrictEqual(
          events.filter((e) => e.kind === "transition").map((e) => e.to),
          ["queued", "provisioning", "running", "succeeded"]
        )

        // GET /tasks/:id with the machine's token; nothing without it.
        const view = yield* Effect.promise(async () => {
          const withToken = await worker.fetch(`${worker.url}/tasks/${task.id}`, {
            headers: { authorization: `Bearer ${env["CALLBACK_TOKEN"]}` }
          })
          const without = await worker.fetch(`${worker.url}/tasks/${task.id}`)
          return {
            status: withToken.status,
            body: await withToken.json() as { state: string },
            without: without.status
          }
        })
        assert.deepStrictEqual([view.status, view.body.state, view.without], [200, "succeeded", 401])

        // GitHub redelivers the same webhook: answered "ignored", no second task, nothing new on the issue.
        const redelivered = yield* Effect.promise(() => github.redeliver(delivery!.id))
        assert.strictEqual(redelivered, 200)
        assert.strictEqual((yield* tasksOf(issue.number)).length, 1)
        assert.strictEqual((yield* porterComments(issue.number)).length, 1)
        assert.strictEqual(machines.machines().filter((m) => m.metadata["porter_task_id"] === task.id).length, 1)
      }),
    90_000
  )

  it.effect(
    "a comment on Porter's pull request adds commits to its branch (fast-forward, same pull request)",
    () =>
      Effect.gen(function*() {
        const { github, repo, writer } = yield* Stack
        const issue = yield* openIssue("Write the notes")
        yield* comment(writer, issue.number, "@porter script start the notes")
        const first = yield* finished(issue.number)
        assert.strictEqual(first.state, "succeeded", first.reason)
        const number = Number(first.prUrl!.split("/").pop())
        yield* comment(
          writer,
          number,
          "@porter script more notes\n\n```porter-script\nappend NOTES.md - more\ncommit Add more notes\n```"
        )
        const second = yield* finished(number)
        assert.strictEqual(second.state, "succeeded", second.reason)
        assert.strictEqual(second.branch, first.branch, "the work continued on the pull request's branch")
        assert.strictEqual(second.prUrl, first.prUrl, "the same pull request")
        const [owner, name] = repo.split("/") as [string, string]
        const commits = yield* Effect.promise(() => github.pullRequestCommits(owner, name, number))
        assert.strictEqual(commits.length, 2, "the first task's commit, then the follow-up's")
        assert.isTrue(commits.every((c) => c.viaGitDataApi && c.verified))
        assert.match(commits[1]!.message, /^Add more notes\n/)
        assert.strictEqual(commits[1]!.sha, second.commitSha)
        const ref = yield* rest<{ object: { sha: string } }>(
          github.admin.token,
          "GET",
          `/repos/${repo}/git/ref/heads/${first.branch}`
        )
        assert.strictEqual(ref.object.sha, second.commitSha)
      }),
    90_000
  )

  it.effect("a bad signature is refused with 401 and records nothing", () =>
    Effect.gen(function*() {
      const { github, machines, worker, writer } = yield* Stack
      const issue = yield* openIssue("Signed by someone else")
      const secret = github.app.webhookSecret
      const before = machines.machines().length
      // The App's webhook secret changes on GitHub's side only: the Worker still has the old one.
      yield* Effect.promise(() => github.setWebhook(`${worker.url}/webhooks/github`, "not-the-configured-secret"))
      const trigger = yield* comment(writer, issue.number, "@porter script this must not run").pipe(
        Effect.ensuring(Effect.promise(() => github.setWebhook(`${worker.url}/webhooks/github`, secret)))
      )
      const [delivery] = yield* deliveryOf(trigger.id)
      assert.strictEqual(delivery!.status, 401)
      const recorded = yield* Effect.promise(() =>
        worker.db.prepare("SELECT count(*) AS n FROM deliveries WHERE id = ?").bind(delivery!.id).first<{ n: number }>()
      )
      assert.strictEqual(recorded?.n, 0, "the delivery was not claimed")

      // A body changed after signing, and a missing signature, are refused the same way.
      const body = JSON.stringify(delivery!.payload)
      const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`
      const post = (headers: Record<string, string>, text: string) =>
        Effect.promise(async () =>
          (await worker.fetch(`${worker.url}/webhooks/github`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "x-github-event": "issue_comment",
              "x-github-delivery": "forged-1",
              ...headers
            },
            body: text
          })).status
        )
      assert.strictEqual(yield* post({ "x-hub-signature-256": signature }, body.replace("must not", "shall")), 401)
      assert.strictEqual(yield* post({}, body), 401)

      assert.deepStrictEqual(yield* tasksOf(issue.number), [])
      assert.deepStrictEqual(yield* porterComments(issue.number), [])
      assert.strictEqual(machines.machines().length, before)
    }), 30_000)

  it.effect("a commenter with read access gets a polite refusal and nothing runs", () =>
    Effect.gen(function*() {
      const { github, machines, reader, repo } = yield* Stack
      const issue = yield* openIssue("Please fix")
      const before = machines.machines().length
      const trigger = yield* comment(reader, issue.number, "@porter script do it for me")
      assert.strictEqual((yield* deliveryOf(trigger.id))[0]!.status, 202)
      const [refusal] = yield* eventually(
        "Porter's answer",
        Effect.map(porterComments(issue.number), (said) => (said.length > 0 ? Option.some(said) : Option.none()))
      )
      assert.include(refusal!.body, `Sorry @${reader.login}`)
      assert.include(refusal!.body, `@${reader.login} has read access`)
      assert.deepStrictEqual(yield* tasksOf(issue.number), [])
      assert.strictEqual(machines.machines().length, before)
      const reactions = yield* rest<ReadonlyArray<unknown>>(
        github.admin.token,
        "GET",
        `/repos/${repo}/issues/comments/${trigger.id}/reactions`
      )
      assert.deepStrictEqual(reactions, [])
    }), 30_000)

  it.effect("the cron sweep ends lost runs: ⏱ on the issue, machines destroyed", () =>
    Effect.gen(function*() {
      const { machines, worker, writer } = yield* Stack
      // Two runs get lost: one machine hangs (alive, silent), the other dies.
      const hung = yield* openIssue("A run that hangs")
      const dead = yield* openIssue("A run that dies")
      yield* comment(writer, hung.number, longRun)
      yield* comment(writer, dead.number, longRun)
      const hungTask = yield* taskInState(hung.number, "running")
      const deadTask = yield* taskInState(dead.number, "running")
      const hungMachine = yield* machineOf(hungTask.id)
      const deadMachine = yield* machineOf(deadTask.id)
      process.kill(-hungMachine.pid!, "SIGSTOP")
      yield* Effect.promise(() => machines.faults.kill(deadMachine.id))

      // Nothing reports any more: once both have been silent longer than the heartbeat timeout, the cron fires.
      const silentSince = Math.max(...(yield* Effect.all([tasksOf(hung.number), tasksOf(dead.number)]))
        .map(([task]) => Date.parse(task!.updatedAt)))
      // A second of margin: a heartbeat sent just before the machine stopped may be recorded a little later.
      yield* Effect.sleep(Math.max(0, silentSince + HEARTBEAT_TIMEOUT_MS + 1_000 - Date.now()))
      yield* Effect.promise(() => worker.scheduled())

      for (const [issue, machine] of [[hung.number, hungMachine], [dead.number, deadMachine]] as const) {
        const [task] = yield* tasksOf(issue)
        assert.strictEqual(task!.state, "timed_out")
        assert.include(task!.reason, "the machine stopped reporting")
        const [status] = yield* porterComments(issue)
        assert.strictEqual(stateOf(status!.body), "timed_out")
        assert.include(status!.body, "⏱")
        assert.isTrue(
          machines.requests().some((r) => r.op === "destroy" && r.path.includes(machine.id)),
          "Porter asked Fly to destroy the machine"
        )
        yield* Effect.promise(() => machines.waitFor(machine.id, "destroyed", 20_000))
      }
    }), 60_000)

  it.effect("`@porter cancel` stops the running task and destroys its machine", () =>
    Effect.gen(function*() {
      const { machines, writer } = yield* Stack
      const issue = yield* openIssue("Changed my mind")
      yield* comment(writer, issue.number, longRun)
      const running = yield* taskInState(issue.number, "running")
      const machine = yield* machineOf(running.id)
      yield* comment(writer, issue.number, "@porter cancel")
      const cancelled = yield* taskInState(issue.number, "cancelled")
      assert.strictEqual(cancelled.id, running.id)
      assert.include(cancelled.reason, `cancelled by @${writer.login}`)
      yield* Effect.promise(() => machines.waitFor(machine.id, "destroyed", 20_000))
      const said = yield* eventually(
        "the reply to `cancel`",
        Effect.map(porterComments(issue.number), (all) => (all.length >= 2 ? Option.some(all) : Option.none()))
      )
      assert.strictEqual(stateOf(said[0]!.body), "cancelled")
      assert.include(said[0]!.body, "⏹ Cancelled")
      assert.include(said[1]!.body, "⏹ Cancelled 1 task.")
    }), 60_000)

  it.effect("closing the issue cancels its running task and destroys the machine", () =>
    Effect.gen(function*() {
      const { admin: owner, machines, repo, writer } = yield* Stack
      const issue = yield* openIssue("Won't fix")
      yield* comment(writer, issue.number, longRun)
      const running = yield* taskInState(issue.number, "running")
      const machine = yield* machineOf(running.id)
      yield* rest(owner.token, "PATCH", `/repos/${repo}/issues/${issue.number}`, { state: "closed" })
      const cancelled = yield* taskInState(issue.number, "cancelled")
      assert.include(cancelled.reason, `closed by @${owner.login}`)
      yield* Effect.promise(() => machines.waitFor(machine.id, "destroyed", 20_000))
      const [status] = yield* eventually(
        "the status comment to say cancelled",
        Effect.map(porterComments(issue.number), (all) =>
          all.length > 0 && stateOf(all[0]!.body) === "cancelled" ? Option.some(all) : Option.none())
      )
      assert.include(status!.body, "⏹ Cancelled")
    }), 60_000)

  it.effect("GET /admin/doctor passes on a correct deployment and needs the admin token", () =>
    Effect.gen(function*() {
      const { worker } = yield* Stack
      const answer = yield* Effect.promise(async () => {
        const ok = await worker.fetch(`${worker.url}/admin/doctor`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` }
        })
        const denied = await worker.fetch(`${worker.url}/admin/doctor`, { headers: { authorization: "Bearer nope" } })
        return { status: ok.status, body: await ok.json() as { ok: boolean; text: string }, denied: denied.status }
      })
      assert.strictEqual(answer.status, 200, answer.body.text)
      assert.isTrue(answer.body.ok)
      assert.notInclude(answer.body.text, "✗")
      assert.include(answer.body.text, "✓ D1: migrated (0001_init.sql, 0002_audit.sql, 0003_settings_extra.sql")
      assert.include(answer.body.text, "✓ Fly: the token is accepted")
      assert.include(answer.body.text, "the private key signs JWTs GitHub accepts")
      assert.strictEqual(answer.denied, 401)
    }), 30_000)

  it.effect(
    "GET /openapi.json is the checked-in docs/openapi.json (regenerate with scripts/openapi.ts)",
    () =>
      Effect.gen(function*() {
        const { worker } = yield* Stack
        const served = yield* Effect.promise(async () => {
          const response = await worker.fetch(`${worker.url}/openapi.json`)
          return { status: response.status, body: await response.json() as unknown }
        })
        const checkedIn = JSON.parse(readFileSync(new URL("../../../docs/openapi.json", import.meta.url), "utf8"))
        assert.strictEqual(served.status, 200)
        assert.deepStrictEqual(served.body, checkedIn)
      }),
    30_000
  )
})
