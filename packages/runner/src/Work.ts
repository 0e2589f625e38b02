/**
 * The work of one task, from the clone to Porter's answer to the change set:
 *
 *   clone (Porter's read-only git proxy) → branch → agent → lock down .git → verify → commit leftovers →
 *   change set of `base..HEAD` → no secret of the machine in it → POST it to Porter (which commits and opens the PR)
 *
 * Every way it can end is a `Report` (outcome + exit code); `Runner.run` turns it into the `completed` callback.
 */
import { AgentCatalog, Task } from "@porter/core"
import { Context, Effect, Option, Schema } from "effect"
import { FileSystem } from "effect/FileSystem"
import * as AgentRunner from "./AgentRunner.ts"
import type { EarlyClone } from "./Boot.ts"
import * as Callbacks from "./Callbacks.ts"
import * as ChangeSetBuilder from "./ChangeSetBuilder.ts"
import { ExitCode } from "./ExitCode.ts"
import * as Git from "./Git.ts"
import { type MachineEnv, MachineEnvService } from "./MachineEnv.ts"
import * as RunLog from "./RunLog.ts"
import { secretsIn } from "./SecretCheck.ts"

/** How a run ended: the `completed` callback's fields and the process exit code. */
export interface Report {
  readonly outcome: Task.Outcome
  readonly exitCode: ExitCode
  readonly summary?: string
  readonly usage?: Task.Usage
  readonly error?: string
  /** Porter has already ended the task (it refused the change set, or said the task is over): no `completed`. */
  readonly ended?: string
}

/** The agent left the checkout in a state the runner will not propose. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

/** A report, typed as one (not as the literal object). */
const done = (report: Report): Report => report

export const clip = (text: string | undefined, max: number): string | undefined =>
  text === undefined ? undefined : text.length > max ? `${text.slice(0, max - 12)}\n[… clipped]` : text

/**
 * The message of the commit of what the agent left uncommitted. No `Porter-Task:` trailer: Porter adds it (and its
 * co-author) to every commit it writes.
 */
export const commitMessage = (env: MachineEnv, spec: { readonly displayName: string }): string =>
  [
    `${env.issueTitle} (#${env.issueNumber})`,
    "",
    `Changes left by ${spec.displayName}${env.model !== undefined ? ` (${env.model})` : ""} for #${env.issueNumber}` +
    `${env.requestedBy !== undefined ? `, requested by @${env.requestedBy}` : ""}.`
  ].join("\n")

/** The clone `Boot` started before the program was loaded, if any. */
export const EarlyCloneRef = Context.Reference<EarlyClone | undefined>("@porter/runner/EarlyClone", {
  defaultValue: () => undefined
})

/** Clones (or takes over `Boot`'s clone); the clone's directory. */
const clone = Effect.gen(function*() {
  const env = yield* MachineEnvService
  const log = yield* RunLog.RunLog
  const git = yield* Git.Git
  const fs = yield* FileSystem
  // The PR's head branch for a follow-up, else the base branch (or the default one).
  const wanted = { url: env.cloneUrl, branch: env.headBranch ?? env.baseBranch, filter: env.cloneFilter }
  const early = yield* EarlyCloneRef
  const usable = early !== undefined && early.url === wanted.url && early.branch === wanted.branch &&
    early.filter === wanted.filter && (env.workdir === undefined) === early.temporary
  if (early !== undefined && early.temporary) {
    yield* Effect.addFinalizer(() => fs.remove(early.workdir, { recursive: true, force: true }).pipe(Effect.ignore))
  }
  if (usable) {
    // Boot started this clone while the program was loading: take it over. `done` never rejects (Boot settles it
    // with `resolve` on the clone's `error` and `close` alike; a failed clone is its exit code).
    const result = yield* Effect.promise(() => early.done)
    yield* log.text("git", result.output)
    if (result.exitCode !== 0) {
      return yield* new Git.GitFailed({
        operation: "clone",
        exitCode: result.exitCode,
        detail: result.output.trim().split("\n").slice(-6).join(" | ") || "no output"
      })
    }
    return early.dir
  }
  // Not usable: let it finish (never rejects, see above) before cloning again.
  if (early !== undefined) yield* Effect.promise(() => early.done)
  const workdir = env.workdir ?? (yield* fs.makeTempDirectoryScoped({ prefix: "porter-" }).pipe(Effect.orDie))
  const dir = `${workdir.replace(/\/+$/, "")}/${env.repo}`
  yield* git.clone({ ...wanted, dir })
  return dir
})

/** The work itself, from clone to published change set; every way it can end is a `Report`. */
export const work = Effect.gen(function*() {
  const env = yield* MachineEnvService
  const log = yield* RunLog.RunLog
  const git = yield* Git.Git
  const agents = yield* AgentRunner.AgentRunner
  const catalog = yield* AgentCatalog.AgentCatalog
  const callbacks = yield* Callbacks.Callbacks

  const spec = catalog.resolve(env.agent)
  if (Option.isNone(spec)) {
    return done({
      outcome: "error",
      exitCode: ExitCode.AgentUnavailable,
      error: `no agent called \`${env.agent}\` is known to this runner`
    })
  }
  const agent = spec.value

  yield* log.step("clone")
  const dir = yield* clone
  // `base`: what the change set is relative to, and what Porter builds the commits on.
  const start = yield* git.head(dir)
  yield* git.saveConfig(dir)
  yield* log.line("runner", `cloned ${env.repoFullName} at ${start.sha.slice(0, 12)} (${start.branch ?? "detached"})`)

  yield* log.step("branch")
  if (env.headBranch === undefined && env.mode !== "ask") {
    if (start.branch === env.branch) {
      return yield* new Refused({ reason: `the task branch ${env.branch} is the repository's default branch` })
    }
    yield* git.createBranch(dir, env.branch)
  }
  yield* log.line("runner", `working on ${env.branch}`)

  if (env.setup.length > 0) {
    yield* log.step("setup")
    const setup = yield* Effect.result(agents.setup(env.setup, dir))
    if (setup._tag === "Failure") {
      return done({ outcome: "error", exitCode: ExitCode.SetupFailed, error: setup.failure.message })
    }
  }

  yield* log.step("agent")
  const result = yield* agents.run({ spec: agent, prompt: env.prompt, model: env.model, cwd: dir })
  const summary = clip(result.summary, 20_000)
  const usage = result.usage !== undefined ? { usage: result.usage } : {}
  if (result.timedOut) {
    return done({
      outcome: "agent_failed",
      exitCode: ExitCode.DeadlineExceeded,
      ...usage,
      error: result.error ?? "the agent ran past the task deadline"
    })
  }
  if (result.exitCode !== 0 || result.error !== undefined) {
    return done({
      outcome: "agent_failed",
      exitCode: ExitCode.AgentFailed,
      ...(summary !== undefined ? { summary } : {}),
      ...usage,
      error: `${agent.displayName} exited with code ${result.exitCode}${result.error ? `: ${result.error}` : ""}`
    })
  }
  const finished = { ...(summary !== undefined ? { summary } : {}), ...usage }
  if (env.mode === "ask") {
    // A question: the agent's final message is the answer; whatever it changed stays on the machine.
    yield* log.line("runner", "a question: nothing is proposed, the answer goes back with the report")
    return done({ outcome: "no_changes", exitCode: ExitCode.Ok, ...finished })
  }

  // What the agent did to .git is not trusted: restore our config, drop hooks and commondir, then verify.
  yield* log.step("commit")
  yield* git.lockDown(dir)
  const after = yield* git.head(dir)
  if (after.branch !== env.branch) {
    return yield* new Refused({
      reason: `the agent left the checkout on ${after.branch ?? "a detached HEAD"} instead of ${env.branch}`
    })
  }
  if (!(yield* git.isAncestor(dir, start.sha, after.sha))) {
    return yield* new Refused({ reason: `the agent rewrote the history of ${env.branch}` })
  }
  const committed = yield* git.commitAll(dir, commitMessage(env, agent))
  if (Option.isSome(committed)) {
    yield* log.line("runner", `committed the agent's uncommitted changes as ${committed.value.slice(0, 12)}`)
  }
  const tip = Option.getOrElse(committed, () => after.sha)

  yield* log.step("changes")
  const built = yield* ChangeSetBuilder.build(dir, start.sha, tip)
  if (Option.isNone(built)) {
    yield* log.line("runner", "the agent changed nothing: nothing to propose, no pull request")
    return done({ outcome: "no_changes", exitCode: ExitCode.Ok, ...finished })
  }
  const { agentCommits, changeSet, squashed } = built.value
  const files = changeSet.commits.reduce((n, commit) => n + commit.changes.length, 0)
  if (squashed !== undefined) yield* log.line("runner", `${agentCommits} commits squashed into one: ${squashed}`)
  const leaked = secretsIn(env.raw, changeSet)
  if (leaked.length > 0) {
    return yield* new Refused({
      reason: `the agent's changes contain the value of ${
        leaked.map((f) => `${f.name} (in ${f.where})`).join(", ")
      }: nothing was sent. Check the instructions and the issue for a request to reveal secrets`
    })
  }

  yield* log.step("publish")
  yield* log.line(
    "runner",
    `proposing ${changeSet.commits.length} commit${changeSet.commits.length === 1 ? "" : "s"} ` +
      `(${files} file change${files === 1 ? "" : "s"}) on ${start.sha.slice(0, 12)} to Porter`
  )
  const published = yield* callbacks.publish({ ...changeSet, ...(summary !== undefined ? { summary } : {}) })
  yield* log.line(
    "runner",
    `Porter committed ${published.commits.length} commit${published.commits.length === 1 ? "" : "s"} on ` +
      `${published.branch}: ${published.pullRequest.url}`
  )
  return done({ outcome: "pushed", exitCode: ExitCode.Ok, ...finished })
}).pipe(
  Effect.scoped,
  Effect.catchTags({
    Refused: (error) => Effect.succeed(done({ outcome: "error", exitCode: ExitCode.Refused, error: error.message })),
    ChangesNotSendable: (error) =>
      Effect.succeed(done({ outcome: "error", exitCode: ExitCode.Refused, error: error.message })),
    GitFailed: (error) =>
      Effect.succeed(done({ outcome: "error", exitCode: ExitCode.GitFailed, error: error.message })),
    AgentNotStarted: (error) =>
      Effect.succeed(done({ outcome: "error", exitCode: ExitCode.AgentUnavailable, error: error.message })),
    ChangesRefused: (error) =>
      Effect.gen(function*() {
        const log = yield* RunLog.RunLog
        for (const problem of error.problems) yield* log.line("runner", `refused: ${problem}`)
        return done({ outcome: "error", exitCode: ExitCode.ChangesRefused, error: error.message, ended: error.message })
      }),
    TaskEnded: (error) =>
      Effect.succeed(done({
        outcome: "error",
        exitCode: ExitCode.TaskEnded,
        ended: `Porter says ${error.message} (cancelled or timed out)`
      })),
    CallbackRefused: (error) =>
      Effect.succeed(done({
        outcome: "error",
        exitCode: ExitCode.PublishFailed,
        error: `the change set was not accepted: ${error.message}`
      })),
    CallbackUnreachable: (error) =>
      Effect.succeed(done({ outcome: "error", exitCode: ExitCode.PublishFailed, error: error.message }))
  }),
  Effect.withSpan("Runner.work")
)
