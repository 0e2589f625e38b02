/**
 * CiFeedback: failed checks on Porter's pull requests, fed back. When a check suite (or a workflow run, which names
 * its check suite) completes with a failure on a branch Porter made for a task (`porter/<issue>-<task>`, the branch
 * that task published), Porter comments on the pull request with the failing checks (names, conclusions, links) and
 * offers `@porter fix-ci`; once per check suite (`TaskStore.claimNotice`: a redelivery, or GitHub Actions' second
 * event for the same run, says nothing more).
 *
 * With the repository's `autofixCi: N` (`.github/porter.yml` over the deployment's settings), Porter also starts a
 * `fix_ci` task by itself, at most N per pull request (numbered slots claimed once each, so fixes that fail their
 * checks again never loop) and one per commit (another suite failing on the same commit waits for it), for the requester of the task that made the pull request, with its agent and model. An
 * outsider's approved request gets no automatic fix (only the comment): nobody approved the next run.
 *
 * `@porter fix-ci` on a pull request is checked here (a pull request of this repository with failing checks on its
 * head); its task is a follow-up on the PR's branch like any other. A `fix_ci` task's prompt carries the failing logs,
 * read when it is dispatched (`CiLogs`).
 *
 * Cannot: tell a check suite's re-run from a new one (GitHub reuses the suite's id: a re-run that fails again is not
 * commented on again); comment again when the comment could not be posted after the claim (GitHub down for all its
 * retries: the failure is logged).
 */
import { Clock, Context, Effect, Layer, Option, Result } from "effect"
import * as Budgets from "./Budgets.ts"
import * as CiLogs from "./CiLogs.ts"
import { FIX_CI_INSTRUCTIONS, Run } from "./Command.ts"
import { Dispatcher } from "./Dispatcher.ts"
import type { StoreError } from "./Errors.ts"
import {
  type ChecksFailed,
  type CommentCreated,
  CommentCreated as Comment,
  IssueSnapshot,
  PullRequestRef
} from "./Event.ts"
import { type CheckRun, IssueReader } from "./IssueReader.ts"
import { issueOfBranch } from "./MachineRequest.ts"
import * as Messages from "./Messages.ts"
import { UsageStore } from "./ModelUsage.ts"
import * as NewTasks from "./NewTasks.ts"
import { IssueRef } from "./Repo.ts"
import * as RepoConfig from "./RepoConfig.ts"
import { Reporter } from "./Reporter.ts"
import { Reports } from "./Reports.ts"
import { Settings } from "./Settings.ts"
import type { Task } from "./Task.ts"
import { TaskStore } from "./TaskStore.ts"

/** How long a claimed notice (a check suite commented on, an automatic fix slot) holds: for good. */
const FOREVER_MS = 100 * 365 * 24 * 60 * 60_000

/** Failed checks on Porter's pull requests, fed back. */
export class CiFeedback extends Context.Service<CiFeedback, {
  /** Comments on the pull request (once per check suite) and starts an automatic fix when the repository asks. */
  readonly onChecksFailed: (event: ChecksFailed, receivedAt: number) => Effect.Effect<void, StoreError>
  /** Why `@porter fix-ci` cannot run here (a sentence for the reply), or `undefined` when it may. */
  readonly refusal: (event: CommentCreated) => Effect.Effect<string | undefined>
}>()("@porter/core/CiFeedback") {}

/** A pull request in notice keys: `owner/name#number`, lower-cased. */
const prKey = (event: ChecksFailed, pr: number) => `${event.repo.fullName.toLowerCase()}#${pr}`

/** The `CiFeedback` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const settingsService = yield* Settings
  const reader = yield* IssueReader
  const reporter = yield* Reporter
  const reports = yield* Reports
  const dispatcher = yield* Dispatcher
  const usage = yield* UsageStore

  /** The task that published `branch` (the pull request's author, for Porter). */
  const taskOfBranch = Effect.fnUntraced(function*(event: ChecksFailed) {
    const issue = issueOfBranch(event.headBranch)
    if (issue === undefined || issue <= 0) return undefined
    const tasks = yield* store.listByIssue(event.repo.fullName, issue, 100)
    return tasks.find((task) => task.branch === event.headBranch && task.prUrl !== undefined)
  })

  /** The first free automatic-fix slot of the pull request (1…limit), claimed; `undefined` when all are taken. */
  const claimSlot = Effect.fnUntraced(function*(event: ChecksFailed, pr: number, limit: number, at: number) {
    for (let slot = 1; slot <= limit; slot++) {
      const key = `ci-autofix:${prKey(event, pr)}:${slot}`
      if (yield* store.claimNotice(key, at, FOREVER_MS)) return slot
    }
    return undefined
  })

  /** The automatic fix: a `fix-ci` run for the task's requester, as a follow-up on the pull request's branch. */
  const autofix = Effect.fnUntraced(function*(
    event: ChecksFailed,
    task: Task,
    pr: number,
    commentId: number,
    receivedAt: number
  ) {
    const settings = yield* settingsService.forRepo(event.repo.fullName, event.installationId)
    const issue = yield* reader.issue(new IssueRef({ repo: event.repo, number: pr }), event.installationId).pipe(
      Effect.orElseSucceed(() => new IssueSnapshot({ title: `#${pr}`, body: "", state: "open" }))
    )
    const comment = new Comment({
      deliveryId: event.deliveryId,
      ...(event.installationId !== undefined ? { installationId: event.installationId } : {}),
      repo: event.repo,
      issueNumber: pr,
      isPullRequest: true,
      issue,
      kind: "issue_comment",
      commentId,
      body: "",
      author: task.requestedBy,
      pullRequest: new PullRequestRef({
        headBranch: event.headBranch,
        headRepoFullName: event.repo.fullName,
        ...(task.baseBranch !== undefined ? { baseBranch: task.baseBranch } : {})
      })
    })
    const run = new Run({
      agent: task.agent,
      ...(task.model !== undefined ? { model: task.model } : {}),
      instructions: FIX_CI_INSTRUCTIONS,
      fixCi: true
    })
    yield* dispatcher.start({ event: comment, run, settings, receivedAt, salt: "autofix" })
  })

  const onChecksFailed = Effect.fn("CiFeedback.onChecksFailed")(function*(event: ChecksFailed, receivedAt: number) {
    yield* Effect.annotateCurrentSpan({ checkSuiteId: event.checkSuiteId, branch: event.headBranch })
    const task = yield* taskOfBranch(event)
    const pr = event.pullRequests[0]
    if (task === undefined || pr === undefined) return
    // A pull request closed (or merged) since: nothing to fix there. A lookup that fails does not stop the feedback.
    const info = yield* reader.pullRequest(event.repo, pr, event.installationId).pipe(Effect.option)
    if (Option.isSome(info) && info.value.state !== "open") return
    const at = yield* Clock.currentTimeMillis
    const suiteKey = `ci:${event.repo.fullName.toLowerCase()}:suite:${event.checkSuiteId}`
    if (!(yield* store.claimNotice(suiteKey, at, FOREVER_MS))) return

    // Independent reads, together: the suite's runs (the comment without its table when they cannot be listed), the
    // settings, and `.github/porter.yml` from the base branch (a broken file counts as none here: its task says so).
    const [runs, settings, file] = yield* Effect.all([
      reader.checkRuns(event.repo, { checkSuiteId: event.checkSuiteId }, event.installationId).pipe(
        Effect.catch((error) =>
          Effect.as(
            Effect.logWarning("could not list the failing checks", { error: error.message }),
            [] as ReadonlyArray<CheckRun>
          )
        )
      ),
      settingsService.forRepo(event.repo.fullName, event.installationId),
      RepoConfig.read(reader, event.repo, task.baseBranch, event.installationId).pipe(
        Effect.map((loaded) => loaded.file),
        Effect.orElseSucceed(() => RepoConfig.empty)
      )
    ], { concurrency: "unbounded" })
    const limit = file.autofixCi ?? settings.autofixCi
    const failing = CiLogs.failingOf(runs)
    let automatic: Messages.AutofixNote | undefined
    if (limit > 0) {
      const refused = task.approvedBy !== undefined
        ? "This pull request comes from a request that needed approval: its fixes are asked for, not started by Porter."
        : failing.length === 0
        ? "No failing check of this suite could be listed, so there is no log to give an agent."
        : yield* Budgets.monthlyRefusal(
          usage,
          settings,
          { repo: event.repo.fullName, login: task.requestedBy.login, userId: task.requestedBy.id },
          at
        )
      // One automatic fix per commit: its prompt carries every check failing on the branch's head, so another suite
      // failing on the same commit (another workflow) starts none.
      const first = refused === undefined &&
        (yield* store.claimNotice(`ci-autofix:${prKey(event, pr)}@${event.headSha}`, at, FOREVER_MS))
      const slot = first ? yield* claimSlot(event, pr, limit, at) : undefined
      automatic = refused !== undefined
        ? { _tag: "Refused", reason: refused }
        : !first
        ? { _tag: "AlreadyStarted" }
        : slot === undefined
        ? { _tag: "UsedUp", limit }
        : { _tag: "Started", slot, limit }
    }
    const body = Messages.ciFailed({
      event,
      failing,
      mention: settings.mentionName,
      automatic
    })
    const commented = yield* reports.attempt(
      "CI feedback comment",
      undefined,
      reporter.comment(new IssueRef({ repo: event.repo, number: pr }), body)
    )
    if (automatic?._tag === "Started" && Option.isSome(commented)) {
      yield* autofix(event, task, pr, commented.value, receivedAt)
    }
  })

  const refusal = Effect.fn("CiFeedback.refusal")(function*(event: CommentCreated) {
    if (!event.isPullRequest) return "`fix-ci` works on a pull request: ask on the pull request whose checks failed."
    const { headBranch } = yield* NewTasks.branches(event, reader)
    if (headBranch === undefined) {
      return "`fix-ci` works on a pull request whose branch Porter can write (not a fork's)."
    }
    const runs = yield* reader.checkRuns(event.repo, { ref: headBranch }, event.installationId).pipe(Effect.result)
    if (Result.isFailure(runs)) return `Porter could not read this pull request's checks (${runs.failure.message}).`
    if (CiLogs.failingOf(runs.success).length === 0) {
      return `No check is failing on \`${headBranch}\` now: nothing was started.`
    }
    return undefined
  })

  return CiFeedback.of({ onChecksFailed, refusal })
})

/** `CiFeedback` as a layer (`make`). */
export const layer: Layer.Layer<
  CiFeedback,
  never,
  TaskStore | Settings | IssueReader | Reporter | Reports | Dispatcher | UsageStore
> = Layer.effect(CiFeedback, make)
