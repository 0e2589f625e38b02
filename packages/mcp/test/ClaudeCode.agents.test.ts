// End to end, Claude Code as an MCP client: the real CLI (`node_modules/.bin/claude`, the pinned version) is given
// Porter's MCP server with `--mcp-config` (the Worker in workerd, a personal token made on the web app's tokens page)
// and the scripted model server (@porter/testkit/model) as its model, whose script makes it call Porter's tools:
// start_task (the command is posted on the issue as the token's user), get_task waiting for the run to end, then
// get_transcript. The task itself runs the deterministic `script` agent on a local machine and opens a pull request;
// Claude Code reads that result through the tools and answers with it.
import { assert, layer } from "@effect/vitest"
import { GitHubEmulator } from "@porter/testkit"
import { Browser } from "@porter/testkit/browser"
import * as ModelServer from "@porter/testkit/model"
import * as LocalStack from "@porter/worker/stack"
import { Context, Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

class Stack extends Context.Service<Stack, {
  readonly stack: LocalStack.LocalStack
  readonly github: GitHubEmulator.Emulator
  readonly repo: string
  readonly token: string
  readonly claude: LocalStack.Claude
}>()("@porter/mcp/test/ClaudeStack") {}

const StackLive = Layer.effect(
  Stack,
  Effect.gen(function*() {
    const claude = LocalStack.findClaude()
    if (claude === undefined) {
      return yield* Effect.die(
        new Error(
          "node_modules/.bin/claude does not run: @anthropic-ai/claude-code is a pinned root devDependency (npm ci)"
        )
      )
    }
    const stack = yield* LocalStack.start({}).pipe(Effect.orDie)
    const github = stack.github!
    const owner = github.admin
    yield* Effect.promise(() =>
      GitHubEmulator.rest(owner.token, "POST", `${github.url}/user/repos`, { name: "widgets", auto_init: true })
    )
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    yield* Effect.promise(() =>
      GitHubEmulator.rest(owner.token, "PUT", `${github.url}/repos/${repo}/collaborators/${writer.login}`, {
        permission: "push"
      })
    )
    const { token } = yield* Effect.promise(() => new Browser(stack.worker.url).makeToken(writer.login, "Claude Code"))
    return Stack.of({ stack, github, repo, token, claude })
  })
)

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `claude -p` with `prompt` on standard input; resolves when it exits (killed after `timeoutMs`). */
const runClaude = (path: string, args: ReadonlyArray<string>, env: Record<string, string>, prompt: string) =>
  Effect.callback<Run>((resume) => {
    const child = spawn(path, [...args], { env, stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 150_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    child.stdin.end(prompt)
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** The last message of a model request (where the previous tool call's result is). */
const lastMessage = (body: unknown): string =>
  JSON.stringify((body as { readonly messages?: ReadonlyArray<unknown> }).messages?.at(-1) ?? null)

layer(StackLive, { timeout: "240 seconds", excludeTestServices: true })("Claude Code as an MCP client", (it) => {
  it.effect("Claude Code starts a task through Porter's MCP server and reads its result", () =>
    Effect.gen(function*() {
      const { claude, github, repo, stack, token } = yield* Stack
      const issue = yield* Effect.promise(() =>
        GitHubEmulator.rest<{ readonly number: number }>(
          github.admin.token,
          "POST",
          `${github.url}/repos/${repo}/issues`,
          {
            title: "Changelog for ISO weeks",
            body: ""
          }
        )
      )
      const model = yield* ModelServer.start({
        script: [
          // Claude Code defers MCP tools (their names are listed, their schemas fetched with ToolSearch), as a model
          // would do first.
          ModelServer.tool("ToolSearch", {
            query: "select:mcp__porter__start_task,mcp__porter__get_task,mcp__porter__get_transcript",
            max_results: 5
          }),
          ModelServer.tool("mcp__porter__start_task", {
            repository: repo,
            issue: issue.number,
            agent: "script",
            instructions: "add a changelog line\n\n```porter-script\nappend CHANGELOG.md - ISO weeks\n```"
          }),
          ModelServer.tool("mcp__porter__get_task", { repository: repo, issue: issue.number, wait_seconds: 45 }),
          ModelServer.tool("mcp__porter__get_transcript", { repository: repo, issue: issue.number }),
          ModelServer.text("Porter ran the task and opened a pull request.")
        ]
      })
      const home = mkdtempSync(join(tmpdir(), "porter-claude-mcp-home-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(home, { recursive: true, force: true })))
      const mcpConfig = JSON.stringify({
        mcpServers: {
          porter: { type: "http", url: `${stack.worker.url}/mcp`, headers: { Authorization: `Bearer ${token}` } }
        }
      })
      const run = yield* runClaude(
        claude.path,
        [
          "-p",
          "--output-format",
          "json",
          "--mcp-config",
          mcpConfig,
          "--strict-mcp-config",
          "--dangerously-skip-permissions"
        ],
        {
          PATH: process.env["PATH"] ?? "/usr/bin:/bin",
          HOME: home,
          ANTHROPIC_BASE_URL: model.url,
          ANTHROPIC_API_KEY: "sk-ant-api03-scripted-fake-key-0000000000",
          IS_SANDBOX: "1",
          DISABLE_AUTOUPDATER: "1",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          MCP_TOOL_TIMEOUT: "120000"
        },
        `Ask Porter to add a changelog line on ${repo}#${issue.number} with the script agent, wait for it, and tell me what happened.`
      )
      assert.strictEqual(run.code, 0, `claude exited ${run.code}\n${run.stdout}\n${run.stderr}`)
      const output = JSON.parse(run.stdout) as { readonly result?: string; readonly is_error?: boolean }
      assert.isFalse(output.is_error ?? false, run.stdout)
      assert.strictEqual(output.result, "Porter ran the task and opened a pull request.")

      // Claude Code declared Porter's tools to the model and called them; each tool's answer went back to the model.
      const turns = model.requests().filter((r) => r.turn !== undefined)
      assert.deepStrictEqual(turns.map((r) => r.turn), [0, 1, 2, 3, 4])
      const first = JSON.stringify(turns[0]!.body)
      for (
        const name of [
          "start_task",
          "get_task",
          "get_transcript",
          "list_tasks",
          "cancel_task",
          "retry_task",
          "continue_task"
        ]
      ) {
        assert.include(first, `mcp__porter__${name}`)
      }
      // ToolSearch loaded the tools: from then on they are declared with the schemas Porter's MCP server published.
      assert.include(lastMessage(turns[1]!.body), "mcp__porter__start_task")
      const loaded =
        (turns[1]!.body as { readonly tools: ReadonlyArray<{ name: string; input_schema?: unknown }> }).tools
      const schemaOf = (name: string) => JSON.stringify(loaded.find((tool) => tool.name === name)?.input_schema ?? null)
      assert.include(schemaOf("mcp__porter__start_task"), "\"required\":[\"repository\",\"issue\",\"instructions\"]")
      assert.include(schemaOf("mcp__porter__get_task"), "wait_seconds")
      assert.include(lastMessage(turns[2]!.body), "Porter took the request")
      const afterWait = lastMessage(turns[3]!.body)
      assert.include(afterWait, "succeeded")
      assert.match(afterWait, /\/pull\/\d+/)
      assert.include(lastMessage(turns[4]!.body), "transcript as Porter keeps it")

      // On GitHub: the command is the writer's comment, and Porter opened the pull request.
      const comments = yield* Effect.promise(() =>
        GitHubEmulator.rest<ReadonlyArray<{ user: { login: string }; body: string }>>(
          github.admin.token,
          "GET",
          `${github.url}/repos/${repo}/issues/${issue.number}/comments`
        )
      )
      assert.strictEqual(comments[0]!.user.login, "wendy")
      assert.match(comments[0]!.body, /^@porter script add a changelog line/)
      const pulls = yield* Effect.promise(() =>
        GitHubEmulator.rest<ReadonlyArray<{ body: string }>>(
          github.admin.token,
          "GET",
          `${github.url}/repos/${repo}/pulls`
        )
      )
      assert.isTrue(pulls.some((pull) => pull.body.includes(`Closes #${issue.number}`)))
    }).pipe(Effect.scoped))
})
