/**
 * The work of one task, from the clone to Porter's answer to the change set:
 *
 *   clone (Porter's read-only git proxy) → branch → (the earlier session, for a continuation) → agent → hand over
 *   its session and transcript → lock down .git → verify → commit leftovers → change set of `base..HEAD` → no secret
 *   of the machine in it → POST it to Porter (which commits and opens the PR) → hand over the diff
 *
 * An agent stopped at the deadline or at Porter's request (`StopSignal`: cancelled, over budget) is a checkpoint: its
 * work so far goes the same way as a work-in-progress commit (Porter opens a draft pull request), and the report says
 * `checkpoint`. Handing over artifacts never fails the run (a failure is logged).
 *
 * Every way it can end is a `Report` (outcome + exit code); `Runner.run` turns it into the `completed` callback.
 */
import { AgentCatalog, ArtifactStore, Task } from "@porter/core"
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
import * as Sessions from "./Sessions.ts"

/** How a run ended: the `completed` callback's fields and the process exit code. */
export interface Report {
  readonly outcome: Task.Outcome
  readonly exitCode: ExitCode
  readonly summary?: string
  readonly usage?: Task.Usage
  readonly error?: string
  /** Porter has already ended the task (it refused the change set, or said the task is over): no `completed`. */
  readonly ended?: string
  /** The agent was stopped (deadline, Porter's stop) and its work so far handed over: a checkpoint. */
  readonly checkpoint?: boolean
}

/** Completes, with why, when Porter asks the runner to stop its agent before the deadline (`Runner.run` sets it). */
export const StopSignal = Context.Reference<Effect.Effect<string>>("@porter/runner/StopSignal", {
  defaultValue: () => Effect.never
})

/** The agent left the checkout in a state the runner will not propose. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

/** A report, typed as one (not as the literal object). */
const done = (report: Report): Report => report

/** `text` cut to `max` characters, marked `[… clipped]` when cut. */
export const clip = (text: string | undefined, max: number): string | undefined =>
  text === undefined ? undefined : text.length > max ? `${text.slice(0, max - 12)}\n[… clipped]` : text

/**
 * The message of the commit of what the agent left uncommitted. No `Porter-Task:` trailer: Porter adds it (and its
 * co-author) to every commit it writes.
 */
export const commitMessage = (
  env: MachineEnv,
  spec: { readonly displayName: string },
  checkpoint = false
): string =>
  [
    `${checkpoint ? "WIP: " : ""}${env.issueTitle} (#${env.issueNumber})`,
    "",
    `${checkpoint ? "Work in progress l" : "Changes l"}eft by ${spec.displayName}${
      env.model !== undefined ? ` (${env.model})` : ""
    } for #${env.issueNumber}${env.requestedBy !== undefined ? `, requested by @${env.requestedBy}` : ""}${
      checkpoint ? ", when it was stopped" : ""
    }.`
  ].join("\n")

/**
 * Whether Porter has asked for the work so far (a stop, or the deadline passed): why, if it has. Asked with a
 * heartbeat, so a stop is heard at once rather than with the next one; a callback that fails says nothing.
 */
const stopAsked = Effect.gen(function*() {
  const env = yield* MachineEnvService
  const callbacks = yield* Callbacks.Callbacks
  if (Date.now() >= env.deadlineAt) return "the task's deadline passed"
  const answer = yield* callbacks.send({ type: "heartbeat", step: "agent" }).pipe(Effect.option)
  return answer._tag === "Some" ? answer.value.stop : undefined
})

/** The most of an artifact the runner sends (Porter keeps at most half of it: `ArtifactStore.MAX_ARTIFACT_BYTES`). */
const MAX_HANDOVER = 2 * ArtifactStore.MAX_ARTIFACT_BYTES

/**
 * Hands one artifact to Porter; a failure is logged, never fatal. A session too long to send is not sent (half a
 * session cannot be resumed); a longer transcript or diff keeps its end.
 */
const handOver = (kind: "session" | "transcript" | "diff", name: string, whole: string) =>
  Effect.gen(function*() {
    const log = yield* RunLog.RunLog
    const callbacks = yield* Callbacks.Callbacks
    if (whole.trim() === "") return
    if (kind === "session" && whole.length > MAX_HANDOVER) {
      return yield* log.line("runner", `the session is too long to hand over (${whole.length} characters)`)
    }
    const content = whole.length > MAX_HANDOVER ? whole.slice(whole.length - MAX_HANDOVER) : whole
    const sent = yield* Effect.result(callbacks.artifact({ kind, name, content }))
    if (sent._tag === "Failure") yield* log.line("runner", `could not hand over the ${kind}: ${sent.failure.message}`)
    else yield* log.line("runner", `handed over the ${kind} (${content.length} characters)`)
  })

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
  const start = yield* git.clonedHead(dir)
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

  // The agent's session: named by the runner where the CLI lets it (a run cut short still has it), or the earlier one
  // for a continuation, put back where the CLI looks for it.
  const place: Sessions.Place = { home: env.raw["HOME"] ?? "/root", cwd: dir, env: env.raw }
  const sessions = agent.resumes === true ? Sessions.kindOf(agent.name) : undefined
  let session: { readonly id: string; readonly resume: boolean } | undefined
  if (sessions !== undefined) {
    session = { id: sessions.newId() ?? "", resume: false }
    if (env.resumeSession) {
      const earlier = yield* callbacks.session
      if (earlier === undefined) {
        return done({
          outcome: "error",
          exitCode: ExitCode.Unexpected,
          error: "Porter has no session to resume for this continuation"
        })
      }
      const id = yield* sessions.restore(place, earlier).pipe(
        Effect.mapError((error) =>
          new Refused({ reason: `the earlier session could not be restored: ${String(error)}` })
        )
      )
      yield* log.line("runner", `resuming ${agent.displayName}'s session ${earlier.name}`)
      session = { id, resume: true }
    }
  }
  const agentStarted = Date.now()

  yield* log.step("agent")
  const result = yield* agents.run({
    spec: agent,
    prompt: env.prompt,
    model: env.model,
    cwd: dir,
    session,
    stop: yield* StopSignal
  })
  const summary = clip(result.summary, 20_000)
  const usage = result.usage !== undefined ? { usage: result.usage } : {}
  // The session and the transcript go to Porter whatever happened next (a question's, a failed run's too).
  const saved = sessions === undefined || session === undefined
    ? Option.none<Sessions.Saved>()
    : yield* sessions.read(place, session.id === "" ? undefined : session.id, agentStarted)
  if (Option.isSome(saved)) yield* handOver("session", saved.value.name, saved.value.content)
  const rendered = Option.isSome(saved) && sessions !== undefined ? sessions.transcript(saved.value.content) : ""
  yield* handOver("transcript", "transcript.md", rendered.trim() !== "" ? rendered : yield* log.all)
  // Stopped at the deadline or by Porter: what it did so far is handed over as a checkpoint. An agent that failed may
  // have been stopped too, before the runner heard of it: its calls refused past the deadline, or over its budget
  // (Porter's answer to a callback says so).
  const failed = result.exitCode !== 0 || result.error !== undefined
  const stoppedMeanwhile = !result.timedOut && failed && env.mode !== "ask" ? yield* stopAsked : undefined
  if (stoppedMeanwhile !== undefined) {
    yield* log.line("runner", `the agent ended after Porter stopped it: ${stoppedMeanwhile}`)
  }
  const checkpoint = result.timedOut || stoppedMeanwhile !== undefined
  if (checkpoint) yield* log.line("runner", "handing over the work so far (a checkpoint)")
  if (result.timedOut && env.mode === "ask") {
    return done({
      outcome: "agent_failed",
      exitCode: ExitCode.DeadlineExceeded,
      ...usage,
      error: result.error ?? "the agent ran past the task deadline",
      checkpoint: true
    })
  }
  if (!checkpoint && (result.exitCode !== 0 || result.error !== undefined)) {
    return done({
      outcome: "agent_failed",
      exitCode: ExitCode.AgentFailed,
      ...(summary !== undefined ? { summary } : {}),
      ...usage,
      error: `${agent.displayName} exited with code ${result.exitCode}${result.error ? `: ${result.error}` : ""}`
    })
  }
  const finished = {
    ...(summary !== undefined ? { summary } : {}),
    ...usage,
    ...(checkpoint ? { checkpoint: true, exitCode: ExitCode.DeadlineExceeded } : {})
  }
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
  const committed = yield* git.commitAll(dir, commitMessage(env, agent, checkpoint))
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
  const diff = yield* git.read(dir, ["diff", "--stat", "--patch", start.sha, tip]).pipe(
    Effect.map((bytes) => new TextDecoder().decode(bytes)),
    Effect.orElseSucceed(() => "")
  )
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
  const published = yield* callbacks.publish({
    ...changeSet,
    ...(summary !== undefined ? { summary } : {}),
    ...(checkpoint ? { checkpoint: true } : {})
  })
  yield* log.line(
    "runner",
    `Porter committed ${published.commits.length} commit${published.commits.length === 1 ? "" : "s"} on ` +
      `${published.branch}: ${published.pullRequest.url}`
  )
  yield* handOver("diff", "changes.diff", diff)
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
