/**
 * Issue 20, end to end with the real Claude Code CLI (node_modules/.bin/claude) through the Worker in workerd (local D1),
 * the GitHub emulator and process machines running the real runner, against the scripted model server:
 *
 * - a task past its deadline leaves a draft pull request with the work-in-progress commit, and the status comment says
 *   why it stopped and links it;
 * - `@porter continue` resumes the agent's session: the model server receives the earlier conversation, the work goes
 *   on the same branch and pull request, and the status comment says the session was resumed;
 * - `@porter cancel` on a running task: its machine hands over the work so far (a draft pull request), then it ends
 *   cancelled;
 * - the gist mirror's GitHub is down for this whole stack (`PORTER_GIST_API_URL` on a closed port): every task still
 *   ends as it would, and each failed copy is in its audit trail (`mirror_failed`).
 */
import { assert, layer } from "@effect/vitest"
import { Messages } from "@porter/core"
import { GitHubEmulator } from "@porter/testkit"
import * as ModelServer from "@porter/testkit/model"
import * as LocalStack from "@porter/worker/stack"
import { Context, Effect, Layer, Option } from "effect"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  ADMIN_TOKEN,
  comment,
  eventually,
  HEARTBEAT_INTERVAL_MS,
  openIssue,
  porterComments,
  rest,
  Stack,
  taskById,
  taskInState,
  tasksOf
} from "./support/Stack.ts"

const ANTHROPIC_KEY = "sk-ant-api03-CHECKPOINT-e2e-real-key-0001"

class Model extends Context.Service<Model, ModelServer.Server>()("@porter/worker/test/Checkpoint/Model") {}

const StackWithModel = Layer.effect(
  Stack,
  Effect.gen(function*() {
    const model = yield* Model
    const stack = yield* LocalStack.start({
      adminToken: ADMIN_TOKEN,
      workerEnv: {
        PORTER_GATEWAY_ANTHROPIC_URL: model.url,
        PORTER_GATEWAY_OPENAI_URL: `${model.url}/v1`,
        PORTER_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
        // The mirror's GitHub is down: nothing answers on port 9.
        PORTER_GIST_TOKEN: "ghp_gistMirrorToken0000000000000000000000",
        PORTER_GIST_API_URL: "http://127.0.0.1:9"
      }
    }).pipe(Effect.orDie)
    const github = stack.github!
    const owner = github.admin
    yield* Effect.promise(() =>
      GitHubEmulator.rest(owner.token, "POST", `${github.url}/user/repos`, { name: "widgets", auto_init: true })
    )
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    const reader = yield* Effect.promise(() => github.createUser("rita"))
    yield* Effect.promise(() =>
      GitHubEmulator.rest(owner.token, "PUT", `${github.url}/repos/${repo}/collaborators/${writer.login}`, {
        permission: "push"
      })
    )
    yield* Effect.promise(() =>
      stack.worker.fetch(`${stack.worker.url}/admin/secrets`, {
        method: "PUT",
        headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ scope: "global", name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY })
      })
    )
    yield* Effect.promise(() =>
      stack.worker.fetch(`${stack.worker.url}/admin/secrets`, {
        method: "PUT",
        headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ scope: "global", name: "OPENAI_API_KEY", value: "sk-proj-CHECKPOINT-e2e-key-0002" })
      })
    )
    return Stack.of({ worker: stack.worker, github, machines: stack.machines, repo, admin: owner, writer, reader })
  })
).pipe(Layer.provideMerge(Layer.effect(Model, ModelServer.start({ script: [] }))))

const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"]

const ended = (issue: number, count: number) =>
  eventually(
    `${count} ended task(s) on #${issue}`,
    Effect.map(tasksOf(issue), (tasks) => {
      const done = tasks.filter((t) => TERMINAL.includes(t.state))
      return done.length >= count ? Option.some(done[0]!) : Option.none()
    }),
    "200 seconds"
  )

interface Pull {
  readonly number: number
  readonly html_url: string
  readonly draft: boolean
  readonly state: string
  readonly head: { readonly ref: string; readonly sha: string }
}

const pullOf = (url: string) =>
  Effect.gen(function*() {
    const { admin, repo } = yield* Stack
    const pulls = yield* rest<ReadonlyArray<Pull>>(admin.token, "GET", `/repos/${repo}/pulls?state=all&per_page=100`)
    const pull = pulls.find((p) => p.html_url === url)
    assert.isDefined(pull, `no pull request at ${url}`)
    return pull!
  })

const commitMessage = (sha: string) =>
  Effect.gen(function*() {
    const { admin, repo } = yield* Stack
    const commit = yield* rest<{ readonly message: string }>(admin.token, "GET", `/repos/${repo}/git/commits/${sha}`)
    return commit.message
  })

const mirrorFailures = (taskId: string) =>
  Effect.map(taskById(taskId), ({ events }) => events.filter((e) => e.kind === "mirror_failed"))

layer(StackWithModel, { timeout: "300 seconds", excludeTestServices: true })(
  "checkpoints and `@porter continue` with Claude Code (workerd)",
  (it) => {
    it.effect(
      "past its deadline: a draft pull request with the WIP commit; `@porter continue` resumes the session",
      () =>
        Effect.gen(function*() {
          const model = yield* Model
          const { writer } = yield* Stack
          // Turn 0 writes a file; turn 1 runs a command that outlasts the deadline (the runner kills the CLI).
          model.setScript([
            ModelServer.write("notes/plan.md", "Step one: done\n"),
            // (Claude Code refuses a long `sleep`; a node timer it runs in the foreground.)
            ModelServer.bash("node -e 'setTimeout(() => {}, 120000)'"),
            // The continuation's turns: another file, then the summary. The resumed conversation holds the first two
            // turns and one Claude Code adds for the interrupted command. The file is written by the shell, in the
            // new clone (the conversation still names the first machine's directory).
            ModelServer.bash("mkdir -p notes && echo 'Step two: done' > notes/done.md"),
            ModelServer.bash("mkdir -p notes && echo 'Step two: done' > notes/done.md"),
            ModelServer.text("Finished the plan: notes/plan.md and notes/done.md.")
          ])
          const issue = yield* openIssue("Write the plan")
          yield* comment(writer, issue.number, "@porter claude --timeout 40s write the plan in notes/")
          const stopped = yield* ended(issue.number, 1)

          // Stopped at the deadline, the work so far handed over: a draft pull request with the WIP commit.
          assert.strictEqual(stopped.state, "timed_out", stopped.reason)
          assert.include(stopped.reason ?? "", "time limit")
          assert.include(stopped.prUrl ?? "", "/pull/")
          const pull = yield* pullOf(stopped.prUrl!)
          assert.isTrue(pull.draft, "the checkpoint's pull request is a draft")
          assert.match(yield* commitMessage(pull.head.sha), /^WIP: Write the plan/)
          const [status] = yield* porterComments(issue.number)
          assert.strictEqual(Messages.parseMarker(status!.body)?.state, "timed_out")
          assert.include(status!.body, "⏱")
          assert.include(status!.body, "time limit")
          assert.include(status!.body, `**Work so far:** ${stopped.prUrl}`)
          // The mirror's GitHub is down: the task ended as it would, the failure is in its audit trail.
          assert.isAtLeast((yield* mirrorFailures(stopped.id)).length, 1)

          // `@porter continue`: the same agent, the same branch, its session resumed.
          const seen = model.requests().length
          yield* comment(writer, issue.number, "@porter continue and finish it")
          const continued = yield* eventually(
            "the continuation to end",
            Effect.map(tasksOf(issue.number), (tasks) =>
              Option.fromNullishOr(
                tasks.find((t) => t.id !== stopped.id && TERMINAL.includes(t.state))
              )),
            "200 seconds"
          )
          assert.strictEqual(continued.state, "succeeded", continued.reason)
          assert.strictEqual(continued.continuesFrom, stopped.id)
          assert.strictEqual(continued.resumed, "session")
          const calls = model.requests().slice(seen).filter((r) => r.turn !== undefined)
          assert.strictEqual(continued.outcome, "pushed", `turns served: ${calls.map((c) => c.turn).join(", ")}`)
          assert.strictEqual(continued.branch, stopped.branch)
          assert.strictEqual(continued.prUrl, stopped.prUrl, "the continuation's work goes to the same pull request")
          // The scripted server received the earlier conversation: the first prompt and the first turn's tool call.
          assert.isAtLeast(calls.length, 1)
          const first = JSON.stringify(calls[0]!.body)
          assert.include(first, "write the plan in notes/")
          assert.include(first, "notes/plan.md")
          assert.include(first, "and finish it")
          const statuses = yield* porterComments(issue.number)
          const last = statuses.find((c) => Messages.parseMarker(c.body)?.id === continued.id)!
          assert.strictEqual(Messages.parseMarker(last.body)?.state, "succeeded")
          assert.include(last.body, `Continues task \`${stopped.id}\``)
          assert.include(last.body, "resumed its session")
          // Its transcript is linked (the web app's page: the local stack serves the web app).
          assert.include(last.body, `**Transcript:** `)
          assert.include(last.body, `/app/tasks/${continued.id}/transcript`)
          const after = yield* pullOf(stopped.prUrl!)
          assert.notStrictEqual(after.head.sha, pull.head.sha, "the continuation's commit is on the branch")
        }),
      300_000
    )

    it.effect(
      "codex: `@porter continue` resumes its rollout (Codex `exec resume`) on the same branch",
      () =>
        Effect.gen(function*() {
          const model = yield* Model
          const { writer } = yield* Stack
          model.setScript([
            ModelServer.write("codex/one.md", "One\n"),
            ModelServer.text("Wrote codex/one.md."),
            // The continuation: the resumed conversation holds the first two turns.
            ModelServer.bash("mkdir -p codex && echo Two > codex/two.md"),
            ModelServer.text("Wrote codex/two.md too.")
          ])
          const issue = yield* openIssue("Two files with Codex")
          yield* comment(writer, issue.number, "@porter codex write codex/one.md")
          const first = yield* ended(issue.number, 1)
          assert.strictEqual(first.state, "succeeded", first.reason)
          const seen = model.requests().length
          yield* comment(writer, issue.number, "@porter continue with codex/two.md")
          const next = yield* eventually(
            "the codex continuation to end",
            Effect.map(
              tasksOf(issue.number),
              (tasks) => Option.fromNullishOr(tasks.find((t) => t.id !== first.id && TERMINAL.includes(t.state)))
            ),
            "200 seconds"
          )
          const calls = model.requests().slice(seen).filter((r) => r.turn !== undefined)
          assert.strictEqual(next.state, "succeeded", next.reason)
          assert.strictEqual(next.resumed, "session")
          assert.strictEqual(next.outcome, "pushed", `turns served: ${calls.map((c) => c.turn).join(", ")}`)
          assert.strictEqual(next.branch, first.branch)
          const sent = JSON.stringify(calls[0]!.body)
          assert.include(sent, "write codex/one.md", "the earlier conversation was sent again")
          assert.include(sent, "with codex/two.md")
        }),
      240_000
    )

    it.effect(
      "`@porter cancel` on a running task: its machine hands over the work so far, then it is cancelled",
      () =>
        Effect.gen(function*() {
          const { writer } = yield* Stack
          const marker = join(mkdtempSync(join(tmpdir(), "porter-busy-")), "busy")
          const issue = yield* openIssue("Half a change")
          yield* comment(
            writer,
            issue.number,
            "@porter script start a long change\n\n```porter-script\nwrite half.md half of it\n" +
              `run touch ${marker} && sleep 120\n\`\`\``
          )
          const running = yield* taskInState(issue.number, "running", "60 seconds")
          // The agent has written its file and is busy (the machine is a process on this host).
          yield* eventually(
            "the agent to be busy",
            Effect.sync(() => (existsSync(marker) ? Option.some(true) : Option.none()))
          )
          yield* comment(writer, issue.number, "@porter cancel")
          const task = yield* ended(issue.number, 1)
          const trail = JSON.stringify((yield* taskById(task.id)).events)
          assert.strictEqual(task.id, running.id)
          assert.strictEqual(task.state, "cancelled", trail)
          assert.include(task.reason ?? "", "cancelled by @wendy")
          assert.include(task.prUrl ?? "", "/pull/", trail)
          const pull = yield* pullOf(task.prUrl!)
          assert.isTrue(pull.draft)
          assert.match(yield* commitMessage(pull.head.sha), /^WIP: /)
          const [status] = yield* porterComments(issue.number)
          assert.strictEqual(Messages.parseMarker(status!.body)?.state, "cancelled")
          assert.include(status!.body, `**Work so far:** ${task.prUrl}`)
        }),
      120_000
    )

    it.effect(
      "the gist mirror's GitHub is down: a task still succeeds; the failed copies are in its audit trail",
      () =>
        Effect.gen(function*() {
          const model = yield* Model
          const { writer } = yield* Stack
          model.setScript([ModelServer.write("hello.txt", "Hello\n"), ModelServer.text("Added hello.txt.")])
          const issue = yield* openIssue("Say hello")
          yield* comment(writer, issue.number, "@porter claude add hello.txt")
          const task = yield* ended(issue.number, 1)
          assert.strictEqual(task.state, "succeeded", task.reason)
          assert.include(task.prUrl ?? "", "/pull/")
          const failures = yield* mirrorFailures(task.id)
          // The session, the transcript and the diff: each copy failed, none failed the task.
          assert.includeMembers(
            failures.map((e) => (e as { detail?: string }).detail?.split(":")[0]),
            ["session", "transcript", "diff"]
          )
          const { events } = yield* taskById(task.id)
          assert.deepStrictEqual(
            events.filter((e) => e.kind === "artifact").map((e) => (e as { detail?: string }).detail?.split(" ")[0]),
            ["session", "transcript", "diff"]
          )
        }),
      240_000
    )
  }
)
