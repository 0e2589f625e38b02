/**
 * `porter demo`: one real run of Porter, offline, with nothing to configure. It starts the local stack
 * (`LocalStack`: GitHub emulator, the Worker in workerd with a local D1, the local machines server in process
 * mode), puts the sample repository and its issue in the emulator, and has a collaborator comment
 * `@porter <agent> …` through the emulator's REST API — the emulator signs the webhook and delivers it to the
 * Worker, as GitHub would. The Worker records the task, answers on the issue and starts a machine; the machine
 * runs the real runner, which clones, runs the agent, pushes a branch, opens the pull request and calls back.
 *
 * The agent is the real Claude Code CLI (`node_modules/.bin/claude`) against the scripted Anthropic API of
 * `@porter/testkit/model` when it is installed (its key and base URL are set as global secrets through the
 * admin API, the way a user would set theirs), else the deterministic `script` agent.
 *
 * Progress goes to stderr, one line per step; stdout gets the issue thread as a user would see it and the pull
 * request's diff. Succeeds only if the pull request exists.
 */
import * as ModelServer from "@porter/testkit/model"
import * as LocalStack from "@porter/worker/stack"
import { Console, Duration, Effect, Option, Redacted, Schema } from "effect"
import type { HttpClient } from "effect/http"
import * as AdminClient from "./AdminClient.ts"
import { type CliFailure, fail } from "./CliFailure.ts"
import * as GitHubRest from "./GitHubRest.ts"
import * as Progress from "./Progress.ts"
import * as Sample from "./Sample.ts"
import * as Thread from "./Thread.ts"

/** The agent `porter demo` runs: Claude Code when installed (`auto`), Claude Code, or the script agent. */
export type AgentChoice = "auto" | "claude" | "script"

/** `porter demo`'s options: the agent, the time allowed, verbosity. */
export interface Options {
  /** `auto` (default): Claude Code when it is installed, else `script`. */
  readonly agent?: AgentChoice | undefined
  /** How long the task may take (default 240 s). */
  readonly timeout?: Duration.Input | undefined
  /** Print the machine's output as it comes (stderr). */
  readonly verbose?: boolean | undefined
}

/** What `porter demo` did; `pull` is absent when no pull request was opened. */
export interface Result {
  readonly agent: "claude" | "script"
  readonly repo: string
  readonly issue: number
  readonly task: AdminClient.TaskView
  readonly pull: Thread.PullView | undefined
}

/** Not a key: the scripted server accepts anything, and the runner scrubs it from logs like a real one. */
export const FAKE_ANTHROPIC_KEY = "sk-ant-porter-demo-offline-0000000000000000"

/** What the scripted "model" does: run the failing test, fix `greet.js` through the shell, run it again. */
export const claudeScript: ReadonlyArray<ModelServer.Action> = [
  ModelServer.bash("node greet.test.js"),
  ModelServer.bash(`cat > greet.js <<'EOF'\n${Sample.fixedGreet}EOF\nnode greet.test.js`),
  ModelServer.text(
    "`greet()` now ends with an exclamation mark, as the README promises; `node greet.test.js` passes."
  )
]

/** What the demo asks Porter to do on the sample repository. */
export const instruction = "make greet() end with an exclamation mark, as the README promises, and run the test"

/** The comment that asks Porter, for each agent. */
export const commentFor = (agent: "claude" | "script"): string =>
  agent === "claude"
    ? `@porter claude ${instruction}`
    : [
      `@porter script ${instruction}`,
      "",
      "```porter-script",
      `write greet.js ${Sample.fixedGreet.trimEnd()}`,
      "run node greet.test.js",
      "print `greet()` now ends with an exclamation mark, as the README promises; `node greet.test.js` passes.",
      "```"
    ].join("\n")

const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"]

const Delivered = Schema.Struct({ id: Schema.Number })

const machineNote = (machines: LocalStack.LocalStack["machines"], id: string) => {
  const machine = machines.machine(id)
  return machine?.pid !== undefined ? `machine ${id} started (local process ${machine.pid})` : `machine ${id} started`
}

/**
 * Follows the issue's task through the admin API until it ends, printing each transition of its audit trail
 * (and, with `verbose`, the machine's output).
 */
const follow = (
  admin: AdminClient.AdminClient["Service"],
  stack: LocalStack.LocalStack,
  repo: string,
  issue: number,
  progress: Progress.Progress,
  verbose: boolean
) =>
  Effect.gen(function*() {
    let taskId: string | undefined
    let printedEvents = 0
    let machineShown = false
    let outputSeen = 0
    for (;;) {
      if (taskId === undefined) {
        const tasks = yield* admin.listTasks({ repo, limit: 20 })
        taskId = tasks.find((task) => task.issueNumber === issue)?.id
      }
      if (taskId !== undefined) {
        const detail = yield* admin.showTask(taskId)
        const events = detail.events
        for (const event of events.slice(printedEvents)) {
          if (event.kind === "transition" && event.to !== undefined) {
            yield* progress.line(`task ${taskId} ${event.to}`, "✓")
          }
        }
        printedEvents = events.length
        const machineId = detail.task.machineId
        if (machineId !== undefined && !machineShown) {
          machineShown = true
          yield* progress.line(machineNote(stack.machines, machineId), "✓")
        }
        if (verbose && machineId !== undefined) {
          const output = stack.machines.logs(machineId)
          const complete = output.lastIndexOf("\n") + 1
          if (complete > outputSeen) {
            for (const line of output.slice(outputSeen, complete).split("\n").slice(0, -1)) {
              process.stderr.write(`      │ ${line}\n`)
            }
            outputSeen = complete
          }
        }
        if (TERMINAL.includes(detail.task.state)) return detail.task
      }
      yield* Effect.sleep("250 millis")
    }
  })

/** The last lines of a machine's output, indented, for a failure. */
const outputTail = (stack: LocalStack.LocalStack, machineId: string | undefined, lines = 40) => {
  if (machineId === undefined) return ""
  const output = stack.machines.logs(machineId).trimEnd().split("\n").slice(-lines)
  return output.map((line) => `      │ ${line}`).join("\n")
}

/** `porter demo`: the local stack, one request on the sample repository, and its pull request. */
export const run = (options: Options = {}): Effect.Effect<Result, CliFailure, HttpClient.HttpClient> =>
  Effect.scoped(Effect.gen(function*() {
    const started = Date.now()
    const progress = Progress.make()
    const choice = options.agent ?? "auto"
    const claude = choice === "script" ? undefined : LocalStack.findClaude()
    if (choice === "claude" && claude === undefined) {
      return yield* fail(
        "the Claude Code CLI is not installed here (node_modules/.bin/claude): run `npm ci`, or pass --agent script"
      )
    }
    const agent = claude !== undefined ? "claude" : "script"
    yield* Console.error(
      `porter demo: Porter end to end on this machine, offline — the GitHub emulator, the Worker in workerd, ` +
        `a local machine running the runner and ${
          claude !== undefined
            ? `Claude Code ${claude.version.replace(/\s*\(Claude Code\)/, "")} against a scripted model`
            : "the script agent"
        }`
    )

    const stack = yield* LocalStack.start({ step: progress.step }).pipe(
      Effect.mapError((error) => fail(error.message))
    )
    const github = stack.github!
    const admin = yield* AdminClient.make({ url: stack.worker.url, token: Redacted.make(stack.adminToken) }).pipe(
      Effect.mapError((error) => fail(error.message))
    )
    const adminFailure = (error: AdminClient.AdminError) => fail(`the local Worker's admin API: ${error.message}`)

    if (agent === "claude") {
      const model = yield* progress.step(
        (m: ModelServer.Server) => `scripted Anthropic API on ${m.url}`,
        ModelServer.start({ script: claudeScript })
      )
      yield* progress.step(
        "ANTHROPIC_API_KEY (a fake one) and ANTHROPIC_BASE_URL set as global secrets (admin API)",
        Effect.all([
          admin.setSecret("global", "ANTHROPIC_API_KEY", Redacted.make(FAKE_ANTHROPIC_KEY)),
          admin.setSecret("global", "ANTHROPIC_BASE_URL", Redacted.make(model.url))
        ]).pipe(Effect.mapError(adminFailure))
      )
    }

    const repo = yield* progress.step(
      (name: string) => `sample repository ${name} (its test fails)`,
      Sample.createRepository(github)
    )
    const issue = yield* progress.step(
      (i: typeof Sample.Issue.Type) => `issue #${i.number}: ${Sample.issue.title}`,
      Sample.openIssue(github, repo)
    )
    const alice = yield* progress.step(
      (user: { readonly login: string }) => `@${user.login}, a collaborator with write access`,
      Sample.addCollaborator(github, repo, "alice")
    )
    const asAlice = yield* GitHubRest.make(github.url, alice.token)
    const body = commentFor(agent)
    const comment = yield* asAlice.json("POST", `/repos/${repo}/issues/${issue.number}/comments`, Delivered, { body })
    const deliveries = yield* Effect.promise(() => github.deliveries())
    const delivery = deliveries.find((d) => {
      const payload = d.payload as { readonly comment?: { readonly id?: number } }
      return d.event === "issue_comment" && payload.comment?.id === comment.id
    })
    if (delivery?.status !== 202) {
      return yield* fail(
        `the Worker did not accept the webhook (${delivery?.status ?? delivery?.error ?? "not delivered"}): ` +
          "run `porter dev` to see its log"
      )
    }
    yield* progress.line(
      `@${alice.login} commented "${body.split("\n")[0]}"; the emulator signed the webhook, the Worker answered 202`,
      "✓"
    )

    const timeout = options.timeout ?? "240 seconds"
    const found = yield* follow(admin, stack, repo, issue.number, progress, options.verbose === true).pipe(
      Effect.mapError(adminFailure),
      Effect.timeoutOption(timeout)
    )
    if (Option.isNone(found)) {
      return yield* fail(
        `the task did not end within ${Duration.format(Duration.fromInputUnsafe(timeout))}: ` +
          "run `porter demo --verbose` to see the machine's output"
      )
    }
    const task = found.value

    const asAdmin = yield* GitHubRest.make(github.url, github.admin.token)
    const thread = yield* Thread.read(asAdmin, repo, issue.number)
    const pull = task.prUrl === undefined
      ? undefined
      : (yield* Thread.pulls(asAdmin, repo)).find((p) => p.html_url === task.prUrl)
    yield* Console.log(`\n${Thread.render(thread)}`)
    if (pull !== undefined) {
      yield* Console.log(Thread.renderPull(pull, yield* Thread.diff(asAdmin, repo, pull.number)))
      yield* Console.error(
        `porter demo: done in ${Progress.seconds(Date.now() - started)} — pull request #${pull.number} is open: ` +
          pull.html_url
      )
      // The web app's page of the task (sign-in as an emulator user; served while the stack runs: \`porter dev\`).
      yield* Console.error(`porter demo: the task's page: ${stack.worker.url}/app/tasks/${task.id}`)
      return { agent, repo, issue: issue.number, task, pull } satisfies Result
    }
    const tail = outputTail(stack, task.machineId)
    if (tail.length > 0) yield* Console.error(`  the machine's last output:\n${tail}`)
    return yield* fail(
      `no pull request: the task ended ${task.state}${task.reason !== undefined ? ` (${task.reason})` : ""}` +
        (task.prUrl !== undefined ? `, and its pull request ${task.prUrl} is missing` : "")
    )
  }))
