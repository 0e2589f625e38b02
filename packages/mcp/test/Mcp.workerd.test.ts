// Porter's MCP server in the reference Worker, in workerd (the bundle `wrangler deploy` would upload, a local D1 with
// the migrations, the GitHub emulator, the local machines server running the real runner with the `script` agent),
// driven by the official MCP client (@modelcontextprotocol/sdk) with personal tokens made on the web app's tokens
// page: every tool, the log resource, who may do what, bad arguments.
import { assert, layer } from "@effect/vitest"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { GitHubEmulator } from "@porter/testkit"
import { Browser } from "@porter/testkit/browser"
import * as LocalStack from "@porter/worker/stack"
import { Context, Effect, Layer, Schedule } from "effect"
import { call, connect, type ToolAnswer } from "./support/Client.ts"

interface Person {
  readonly login: string
  readonly token: string
}

class Stack extends Context.Service<Stack, {
  readonly url: string
  readonly github: GitHubEmulator.Emulator
  readonly repo: string
  readonly owner: Person
  readonly clients: { readonly writer: Client; readonly reader: Client; readonly outsider: Client }
  readonly logs: () => string
}>()("@porter/mcp/test/Stack") {}

const StackLive = Layer.effect(
  Stack,
  Effect.gen(function*() {
    // Heartbeats every half second: a cancel reaches the runner (and its checkpoint) at once.
    const stack = yield* LocalStack.start({ workerEnv: { PORTER_HEARTBEAT_INTERVAL_MS: "500" } }).pipe(Effect.orDie)
    const github = stack.github!
    const url = stack.worker.url
    const rest = (token: string, method: string, path: string, body?: unknown) =>
      Effect.promise(() => GitHubEmulator.rest(token, method, `${github.url}${path}`, body))
    const owner = github.admin
    yield* rest(owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    const reader = yield* Effect.promise(() => github.createUser("rita"))
    const outsider = yield* Effect.promise(() => github.createUser("olga"))
    yield* rest(owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, { permission: "push" })
    yield* rest(owner.token, "PUT", `/repos/${repo}/collaborators/${reader.login}`, { permission: "pull" })
    const client = (login: string) =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          const { token } = await new Browser(url).makeToken(login)
          return connect(`${url}/mcp`, token)
        }),
        (c) => Effect.promise(() => c.close())
      )
    return Stack.of({
      url,
      github,
      repo,
      owner,
      clients: {
        writer: yield* client(writer.login),
        reader: yield* client(reader.login),
        outsider: yield* client(outsider.login)
      },
      logs: () => stack.worker.logs().slice(-15).map((line) => line.message).join("\n")
    })
  })
)

const tool = (client: Client, name: string, args: Record<string, unknown>) =>
  Effect.promise(() => call(client, name, args))

const openIssue = (title: string) =>
  Effect.gen(function*() {
    const { github, owner, repo } = yield* Stack
    return yield* Effect.promise(() =>
      GitHubEmulator.rest<{ readonly number: number }>(owner.token, "POST", `${github.url}/repos/${repo}/issues`, {
        title,
        body: ""
      })
    )
  })

/** `get_task` until the task's state is one of `states` (60 s at most). */
const ENDED = ["succeeded", "failed", "timed_out", "cancelled"]

const until = (client: Client, taskId: string, states: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const answer = yield* tool(client, "get_task", { task_id: taskId }).pipe(
      Effect.flatMap((got: ToolAnswer) =>
        states.includes(got.structured?.task?.state) ? Effect.succeed(got) : Effect.fail("pending" as const)
      ),
      Effect.retry(Schedule.spaced("200 millis")),
      Effect.timeoutOption("60 seconds")
    )
    if (answer._tag === "Some") return answer.value
    const { logs } = yield* Stack
    return yield* Effect.die(
      new Error(`task ${taskId} never reached ${states.join("/")}; the Worker's log:\n${logs()}`)
    )
  })

layer(StackLive, { timeout: "180 seconds", excludeTestServices: true })("Porter's MCP server in workerd", (it) => {
  it.effect(
    "start_task posts the command as the writer; the task runs; get_task, get_transcript and the log resource read its result; retry_task and continue_task go on from it",
    () =>
      Effect.gen(function*() {
        const { clients, github, owner, repo } = yield* Stack
        const issue = yield* openIssue("Changelog")
        const started = yield* tool(clients.writer, "start_task", {
          repository: repo,
          issue: issue.number,
          agent: "script",
          instructions: "add a changelog line\n\n```porter-script\nappend CHANGELOG.md - ISO weeks\n```"
        })
        assert.isFalse(started.isError, started.text)
        assert.strictEqual(started.structured.command, "@porter script")
        const taskId: string = started.structured.task.id
        assert.strictEqual(started.structured.task.requestedBy, "wendy")

        const comments = yield* Effect.promise(() =>
          GitHubEmulator.rest<ReadonlyArray<{ user: { login: string }; body: string }>>(
            owner.token,
            "GET",
            `${github.url}/repos/${repo}/issues/${issue.number}/comments`
          )
        )
        assert.strictEqual(comments[0]!.user.login, "wendy")
        assert.match(comments[0]!.body, /^@porter script add a changelog line/)

        const done = yield* until(clients.writer, taskId, ["succeeded", "failed", "timed_out", "cancelled"])
        assert.strictEqual(done.structured.task.state, "succeeded", JSON.stringify(done.structured))
        assert.match(done.structured.task.prUrl, /\/pull\/\d+$/)
        assert.isTrue(done.structured.events.some((e: { to?: string }) => e.to === "running"))

        const transcript = yield* tool(clients.reader, "get_transcript", { task_id: taskId })
        assert.isFalse(transcript.isError, transcript.text)
        assert.strictEqual(transcript.structured.prUrl, done.structured.task.prUrl)
        // The run's transcript as the machine handed it over (the script agent's: the run's log), redacted.
        assert.include(transcript.structured.transcript, `Porter runner: task ${taskId}`)

        const log = yield* Effect.promise(() => clients.reader.readResource({ uri: `porter://tasks/${taskId}/log` }))
        assert.include((log.contents[0] as { text: string }).text, `Task ${taskId} (script) on ${repo}#${issue.number}`)

        const listed = yield* tool(clients.reader, "list_tasks", { repository: repo, state: "succeeded" })
        assert.isTrue(listed.structured.tasks.some((t: { id: string }) => t.id === taskId))

        // Retry: an ended task runs again as a new task, requested by the writer.
        const retried = yield* tool(clients.writer, "retry_task", { task_id: taskId })
        assert.isFalse(retried.isError, retried.text)
        assert.notStrictEqual(retried.structured.task.id, taskId)
        const rerun = yield* until(clients.writer, retried.structured.task.id, ENDED)
        assert.strictEqual(rerun.structured.task.state, "succeeded", JSON.stringify(rerun.structured))

        // Continue: a reader may not; the writer's posts `@porter continue …` on the issue, and a task goes on there.
        const readerContinue = yield* tool(clients.reader, "continue_task", { task_id: taskId })
        assert.isTrue(readerContinue.isError)
        assert.include(readerContinue.text, "needs write access")
        const continued = yield* tool(clients.writer, "continue_task", {
          task_id: retried.structured.task.id,
          instructions: "also note the week numbers"
        })
        assert.isFalse(continued.isError, continued.text)
        const next = continued.structured.task
        assert.notInclude([taskId, retried.structured.task.id], next.id)
        assert.strictEqual(next.requestedBy, "wendy")
        assert.strictEqual(next.issueNumber, issue.number)
        const posted = yield* Effect.promise(() =>
          GitHubEmulator.rest<ReadonlyArray<{ user: { login: string }; body: string }>>(
            owner.token,
            "GET",
            `${github.url}/repos/${repo}/issues/${issue.number}/comments`
          )
        )
        assert.isTrue(
          posted.some((c) => c.user.login === "wendy" && c.body === "@porter continue also note the week numbers")
        )
        const after = yield* until(clients.writer, next.id, ENDED)
        assert.strictEqual(after.structured.task.state, "succeeded", JSON.stringify(after.structured))
      }),
    120_000
  )

  it.effect("cancel_task ends an active task; a reader and an outsider are refused", () =>
    Effect.gen(function*() {
      const { clients, repo } = yield* Stack
      const issue = yield* openIssue("Busy")
      const started = yield* tool(clients.writer, "start_task", {
        repository: repo,
        issue: issue.number,
        agent: "script",
        instructions: "keep busy\n\n```porter-script\nsleep 120\n```"
      })
      assert.isFalse(started.isError, started.text)
      const taskId: string = started.structured.task.id

      const byReader = yield* tool(clients.reader, "cancel_task", { task_id: taskId })
      assert.isTrue(byReader.isError)
      assert.include(byReader.text, "needs write access")
      const readerStart = yield* tool(clients.reader, "start_task", {
        repository: repo,
        issue: issue.number,
        instructions: "do it for me"
      })
      assert.isTrue(readerStart.isError)
      assert.include(readerStart.text, "write access")

      for (const name of ["get_task", "cancel_task", "get_transcript", "retry_task", "continue_task"]) {
        const refused = yield* tool(clients.outsider, name, { task_id: taskId })
        assert.isTrue(refused.isError, name)
        assert.strictEqual(refused.text, `There is no task ${taskId} that you can see.`)
      }
      const outsiderList = yield* tool(clients.outsider, "list_tasks", {})
      assert.deepStrictEqual(outsiderList.structured.tasks, [])
      const outsiderStart = yield* tool(clients.outsider, "start_task", {
        repository: repo,
        issue: issue.number,
        instructions: "x"
      })
      assert.strictEqual(outsiderStart.text, `There is no repository ${repo} that you can use through Porter.`)

      yield* until(clients.writer, taskId, ["running"])
      const cancelled = yield* tool(clients.writer, "cancel_task", { task_id: taskId })
      assert.isFalse(cancelled.isError, cancelled.text)
      assert.isTrue(cancelled.structured.cancelled)
      // A running task first hands over its work so far (a checkpoint), then ends cancelled.
      if (cancelled.structured.task.state !== "cancelled") {
        assert.include(cancelled.structured.message, "is stopping")
        yield* until(clients.writer, taskId, ["cancelled"])
      }
    }))

  it.effect("bad arguments are tool errors naming the problem; no token is a 401", () =>
    Effect.gen(function*() {
      const { clients, repo, url } = yield* Stack
      const wrongType = yield* tool(clients.writer, "start_task", { repository: repo, issue: "one", instructions: "x" })
      assert.isTrue(wrongType.isError)
      assert.include(wrongType.text, "issue")
      const missing = yield* tool(clients.writer, "get_task", {})
      assert.isTrue(missing.isError)
      assert.include(missing.text, "task_id")
      const badFlag = yield* tool(clients.writer, "start_task", {
        repository: repo,
        issue: 1,
        agent: "script",
        timeout: "9h",
        instructions: "x"
      })
      assert.isTrue(badFlag.isError)
      assert.include(badFlag.text, "Nothing was posted")

      const anonymous = yield* Effect.promise(() =>
        fetch(`${url}/mcp`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
        })
      )
      assert.strictEqual(anonymous.status, 401)
      assert.include(anonymous.headers.get("www-authenticate") ?? "", "Bearer")
    }))
})
