/**
 * ChangeSets: a machine's proposed changes → commits, a branch and a pull request, made by Porter. The machine holds
 * no token that can write; it sends what its agent did (`ChangeSet`), Porter checks it (`ChangeRules`: paths, links,
 * workflows, secrets) and writes it with the installation's token (`RepoWriter`): one commit per agent commit, with
 * its message and Porter's trailer, on the task's branch — created for a new task, fast-forwarded for a follow-up on a
 * pull request, never the default branch — then opens the pull request (or links the open one).
 *
 * A checkpoint (the work so far of an agent that was stopped: deadline, cancel, budget) is written the same way, its
 * pull request opened as a draft that says why the agent stopped.
 *
 * A refusal ends the task `failed`, with every reason on the issue; branch, commit and pull request come from here
 * and are recorded on the task (the machine's word about them is not taken).
 */
import { Clock, Context, Effect, Layer, Option, Result, Schema } from "effect"
import { Audit } from "./Audit.ts"
import * as ChangeRules from "./ChangeRules.ts"
import type { ChangeSet, Published } from "./ChangeSet.ts"
import type { StoreError, TaskNotFound } from "./Errors.ts"
import type { TaskId } from "./Ids.ts"
import { IssueReader } from "./IssueReader.ts"
import { branchFor } from "./MachineRequest.ts"
import * as Messages from "./Messages.ts"
import { PorterConfig } from "./PorterConfig.ts"
import * as RepoConfig from "./RepoConfig.ts"
import { type NotFastForward, RepoWriteError, RepoWriter } from "./RepoWriter.ts"
import * as SecretScan from "./SecretScan.ts"
import { SecretStore } from "./SecretStore.ts"
import { Settings } from "./Settings.ts"
import { issueOf } from "./StatusComments.ts"
import { type Task, TaskState } from "./Task.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import * as TaskSecrets from "./TaskSecrets.ts"
import { TaskStore } from "./TaskStore.ts"
import { TaskTokens } from "./TaskTokens.ts"

/** The change set was refused; the task has ended `failed` with these reasons on its issue. */
export class ChangesRefused extends Schema.TaggedError<ChangesRefused>()("ChangesRefused", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Porter refused the agent's changes: ${this.problems.join("; ")}`
  }
}

/** The task has ended: nothing more is written for it. */
export class TaskFinished extends Schema.TaggedError<TaskFinished>()("TaskFinished", { state: TaskState }) {}

/** The deployment's own secret values (`TaskSecrets.HostSecrets`): kept here for hosts that provide them. */
export const HostSecrets = TaskSecrets.HostSecrets

/** A machine's proposed changes → commits, a branch and a pull request, made by Porter. */
export class ChangeSets extends Context.Service<ChangeSets, {
  /** Checks and writes a task's change set; refusals end the task. */
  readonly publish: (
    taskId: TaskId,
    changeSet: ChangeSet
  ) => Effect.Effect<
    Published,
    ChangesRefused | TaskFinished | TaskNotFound | StoreError | RepoWriteError
  >
}>()("@porter/core/ChangeSets") {}

/** The `ChangeSets` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const secrets = yield* SecretStore
  const settings = yield* Settings
  const writer = yield* RepoWriter
  const reader = yield* IssueReader
  const tokens = yield* TaskTokens
  const lifecycle = yield* TaskLifecycle
  const audit = yield* Audit
  const config = yield* PorterConfig

  /** Every secret value the task's change set must not hold: the deployment's, the chain's stored ones, its token. */
  const valuesFor = (task: Task) =>
    TaskSecrets.valuesFor(task).pipe(
      Effect.provideService(SecretStore, secrets),
      Effect.provideService(TaskTokens, tokens)
    )

  const refuse = (task: Task, problems: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const shown = problems.slice(0, 10).map((problem) => `- ${problem}`).join("\n")
      const more = problems.length > 10 ? `\n- and ${problems.length - 10} more` : ""
      yield* audit.record(task.id, "changes_refused", problems.join("; ").slice(0, 2_000))
      yield* lifecycle.finish(task, "failed", {
        reason: `Porter refused the agent's changes; nothing was committed:\n${shown}${more}`
      })
      return yield* new ChangesRefused({ problems })
    })

  const title = (task: Task, changeSet: ChangeSet) =>
    reader.issue(issueOf(task), task.installationId).pipe(
      Effect.map((issue) => issue.title),
      Effect.orElseSucceed(() => changeSet.commits[0]!.message.split("\n")[0]!)
    )

  const body = (task: Task, changeSet: ChangeSet, instructionFiles: ReadonlyArray<string>, mention: string) => {
    const flagged = instructionFiles.length === 0 ? [] : [
      "",
      `> [!WARNING]`,
      `> This change touches files coding agents take instructions from: ${
        instructionFiles.map((f) => `\`${f}\``).join(", ")
      }. Review them with care.`
    ]
    const stopped = changeSet.checkpoint !== true ? [] : [
      `> [!NOTE]`,
      `> Work in progress: the agent was stopped (${
        Messages.neutralise(task.reason ?? "its time ran out")
      }) and this is what it had done. \`@${mention} continue\` on the issue picks it up.`,
      ""
    ]
    return [
      ...stopped,
      changeSet.summary?.trim()
        ? Messages.neutralise(changeSet.summary.trim())
        : "_The agent did not write a summary._",
      ...flagged,
      "",
      "---",
      `${
        task.isPullRequest ? "" : `Closes #${task.issueNumber}. `
      }Opened by Porter for @${task.requestedBy.login} with ` +
      `\`${task.agent}\`${task.model !== undefined ? ` (\`${task.model}\`)` : ""}; task \`${task.id}\`.`
    ].join("\n")
  }

  const trailer = (task: Task) =>
    `\n\nPorter-Task: ${task.id}\nCo-authored-by: ${config.commitAuthor.name} <${config.commitAuthor.email}>`

  const write = (task: Task, base: string, commits: ReadonlyArray<ChangeRules.CommitToWrite>) =>
    writer.writeCommits(
      task.repo,
      base,
      commits.map((commit) => ({ ...commit, message: `${commit.message.trimEnd()}${trailer(task)}` })),
      task.installationId
    )

  const publish = Effect.fn("ChangeSets.publish")(function*(taskId: TaskId, changeSet: ChangeSet) {
    const task = yield* store.get(taskId)
    if (task.isTerminal) return yield* new TaskFinished({ state: task.state })
    if (task.mode === "ask") {
      return yield* refuse(task, ["this task answers a question: it is read-only, Porter commits nothing for it"])
    }
    const branch = branchFor(task)
    // Everything the checks and the writes need, read together: one round trip to GitHub instead of five.
    const [repoSettings, baseTree, values, defaultBranch, head, prTitle, repoConfig] = yield* Effect.all([
      settings.forRepo(task.repo.fullName, task.installationId),
      Effect.result(writer.tree(task.repo, changeSet.base, task.installationId)),
      valuesFor(task),
      writer.defaultBranch(task.repo, task.installationId),
      writer.branchHead(task.repo, branch, task.installationId),
      title(task, changeSet),
      // The repository's protected paths, from its base branch (where neither the agent nor a fork writes).
      reader.file(task.repo, RepoConfig.PATH, task.baseBranch, task.installationId).pipe(
        Effect.mapError((error) =>
          new RepoWriteError({ message: `${RepoConfig.PATH} could not be read: ${error.message}`, status: 503 })
        ),
        Effect.flatMap((text) =>
          Option.isNone(text)
            ? Effect.succeed(Result.succeed(RepoConfig.empty))
            : Effect.result(RepoConfig.decode(text.value))
        )
      )
    ], { concurrency: "unbounded" })
    if (Result.isFailure(repoConfig)) return yield* refuse(task, [repoConfig.failure.message])
    if (baseTree._tag === "Failure") {
      if (baseTree.failure.status === 404 || baseTree.failure.status === 422) {
        return yield* refuse(task, [`the base commit ${changeSet.base.slice(0, 12)} is not in ${task.repo.fullName}`])
      }
      return yield* baseTree.failure
    }
    const checked = yield* ChangeRules.check(changeSet, {
      baseTree: baseTree.success,
      allowWorkflowChanges: repoSettings.allowWorkflowChanges,
      scanner: SecretScan.scanner(values),
      protectedPaths: repoConfig.success.protected ?? []
    })
    if (checked._tag === "Refused") return yield* refuse(task, checked.problems)

    if (branch === defaultBranch) {
      return yield* refuse(task, [
        `the task's branch ${branch} is the repository's default branch: Porter never writes to it`
      ])
    }
    // A new task's branch is created; a follow-up's (a pull request's head) must still be where the machine cloned it.
    // A retry of a publish that already moved the branch (the answer was lost): only the pull request is left to do.
    const retried = Option.isSome(head) && head.value === task.commitSha && head.value !== changeSet.base
    if (!retried && Option.isSome(head) && head.value !== changeSet.base) {
      return yield* refuse(task, [
        `${branch} moved on while the agent worked (it is at ${head.value.slice(0, 12)}, the agent started from ` +
        `${changeSet.base.slice(0, 12)}): ask again to work from its new head`
      ])
    }
    if (Option.isNone(head) && task.headBranch !== undefined) {
      return yield* refuse(task, [`the pull request's branch ${branch} no longer exists`])
    }
    const shas = retried ? [task.commitSha!] : yield* write(task, changeSet.base, checked.commits)
    if (!retried) {
      // Recorded before the branch moves, so a retry after a lost answer recognises its own commits.
      yield* store.update(task.id, { branch, commitSha: shas[shas.length - 1]! }, yield* Clock.currentTimeMillis)
      yield* writer.moveBranch(task.repo, branch, shas[shas.length - 1]!, head, task.installationId).pipe(
        Effect.catchTag("NotFastForward", (error: NotFastForward) => refuse(task, [error.message]))
      )
    }
    const tip = shas[shas.length - 1]!
    const pullRequest = yield* writer.pullRequest(task.repo, {
      head: branch,
      base: task.baseBranch ?? defaultBranch,
      title: prTitle,
      body: body(task, changeSet, checked.instructionFiles, repoSettings.mentionName),
      ...(changeSet.checkpoint === true ? { draft: true } : {})
    }, task.installationId)
    const at = yield* Clock.currentTimeMillis
    yield* store.update(task.id, { branch, commitSha: tip, prUrl: pullRequest.url }, at)
    yield* audit.record(
      task.id,
      "published",
      `${shas.length} commit${shas.length === 1 ? "" : "s"} on ${branch}: ${pullRequest.url}`
    )
    return { branch, commits: shas, pullRequest } satisfies Published
  }, (effect, taskId) =>
    // The task ended (cancelled, timed out) while its change set was being written.
    Effect.catchTag(effect, "IllegalTransition", () =>
      Effect.flatMap(store.get(taskId), (task) =>
        Effect.fail(new TaskFinished({ state: task.state })))))

  return ChangeSets.of({ publish })
})

/** `ChangeSets` as a layer (`make`). */
export const layer: Layer.Layer<
  ChangeSets,
  never,
  TaskStore | SecretStore | Settings | RepoWriter | IssueReader | TaskTokens | TaskLifecycle | Audit | PorterConfig
> = Layer.effect(ChangeSets, make)
