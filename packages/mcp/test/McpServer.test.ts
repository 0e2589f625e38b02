// Porter's MCP server in process (Porter in memory, GitHub played by the emulator), driven by the official MCP client
// (@modelcontextprotocol/sdk): tokens from the web app's tokens page, every tool, who may do what, bad arguments.
import { assert, layer } from "@effect/vitest"
import { TaskStore } from "@porter/core"
import { Fixtures } from "@porter/testing"
import { GitHubEmulator } from "@porter/testkit"
import { Effect } from "effect"
import { App } from "./support/App.ts"
import * as AppLayer from "./support/App.ts"
import { call, connect } from "./support/Client.ts"

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0)
const MCP = `${AppLayer.ORIGIN}/mcp`

layer(AppLayer.layer, { timeout: "60 seconds", excludeTestServices: true })("the MCP server in process", (it) => {
  it.effect("without a live token: 401 with WWW-Authenticate, before anything is read", () =>
    Effect.gen(function*() {
      const app = yield* App
      const init = {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
      }
      const none = yield* Effect.promise(() => app.handler(new Request(MCP, init)))
      assert.strictEqual(none.status, 401)
      assert.include(none.headers.get("www-authenticate") ?? "", "Bearer")
      assert.include(yield* Effect.promise(() => none.text()), "/app/tokens")
      const forged = yield* Effect.promise(() =>
        app.handler(
          new Request(MCP, {
            ...init,
            headers: { ...init.headers, authorization: `Bearer porter_pat_${"x".repeat(43)}` }
          })
        )
      )
      assert.strictEqual(forged.status, 401)
      const failed = yield* Effect.promise(() => connect(MCP, undefined, app.fetch).then(() => "connected", String))
      assert.notStrictEqual(failed, "connected")
    }))

  it.effect("tokens page: a token is shown once, listed by name and id, revoked by its user only (then 401)", () =>
    Effect.gen(function*() {
      const app = yield* App
      const browser = app.browser()
      const { page, token } = yield* Effect.promise(() => browser.makeToken(app.writer.login, "laptop"))
      const id = /name="id" value="([^"]+)"/.exec(page.text)![1]!
      const listing = yield* Effect.promise(() => browser.go("/app/tokens"))
      assert.include(listing.text, "laptop")
      assert.include(listing.text, id)
      assert.notInclude(listing.text, token)
      const client = yield* Effect.promise(() => connect(MCP, token, app.fetch))
      assert.isFalse((yield* Effect.promise(() => call(client, "list_tasks", {}))).isError)

      // Another user cannot revoke it (404), nor can a form without the CSRF token (403).
      const other = app.browser()
      const otherPage = yield* Effect.promise(() => other.signIn(app.reader.login, "/app/tokens"))
      const csrfOther = /name="_csrf" value="([^"]+)"/.exec(otherPage.text)![1]!
      assert.strictEqual(
        (yield* Effect.promise(() => other.post("/app/tokens/revoke", { _csrf: csrfOther, id }))).status,
        404
      )
      assert.strictEqual((yield* Effect.promise(() => browser.post("/app/tokens/revoke", { id }))).status, 403)

      const csrf = /name="_csrf" value="([^"]+)"/.exec(listing.text)![1]!
      const revoked = yield* Effect.promise(() => browser.post("/app/tokens/revoke", { _csrf: csrf, id }))
      assert.include(revoked.text, "Token revoked.")
      assert.notInclude(revoked.text, id)
      const after = yield* Effect.promise(() => client.listTools().then(() => "answered", String))
      assert.include(after, "not a live Porter token")
      yield* Effect.promise(() => client.close().catch(() => undefined))
    }))

  it.effect("a reader lists and reads tasks, cannot steer; tools list with their schemas", () =>
    Effect.gen(function*() {
      const app = yield* App
      const running = Fixtures.storedTask({ repo: app.repo, at: NOW, n: 1, state: "running", login: app.writer.login })
      const ended = Fixtures.storedTask({
        repo: app.repo,
        at: NOW + 1,
        n: 2,
        state: "failed",
        login: app.writer.login,
        logTail: "npm test\n1 failing"
      })
      yield* Effect.promise(() =>
        app.run(
          Effect.flatMap(TaskStore.TaskStore, (store) => Effect.all([store.create(running), store.create(ended)]))
        )
      )
      const { token, page } = yield* Effect.promise(() => app.browser().makeToken(app.reader.login))
      assert.include(
        page.text,
        "claude mcp add --transport http porter http://porter.test/mcp \\\n  --header \"Authorization: Bearer "
      )
      const client = yield* Effect.promise(() => connect(MCP, token, app.fetch))
      const tools = yield* Effect.promise(() => client.listTools())
      assert.deepStrictEqual(
        tools.tools.map((tool) => tool.name).sort(),
        ["cancel_task", "continue_task", "get_task", "get_transcript", "list_tasks", "retry_task", "start_task"]
      )
      const start = tools.tools.find((tool) => tool.name === "start_task")!
      assert.includeMembers(start.inputSchema.required ?? [], ["repository", "issue", "instructions"])

      const listed = yield* Effect.promise(() => call(client, "list_tasks", {}))
      assert.isFalse(listed.isError, listed.text)
      assert.deepStrictEqual(listed.structured.tasks.map((t: { id: string }) => t.id), [ended.id, running.id])
      assert.strictEqual(listed.structured.tasks[0].requestedBy, app.writer.login)

      const failedOnly = yield* Effect.promise(() => call(client, "list_tasks", { state: "failed" }))
      assert.deepStrictEqual(failedOnly.structured.tasks.map((t: { id: string }) => t.id), [ended.id])

      const got = yield* Effect.promise(() => call(client, "get_task", { task_id: running.id }))
      assert.isFalse(got.isError, got.text)
      assert.strictEqual(got.structured.task.state, "running")

      const transcript = yield* Effect.promise(() => call(client, "get_transcript", { task_id: ended.id }))
      assert.include(transcript.structured.logTail, "1 failing")
      // Nothing was handed over for this task (no machine ran it): its summary and last lines only.
      assert.include(transcript.structured.note, "No transcript is kept for this task")
      assert.isUndefined(transcript.structured.transcript)

      const log = yield* Effect.promise(() => client.readResource({ uri: `porter://tasks/${ended.id}/log` }))
      assert.include((log.contents[0] as { text: string }).text, "1 failing")

      const cancel = yield* Effect.promise(() => call(client, "cancel_task", { task_id: running.id }))
      assert.isTrue(cancel.isError)
      assert.include(cancel.text, "needs write access")
      const retry = yield* Effect.promise(() => call(client, "retry_task", { task_id: ended.id }))
      assert.isTrue(retry.isError)
      const start1 = yield* Effect.promise(() =>
        call(client, "start_task", { repository: app.repo, issue: 1, instructions: "fix it" })
      )
      assert.isTrue(start1.isError)
      assert.include(start1.text, "write access")
      yield* Effect.promise(() => client.close())
    }))

  it.effect("an outsider sees nothing: tasks read as not found, the repository as unknown", () =>
    Effect.gen(function*() {
      const app = yield* App
      const hidden = Fixtures.storedTask({
        repo: app.repo,
        at: NOW + 10,
        n: 3,
        state: "running",
        login: app.writer.login
      })
      yield* Effect.promise(() => app.run(Effect.flatMap(TaskStore.TaskStore, (store) => store.create(hidden))))
      const { token } = yield* Effect.promise(() => app.browser().makeToken(app.outsider.login))
      const client = yield* Effect.promise(() => connect(MCP, token, app.fetch))
      const listed = yield* Effect.promise(() => call(client, "list_tasks", {}))
      assert.deepStrictEqual(listed.structured.tasks, [])
      const got = yield* Effect.promise(() => call(client, "get_task", { task_id: hidden.id }))
      assert.isTrue(got.isError)
      assert.strictEqual(got.text, `There is no task ${hidden.id} that you can see.`)
      const cancel = yield* Effect.promise(() => call(client, "cancel_task", { task_id: hidden.id }))
      assert.strictEqual(cancel.text, `There is no task ${hidden.id} that you can see.`)
      const byRepo = yield* Effect.promise(() => call(client, "list_tasks", { repository: app.repo }))
      assert.isTrue(byRepo.isError)
      assert.include(byRepo.text, "There is no repository")
      const log = yield* Effect.promise(() =>
        client.readResource({ uri: `porter://tasks/${hidden.id}/log` }).then(() => "read", String)
      )
      assert.include(log, "There is no task")
      yield* Effect.promise(() => client.close())
    }))

  it.effect("a writer cancels and retries; start_task posts the command on the issue as the writer", () =>
    Effect.gen(function*() {
      const app = yield* App
      const active = Fixtures.storedTask({
        repo: app.repo,
        at: NOW + 20,
        n: 4,
        state: "queued",
        login: app.writer.login
      })
      yield* Effect.promise(() => app.run(Effect.flatMap(TaskStore.TaskStore, (store) => store.create(active))))
      const { token } = yield* Effect.promise(() => app.browser().makeToken(app.writer.login))
      const client = yield* Effect.promise(() => connect(MCP, token, app.fetch))

      const cancelled = yield* Effect.promise(() => call(client, "cancel_task", { task_id: active.id }))
      assert.isFalse(cancelled.isError, cancelled.text)
      assert.isTrue(cancelled.structured.cancelled)
      assert.strictEqual(cancelled.structured.task.state, "cancelled")
      const again = yield* Effect.promise(() => call(client, "cancel_task", { task_id: active.id }))
      assert.isFalse(again.structured.cancelled)

      const retried = yield* Effect.promise(() => call(client, "retry_task", { task_id: active.id }))
      assert.isFalse(retried.isError, retried.text)
      assert.notStrictEqual(retried.structured.task.id, active.id)
      assert.strictEqual(retried.structured.task.requestedBy, app.writer.login)

      // The latest task of an issue; waiting for it to end (it is cancelled while get_task waits).
      const waiting = call(client, "get_task", { repository: app.repo, issue: 1, wait_seconds: 20 })
      yield* Effect.sleep("1500 millis")
      yield* Effect.promise(() => call(client, "cancel_task", { task_id: retried.structured.task.id }))
      const waited = yield* Effect.promise(() => waiting)
      assert.isFalse(waited.isError, waited.text)
      assert.strictEqual(waited.structured.task.id, retried.structured.task.id)
      assert.strictEqual(waited.structured.task.state, "cancelled")
      const nowhere = yield* Effect.promise(() => call(client, "get_task", { repository: app.repo, issue: 999 }))
      assert.strictEqual(nowhere.text, `There is no task on ${app.repo}#999 that you can see.`)

      const issue = yield* Effect.promise(() =>
        rest(app, app.owner.token, "POST", `/repos/${app.repo}/issues`, { title: "Flaky date test" })
      )
      const started = yield* Effect.promise(() =>
        call(client, "start_task", {
          repository: app.repo,
          issue: issue.number,
          agent: "claude",
          timeout: "20m",
          instructions: "fix the flaky date test\nIt fails at midnight."
        })
      )
      assert.isFalse(started.isError, started.text)
      assert.strictEqual(started.structured.command, "@porter claude --timeout 20m")
      const comments = yield* Effect.promise(() =>
        rest<ReadonlyArray<{ body: string; user: { login: string } }>>(
          app,
          app.owner.token,
          "GET",
          `/repos/${app.repo}/issues/${issue.number}/comments`
        )
      )
      assert.strictEqual(comments.length, 1)
      assert.strictEqual(comments[0]!.user.login, app.writer.login)
      assert.strictEqual(
        comments[0]!.body,
        "@porter claude --timeout 20m fix the flaky date test\nIt fails at midnight."
      )
      yield* Effect.promise(() => client.close())
    }))

  it.effect("bad arguments are tool errors that name the problem; nothing is posted", () =>
    Effect.gen(function*() {
      const app = yield* App
      const { token } = yield* Effect.promise(() => app.browser().makeToken(app.writer.login))
      const client = yield* Effect.promise(() => connect(MCP, token, app.fetch))
      const wrongType = yield* Effect.promise(() =>
        call(client, "start_task", { repository: app.repo, issue: "one", instructions: "x" })
      )
      assert.isTrue(wrongType.isError)
      assert.include(wrongType.text, "issue")
      const badRepo = yield* Effect.promise(() =>
        call(client, "start_task", { repository: "not a repo", issue: 1, instructions: "x" })
      )
      assert.isTrue(badRepo.isError)
      assert.include(badRepo.text, "owner/name")
      const badAgent = yield* Effect.promise(() =>
        call(client, "start_task", { repository: app.repo, issue: 1, agent: "clod", instructions: "x" })
      )
      assert.include(badAgent.text, "There is no agent called clod")
      const badTimeout = yield* Effect.promise(() =>
        call(client, "start_task", { repository: app.repo, issue: 1, timeout: "forever", instructions: "x" })
      )
      assert.isTrue(badTimeout.isError)
      assert.include(badTimeout.text, "Nothing was posted")
      const badId = yield* Effect.promise(() => call(client, "get_task", { task_id: "nope" }))
      assert.strictEqual(badId.text, "There is no task nope that you can see.")
      const badState = yield* Effect.promise(() => call(client, "list_tasks", { state: "sleeping" }))
      assert.isTrue(badState.isError)
      assert.include(badState.text, "state")
      yield* Effect.promise(() => client.close())
    }))
})

const rest = <A = { readonly number: number }>(
  app: AppLayer.TestApp,
  token: string,
  method: string,
  path: string,
  body?: unknown
) => GitHubEmulator.rest<A>(token, method, `${app.emulator.url}${path}`, body)
