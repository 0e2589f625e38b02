/**
 * The runner program: what one Porter machine does for one task, as typed steps.
 *
 *   decode env → `started` → (heartbeats) → clone → branch → agent → lock down .git → verify →
 *   commit leftovers → no secret in the changes → push the task branch → open or link the pull request → `completed`
 *
 * Every way a run can end is a `Report` (outcome + exit code); only a 409 from Porter (the task
 * already ended) skips the `completed` callback. `layer` assembles the services for Node.
 */
import { NodeServices } from "@effect/platform-node"
import { AgentCatalog, type Callback, Task } from "@porter/core"
import { Clock, Context, Deferred, Duration, Effect, Fiber, Layer, Option, Schedule, Schema } from "effect"
import { FileSystem } from "effect/FileSystem"
import { FetchHttpClient } from "effect/http"
import * as AgentRunner from "./AgentRunner.ts"
import type { EarlyClone } from "./Boot.ts"
import * as Callbacks from "./Callbacks.ts"
import { ExitCode } from "./ExitCode.ts"
import * as Git from "./Git.ts"
import * as GitHubApi from "./GitHubApi.ts"
import { isSecretName, type MachineEnv, MachineEnvService, secretValues } from "./MachineEnv.ts"
import * as RunLog from "./RunLog.ts"
import * as Scrubber from "./Scrubber.ts"

/** How a run ended: the `completed` callback's fields and the process exit code. */
export interface Report {
  readonly outcome: Task.Outcome
  readonly exitCode: ExitCode
  readonly branch?: string
  readonly commitSha?: string
  readonly prUrl?: string
  readonly summary?: string
  readonly usage?: Task.Usage
  readonly error?: string
}

/** The agent left the checkout in a state Porter will not push. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

/** A report, typed as one (not as the literal object). */
const done = (report: Report): Report => report

const clip = (text: string | undefined, max: number): string | undefined =>
  text === undefined ? undefined : text.length > max ? `${text.slice(0, max - 12)}\n[… clipped]` : text

/** The pull request body: the agent's summary, then who asked, which agent, and the issue. */
export const pullRequestBody = (
  env: MachineEnv,
  spec: { readonly displayName: string; readonly name: string },
  summary: string | undefined
): string => {
  const model = env.model !== undefined ? `, model \`${env.model}\`` : ""
  const who = env.requestedBy !== undefined ? ` for @${env.requestedBy}` : ""
  return [
    clip(summary?.trim(), 50_000) || "_The agent did not write a summary._",
    "",
    "---",
    `Closes #${env.issueNumber}. Opened by Porter${who} with ${spec.displayName} (\`${spec.name}\`${model}); task \`${env.taskId}\`.`
  ].join("\n")
}

export const commitMessage = (env: MachineEnv, spec: { readonly displayName: string }): string =>
  [
    `${env.issueTitle} (#${env.issueNumber})`,
    "",
    `Changes left by ${spec.displayName}${env.model !== undefined ? ` (${env.model})` : ""} for #${env.issueNumber}` +
    `${env.requestedBy !== undefined ? `, requested by @${env.requestedBy}` : ""}.`,
    "",
    `Porter-Task: ${env.taskId}`
  ].join("\n")

/** Secret values shorter than this are not looked for in the pushed changes (real keys and tokens are longer). */
const MIN_PUSH_SCAN_LENGTH = 12

/**
 * The secret variables of the machine environment whose value (or an encoding the Scrubber knows) appears in
 * what `from..to` adds to history. Their names only: the agent holds its own API keys, and a prompt-injected
 * "write your environment to a file" must not end up on a pushed branch.
 */
export const secretsInChanges = (env: MachineEnv, dir: string, from: string, to: string) =>
  Effect.gen(function*() {
    const git = yield* Git.Git
    const needles: Array<readonly [string, string]> = []
    for (const [name, value] of Object.entries(env.raw)) {
      if (!isSecretName(name) || value.trim().length < MIN_PUSH_SCAN_LENGTH) continue
      for (const variant of Scrubber.variantsOf(value)) {
        if (variant.length >= MIN_PUSH_SCAN_LENGTH) needles.push([name, variant])
      }
    }
    const found = new Set<string>()
    if (needles.length === 0) return [] as ReadonlyArray<string>
    // Line by line: a big change is never held in memory, and no key or token spans a line break.
    yield* git.scanChanges(dir, from, to, (line) => {
      for (const [name, needle] of needles) if (!found.has(name) && line.includes(needle)) found.add(name)
    })
    return [...found].sort() as ReadonlyArray<string>
  })

/** The clone `Boot` started before the program was loaded, if any. */
export const EarlyCloneRef = Context.Reference<EarlyClone | undefined>("@porter/runner/EarlyClone", {
  defaultValue: () => undefined
})

/** The work itself, from clone to pull request; every way it can end is a `Report`. */
export const work = Effect.gen(function*() {
  const env = yield* MachineEnvService
  const log = yield* RunLog.RunLog
  const git = yield* Git.Git
  const github = yield* GitHubApi.GitHubApi
  const agents = yield* AgentRunner.AgentRunner
  const catalog = yield* AgentCatalog.AgentCatalog
  const fs = yield* FileSystem

  const spec = catalog.resolve(env.agent)
  if (Option.isNone(spec)) {
    return done({
      outcome: "error",
      exitCode: ExitCode.AgentUnavailable,
      error: `no agent called \`${env.agent}\` is known to this runner`
    })
  }
  const agent = spec.value

  // Clone: the PR's head branch for a follow-up, else the base branch (or the default one).
  yield* log.step("clone")
  const wanted = { url: env.cloneUrl, branch: env.headBranch ?? env.baseBranch, filter: env.cloneFilter }
  const early = yield* EarlyCloneRef
  const usable = early !== undefined && early.url === wanted.url && early.branch === wanted.branch &&
    early.filter === wanted.filter && (env.workdir === undefined) === early.temporary
  if (early !== undefined && early.temporary) {
    yield* Effect.addFinalizer(() => fs.remove(early.workdir, { recursive: true, force: true }).pipe(Effect.ignore))
  }
  let dir: string
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
    dir = early.dir
  } else {
    // Not usable: let it finish (never rejects, see above) before cloning again.
    if (early !== undefined) yield* Effect.promise(() => early.done)
    const workdir = env.workdir ?? (yield* fs.makeTempDirectoryScoped({ prefix: "porter-" }).pipe(Effect.orDie))
    dir = `${workdir.replace(/\/+$/, "")}/${env.repo}`
    yield* git.clone({ ...wanted, dir })
  }
  const start = yield* git.head(dir)
  yield* git.saveConfig(dir)
  const baseBranch = env.baseBranch ?? (env.headBranch === undefined ? start.branch : undefined)
  yield* log.line("runner", `cloned ${env.repoFullName} at ${start.sha.slice(0, 12)} (${start.branch ?? "detached"})`)

  yield* log.step("branch")
  if (env.headBranch === undefined) {
    if (start.branch === env.branch) {
      return yield* new Refused({ reason: `the task branch ${env.branch} is the repository's default branch` })
    }
    yield* git.createBranch(dir, env.branch)
  } else {
    // A follow-up pushes to the pull request's head branch. When that is the default branch (a fork's `main`
    // whose pull request targets another branch: the name exists here too), the push would land on the
    // repository's own default branch, unreviewed. Checked before the agent runs.
    const defaultBranch = yield* github.defaultBranch.pipe(
      Effect.mapError((error) =>
        new Refused({
          reason: `could not check the repository's default branch before working on ${env.branch}: ${error.message}`
        })
      )
    )
    if (defaultBranch === env.branch) {
      return yield* new Refused({
        reason: `the pull request's head branch ${env.branch} is the repository's default branch: Porter does not ` +
          "push to it (is the pull request from a fork?)"
      })
    }
  }
  yield* log.line("runner", `working on ${env.branch}`)

  yield* log.step("agent")
  const result = yield* agents.run({ spec: agent, prompt: env.prompt, model: env.model, cwd: dir })
  const summary = clip(result.summary, 20_000)
  if (result.timedOut) {
    return done({
      outcome: "agent_failed",
      exitCode: ExitCode.DeadlineExceeded,
      branch: env.branch,
      ...(result.usage !== undefined ? { usage: result.usage } : {}),
      error: result.error ?? "the agent ran past the task deadline"
    })
  }
  if (result.exitCode !== 0 || result.error !== undefined) {
    return done({
      outcome: "agent_failed",
      exitCode: ExitCode.AgentFailed,
      branch: env.branch,
      ...(summary !== undefined ? { summary } : {}),
      ...(result.usage !== undefined ? { usage: result.usage } : {}),
      error: `${agent.displayName} exited with code ${result.exitCode}${result.error ? `: ${result.error}` : ""}`
    })
  }
  const usage = result.usage

  // What the agent did to .git is not trusted: restore our config, drop hooks, then verify.
  yield* log.step("commit")
  yield* git.lockDown(dir)
  const after = yield* git.head(dir)
  if (after.branch !== env.branch) {
    return yield* new Refused({
      reason: `the agent left the checkout on ${after.branch ?? "a detached HEAD"} instead of ${env.branch}`
    })
  }
  if (baseBranch !== undefined && baseBranch !== env.branch) {
    const base = yield* git.resolve(dir, `refs/heads/${baseBranch}`)
    if (Option.isSome(base) && base.value !== start.sha) {
      return yield* new Refused({ reason: `the agent moved the base branch ${baseBranch}` })
    }
  }
  if (!(yield* git.isAncestor(dir, start.sha, after.sha))) {
    return yield* new Refused({ reason: `the agent rewrote the history of ${env.branch}` })
  }
  const committed = yield* git.commitAll(dir, commitMessage(env, agent))
  if (Option.isSome(committed)) {
    yield* log.line("runner", `committed the agent's uncommitted changes as ${committed.value.slice(0, 12)}`)
  }
  const tip = Option.getOrElse(committed, () => after.sha)
  const count = yield* git.countCommits(dir, start.sha, tip)
  if (count === 0) {
    yield* log.line("runner", "the agent changed nothing: no push, no pull request")
    return done({
      outcome: "no_changes",
      exitCode: ExitCode.Ok,
      ...(summary !== undefined ? { summary } : {}),
      ...(usage !== undefined ? { usage } : {})
    })
  }
  const leaked = yield* secretsInChanges(env, dir, start.sha, tip)
  if (leaked.length > 0) {
    return yield* new Refused({
      reason: `the agent's changes contain the value of ${leaked.join(", ")} (in a file or a commit): nothing was ` +
        "pushed. Check the instructions and the issue for a request to reveal secrets"
    })
  }

  yield* log.step("push")
  yield* git.push(dir, env.cloneUrl, env.branch).pipe(
    Effect.retry({
      while: (error) => error._tag === "GitFailed",
      schedule: Schedule.exponential("1 second"),
      times: 2
    })
  )
  yield* log.line("runner", `pushed ${count} commit${count === 1 ? "" : "s"} to ${env.branch} (${tip.slice(0, 12)})`)
  const pushed = {
    outcome: "pushed",
    exitCode: ExitCode.Ok,
    branch: env.branch,
    commitSha: tip,
    ...(summary !== undefined ? { summary } : {}),
    ...(usage !== undefined ? { usage } : {})
  } satisfies Report

  yield* log.step("pull request")
  const pull = yield* Effect.gen(function*() {
    const existing = yield* github.findOpenPull(env.branch)
    if (Option.isSome(existing)) {
      yield* log.line("runner", `pull request already open: ${existing.value.html_url}`)
      return existing.value
    }
    const base = baseBranch ?? (yield* github.defaultBranch)
    const created = yield* github.createPull({
      title: env.issueTitle,
      head: env.branch,
      base,
      body: pullRequestBody(env, agent, summary)
    }).pipe(
      // Someone (or a previous attempt) opened it meanwhile: link that one.
      Effect.catchIf(
        (error) => error.status === 422,
        (error) =>
          Effect.flatMap(
            github.findOpenPull(env.branch),
            Option.match({ onNone: () => Effect.fail(error), onSome: Effect.succeed })
          )
      )
    )
    yield* log.line("runner", `opened pull request ${created.html_url}`)
    return created
  }).pipe(Effect.result)
  if (pull._tag === "Failure") {
    yield* log.line("runner", pull.failure.message)
    return done({ ...pushed, exitCode: ExitCode.PullRequestFailed, error: pull.failure.message })
  }
  return done({ ...pushed, prUrl: pull.success.html_url })
}).pipe(
  Effect.scoped,
  Effect.catchTags({
    Refused: (error) => Effect.succeed<Report>({ outcome: "error", exitCode: ExitCode.Refused, error: error.message }),
    PushRejected: (error) =>
      Effect.succeed<Report>({ outcome: "error", exitCode: ExitCode.PushRejected, error: error.message }),
    GitFailed: (error) =>
      Effect.succeed<Report>({ outcome: "error", exitCode: ExitCode.GitFailed, error: error.message }),
    AgentNotStarted: (error) =>
      Effect.succeed<Report>({ outcome: "error", exitCode: ExitCode.AgentUnavailable, error: error.message })
  }),
  Effect.withSpan("Runner.work")
)

/** `started`, heartbeats while `work` runs, then `completed`; the exit code. */
export const run = Effect.gen(function*() {
  const env = yield* MachineEnvService
  const log = yield* RunLog.RunLog
  const callbacks = yield* Callbacks.Callbacks
  const { scrub } = yield* Scrubber.Scrubber

  const machineId = env.raw["FLY_MACHINE_ID"] ?? env.raw["PORTER_MACHINE_ID"]
  yield* log.line("runner", `Porter runner: task ${env.taskId}, ${env.agent} on ${env.repoFullName}#${env.issueNumber}`)
  // Porter is told in parallel with the clone: its answer only matters if it says stop.
  const stop = yield* Deferred.make<{ readonly exitCode: ExitCode; readonly why: string }>()
  const stopOn = (error: Callbacks.CallbackError) =>
    error._tag === "TaskEnded"
      ? Deferred.succeed(stop, {
        exitCode: ExitCode.TaskEnded,
        why: "Porter says the task has already ended (cancelled or timed out)"
      })
      : error._tag === "CallbackRefused"
      ? Deferred.succeed(stop, {
        exitCode: ExitCode.CallbackFailed,
        why: `Porter refused the callback: ${error.message}`
      })
      : log.line("runner", error.message)
  const started = yield* Effect.forkChild(
    callbacks.send({ type: "started", step: "clone", ...(machineId !== undefined ? { machineId } : {}) }).pipe(
      Effect.catch(stopOn)
    )
  )
  const heartbeat = Effect.gen(function*() {
    const step = yield* log.currentStep
    yield* callbacks.send({ type: "heartbeat", step }).pipe(Effect.catch(stopOn))
  })
  const heartbeats = yield* Effect.forkChild(
    heartbeat.pipe(Effect.delay(Duration.millis(env.heartbeatIntervalMs)), Effect.forever)
  )

  // A safety net past the agent's own deadline: clone and push must end too.
  const now = yield* Clock.currentTimeMillis
  const budget = Math.max(env.deadlineAt - now, 0) + 5 * 60_000
  const outcome = yield* Effect.raceFirst(
    work.pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(budget),
        orElse: () =>
          Effect.succeed<Report>({
            outcome: "error",
            exitCode: ExitCode.Unexpected,
            error: "the runner ran out of time"
          })
      }),
      Effect.map(Option.some)
    ),
    Deferred.await(stop).pipe(Effect.as(Option.none<Report>()))
  )
  yield* Fiber.interrupt(heartbeats)
  // `started` before `completed`, even when it is still being retried.
  yield* Fiber.await(started).pipe(Effect.timeoutOption("15 seconds"))

  if (Option.isNone(outcome)) {
    const reason = yield* Deferred.await(stop)
    yield* log.line("runner", `${reason.why}: stopped`)
    return reason.exitCode
  }
  const report = outcome.value
  yield* log.step(`done: ${report.outcome}`)
  if (report.error !== undefined) yield* log.line("runner", `error: ${scrub(report.error)}`)
  const completed: Callback.CompletedEvent = {
    type: "completed",
    outcome: report.outcome,
    ...(report.branch !== undefined && report.outcome !== "no_changes" ? { branch: report.branch } : {}),
    ...(report.commitSha !== undefined ? { commitSha: report.commitSha } : {}),
    ...(report.prUrl !== undefined ? { prUrl: report.prUrl } : {}),
    ...(report.summary !== undefined ? { summary: clip(scrub(report.summary), 20_000)! } : {}),
    ...(report.usage !== undefined ? { usage: report.usage } : {}),
    ...(report.error !== undefined ? { error: clip(scrub(report.error), 2_000)! } : {}),
    logTail: yield* log.tail
  }
  const sent = yield* callbacks.send(completed).pipe(Effect.result)
  if (sent._tag === "Failure") {
    process.stderr.write(`porter-runner: completed callback: ${sent.failure.message}\n`)
    return sent.failure._tag === "TaskEnded" ? ExitCode.TaskEnded : ExitCode.CallbackFailed
  }
  return report.exitCode
}).pipe(Effect.withSpan("Runner.run"))

/** How the runner re-launches itself as the script agent. */
export type SelfCommand = AgentRunner.SelfCommand

/** Everything `run` needs, on Node, for a decoded environment. */
export const layer = (
  env: MachineEnv,
  self: SelfCommand,
  options: { readonly write?: (line: string) => void } = {}
) => {
  const scrubber = Scrubber.layer(secretValues(env.raw))
  const platform = Layer.mergeAll(NodeServices.layer, FetchHttpClient.layer)
  const runLog = RunLog.layer({ lines: env.logTailLines, ...(options.write ? { write: options.write } : {}) })
  const services = Layer.mergeAll(
    Callbacks.layer({
      url: env.callbackUrl,
      token: env.callbackToken,
      retries: env.callbackRetries,
      retryBaseMs: env.callbackRetryBaseMs
    }),
    GitHubApi.layer({ apiUrl: env.githubApiUrl, owner: env.owner, repo: env.repo, token: env.githubToken }),
    Git.layer({ token: env.githubToken, name: env.gitName, email: env.gitEmail }),
    AgentRunner.layer({ env, self }),
    AgentCatalog.layer,
    Layer.succeed(MachineEnvService, env)
  )
  return services.pipe(
    Layer.provideMerge(runLog),
    Layer.provideMerge(scrubber),
    Layer.provideMerge(platform)
  )
}
