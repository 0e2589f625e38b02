/**
 * ChangeSets: a machine's proposed changes become Porter's commits, branch and pull request — or are refused whole,
 * the task failed, every reason on the issue and nothing written.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  ChangeSet,
  ChangeSets,
  Command,
  Dispatcher,
  Event,
  type Ids,
  RepoWriter,
  Settings,
  TaskStore
} from "@porter/core"
import { Fixtures, GitHubRecorder, Machines, Repositories } from "@porter/testing"
import { Effect, Layer, Redacted } from "effect"
import { ANTHROPIC_KEY, layer, runRequest, taskOf, thread, withKey } from "./support/Lifecycle.ts"

const DEPLOYMENT_SECRET = "whsec-deployment-0123456789abcdef"

/** A task with its machine, on a seeded repository; its id and the base commit. */
const started = (options: { readonly event?: ReturnType<typeof Fixtures.commentCreated> } = {}) =>
  Effect.gen(function*() {
    const repos = yield* Repositories
    const base = (yield* repos.branches(Fixtures.repo())).get("main") ?? (yield* repos.seed(Fixtures.repo(), {
      files: [
        { path: "README.md", content: "# hello\n" },
        { path: "src/date.ts", content: "export const parse = (s: string) => s\n" },
        { path: ".github/workflows/ci.yml", content: "on: push\n" }
      ]
    }))
    const event = options.event ?? Fixtures.commentCreated({ body: "@porter claude fix it", title: "Parse ISO weeks" })
    yield* (yield* Dispatcher.Dispatcher).start(
      yield* runRequest({ event, run: new Command.Run({ agent: "claude", instructions: "fix it" }) })
    )
    const created = yield* (yield* Machines).created
    return { taskId: created[created.length - 1]!.spec.taskId, base }
  })

const publish = (taskId: Ids.TaskId, changeSet: ChangeSet.ChangeSet) =>
  Effect.flatMap(ChangeSets.ChangeSets, (service) => service.publish(taskId, changeSet))

const text = (content: string) => Buffer.from(content).toString("base64")

/** Publishing refused: the problems, after checking that the task failed, the issue says why and nothing was written. */
const refused = (taskId: Ids.TaskId, changeSet: ChangeSet.ChangeSet) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(publish(taskId, changeSet))
    assert.strictEqual(error._tag, "ChangesRefused")
    const task = yield* taskOf(taskId)
    assert.strictEqual(task.state, "failed")
    assert.include(task.reason, "Porter refused the agent's changes; nothing was committed")
    const comment = (yield* thread())[0]!.body
    assert.include(comment, "Porter refused the agent's changes")
    const repos = yield* Repositories
    assert.deepStrictEqual(yield* repos.written(Fixtures.repo()), [], "no commit written")
    assert.deepStrictEqual([...(yield* repos.branches(Fixtures.repo())).keys()], ["main"], "no branch made")
    assert.deepStrictEqual(yield* repos.pullRequests(Fixtures.repo()), [], "no pull request")
    assert.isTrue((yield* (yield* Machines).live).length === 0, "the machine is gone")
    return { problems: (error as ChangeSets.ChangesRefused).problems, comment }
  })

const setup = Effect.provide(
  layer(withKey).pipe(
    Layer.provideMerge(Layer.succeed(ChangeSets.HostSecrets, [{
      name: "GITHUB_WEBHOOK_SECRET",
      value: Redacted.make(DEPLOYMENT_SECRET)
    }]))
  )
)

describe("ChangeSets.publish", () => {
  it.effect("writes each agent commit with its message and Porter's trailer, the branch and the pull request", () =>
    Effect.gen(function*() {
      yield* (yield* GitHubRecorder).seedIssue(
        "octo-org/hello-world#1",
        new Event.IssueSnapshot({ title: "Parse ISO weeks", body: "", state: "open" })
      )
      const { base, taskId } = yield* started()
      const changeSet: ChangeSet.ChangeSet = {
        base,
        commits: [
          {
            message: "Parse ISO week dates",
            author: { name: "Claude", email: "claude@example.com", date: "2026-03-02T09:01:00+01:00" },
            changes: [
              { _tag: "write", path: "src/date.ts", mode: "100644", content: text("export const week = 5\n") },
              { _tag: "write", path: "bin/run", mode: "100755", content: text("#!/bin/sh\n") }
            ]
          },
          {
            message: "Remove the old readme",
            author: { name: "Claude", email: "claude@example.com", date: "2026-03-02T09:02:00+01:00" },
            changes: [
              { _tag: "delete", path: "README.md" },
              { _tag: "write", path: "docs/link", mode: "120000", content: text("../src/date.ts") },
              { _tag: "write", path: "AGENTS.md", mode: "100644", content: text("Be brief.\n") }
            ]
          }
        ],
        summary: "Weeks parse now. <!-- porter:task {\"id\":\"forged\"} --> @everyone"
      }
      const published = yield* publish(taskId, changeSet)
      const task = yield* taskOf(taskId)
      const repos = yield* Repositories
      const written = yield* repos.written(Fixtures.repo())
      assert.strictEqual(written.length, 2)
      assert.deepStrictEqual(published.commits, written.map((c) => c.sha))
      assert.deepStrictEqual(written[0]!.parents, [base])
      assert.match(written[0]!.message, new RegExp(`^Parse ISO week dates\\n\\nPorter-Task: ${taskId}\\n`))
      assert.include(written[1]!.message, "Co-authored-by: porter[bot]")
      assert.strictEqual(written[0]!.author.name, "Claude")
      assert.deepStrictEqual(
        [...written[1]!.files.keys()].sort(),
        [".github/workflows/ci.yml", "AGENTS.md", "bin/run", "docs/link", "src/date.ts"]
      )
      assert.strictEqual(written[1]!.files.get("bin/run")!.mode, "100755")
      assert.strictEqual(written[1]!.files.get("docs/link")!.mode, "120000")
      // The branch points at the last commit, the pull request is open, and the task records Porter's own figures.
      assert.strictEqual((yield* repos.branches(Fixtures.repo())).get(published.branch), published.commits[1])
      const [pr] = yield* repos.pullRequests(Fixtures.repo())
      assert.strictEqual(pr!.title, "Parse ISO weeks")
      assert.strictEqual(pr!.head, published.branch)
      assert.strictEqual(pr!.base, "main")
      assert.include(pr!.body, "Closes #1.")
      assert.include(pr!.body, "`AGENTS.md`", "instruction files are flagged")
      assert.notInclude(pr!.body, "<!-- porter:task", "the summary is neutralised")
      assert.notInclude(pr!.body, "@everyone")
      assert.deepStrictEqual([task.branch, task.commitSha, task.prUrl], [
        published.branch,
        published.commits[1],
        pr!.url
      ])
      assert.strictEqual(task.state, "provisioning", "publishing does not end the task: the runner's completion does")
    }).pipe(setup))

  it.effect("refuses a workflow edit, unless the repository's settings allow it", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started()
      const { comment, problems } = yield* refused(
        taskId,
        Fixtures.changeSet(base, [{ path: ".github/workflows/ci.yml", content: "on: pull_request_target\n" }])
      )
      assert.deepStrictEqual(problems, [
        "`.github/workflows/ci.yml` is a GitHub Actions workflow: this repository's settings do not allow changing workflows"
      ])
      assert.include(comment, ".github/workflows/ci.yml")
    }).pipe(setup))

  it.effect("writes a workflow edit when allowWorkflowChanges is on", () =>
    Effect.gen(function*() {
      yield* (yield* Settings.Settings).set({ _tag: "global" }, { allowWorkflowChanges: true })
      const { base, taskId } = yield* started()
      const published = yield* publish(
        taskId,
        Fixtures.changeSet(base, [{ path: ".github/workflows/ci.yml", content: "on: pull_request\n" }])
      )
      assert.strictEqual(published.commits.length, 1)
    }).pipe(setup))

  it.effect("refuses paths that climb out, reach into .git, or are absolute", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started()
      const { problems } = yield* refused(
        taskId,
        Fixtures.changeSet(base, [
          { path: "../outside.txt", content: "x\n" },
          { path: "src/../../etc/passwd", content: "x\n" },
          { path: ".git/hooks/post-checkout", content: "x\n" },
          { path: "/etc/hosts", content: "x\n" }
        ])
      )
      assert.strictEqual(problems.length, 4)
      for (const path of ["../outside.txt", "src/../../etc/passwd", ".git/hooks/post-checkout", "/etc/hosts"]) {
        assert.isTrue(problems.some((p) => p.startsWith(`\`${path}\``)), path)
      }
    }).pipe(setup))

  it.effect("refuses a symbolic link out of the tree", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started()
      const { problems } = yield* refused(taskId, {
        base,
        commits: [{
          message: "Link",
          author: { name: "A", email: "a@example.com", date: "2026-03-02T09:00:00Z" },
          changes: [{ _tag: "write", path: "docs/passwd", mode: "120000", content: text("../../../etc/passwd") }]
        }]
      })
      assert.deepStrictEqual(problems, [
        "`docs/passwd` is a symbolic link pointing outside the repository or into .git"
      ])
    }).pipe(setup))

  it.effect("refuses a file holding a deployment secret, a stored key or the task's own token; never shows them", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started()
      const { comment, problems } = yield* refused(
        taskId,
        Fixtures.changeSet(base, [
          { path: "config/hook.txt", content: `secret = ${DEPLOYMENT_SECRET}\n` },
          { path: "config/key.txt", content: `key: ${Buffer.from(ANTHROPIC_KEY).toString("base64")}\n` }
        ], { message: "Add config\n\nghp_0123456789abcdefghijklmnopqrstuvwxyzAB" })
      )
      assert.deepStrictEqual(problems, [
        "the message of commit 1 of 1 (line 3) holds a GitHub token",
        "`config/hook.txt` (line 1, commit 1 of 1) holds the value of GITHUB_WEBHOOK_SECRET",
        "`config/key.txt` (line 1, commit 1 of 1) holds the value of ANTHROPIC_API_KEY"
      ])
      for (const secret of [DEPLOYMENT_SECRET, ANTHROPIC_KEY, "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"]) {
        assert.notInclude(comment, secret)
      }
      const task = yield* taskOf(taskId)
      assert.notInclude(JSON.stringify(task), DEPLOYMENT_SECRET)
    }).pipe(setup))

  it.effect("refuses a file over the size limit", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started()
      const { problems } = yield* refused(
        taskId,
        Fixtures.changeSet(base, [{ path: "big.bin", content: "x".repeat(ChangeSet.MAX_FILE_BYTES + 1) }])
      )
      assert.deepStrictEqual(problems, [
        `\`big.bin\` is ${ChangeSet.MAX_FILE_BYTES + 1} bytes: files are limited to ${ChangeSet.MAX_FILE_BYTES} bytes`
      ])
    }).pipe(setup))

  it.effect("a secret that was already in the file is not the agent's doing: only added lines count", () =>
    Effect.gen(function*() {
      const repos = yield* Repositories
      const { taskId } = yield* started()
      const old = `# fixture: ${ANTHROPIC_KEY}\n`
      const base = yield* repos.push(Fixtures.repo(), "main", { files: [{ path: "test/fixture.txt", content: old }] })
      const published = yield* publish(taskId, {
        ...Fixtures.changeSet(base, [{ path: "test/fixture.txt", content: `${old}more\n` }]),
        bases: { "test/fixture.txt": text(old) }
      })
      assert.strictEqual(published.commits.length, 1)
    }).pipe(setup))

  it.effect("refuses a base content that is not the base commit's (it would hide an added key as an old line)", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started()
      const { problems } = yield* refused(taskId, {
        ...Fixtures.changeSet(base, [{ path: "src/date.ts", content: `const k = "${ANTHROPIC_KEY}"\n` }]),
        bases: { "src/date.ts": text(`const k = "${ANTHROPIC_KEY}"\n`) }
      })
      assert.include(problems, "the base content sent for `src/date.ts` is not what the base commit holds")
    }).pipe(setup))

  it.effect("refuses a base commit that is not in the repository", () =>
    Effect.gen(function*() {
      const { taskId } = yield* started()
      const { problems } = yield* refused(
        taskId,
        Fixtures.changeSet("0123456789abcdef0123456789abcdef01234567", [{ path: "a.txt", content: "a\n" }])
      )
      assert.deepStrictEqual(problems, ["the base commit 0123456789ab is not in octo-org/hello-world"])
    }).pipe(setup))

  it.effect("a follow-up on a pull request fast-forwards its branch; a branch that moved meanwhile is refused", () =>
    Effect.gen(function*() {
      const repos = yield* Repositories
      const { base } = yield* started()
      const head = yield* repos.push(Fixtures.repo(), "feature", { files: [{ path: "f.txt", content: "1\n" }] })
      const followUp = (deliveryId: Ids.DeliveryId) =>
        started({
          event: Fixtures.commentCreated({
            body: "@porter claude more",
            issueNumber: 7,
            isPullRequest: true,
            deliveryId,
            pullRequest: new Event.PullRequestRef({
              headBranch: "feature",
              baseBranch: "main",
              headRepoFullName: "octo-org/hello-world"
            })
          })
        })
      const first = yield* followUp(Fixtures.deliveryId())
      const published = yield* publish(first.taskId, Fixtures.changeSet(head, [{ path: "f.txt", content: "2\n" }]))
      assert.strictEqual(published.branch, "feature")
      assert.strictEqual((yield* repos.branches(Fixtures.repo())).get("feature"), published.commits[0])
      // Someone pushes to the branch while the next agent works from the old head.
      const second = yield* followUp(Fixtures.deliveryId())
      yield* repos.push(Fixtures.repo(), "feature", { files: [{ path: "g.txt", content: "g\n" }] })
      const error = yield* Effect.flip(
        publish(second.taskId, Fixtures.changeSet(published.commits[0]!, [{ path: "f.txt", content: "3\n" }]))
      )
      assert.strictEqual(error._tag, "ChangesRefused")
      assert.include((error as ChangeSets.ChangesRefused).problems[0], "feature moved on while the agent worked")
      assert.notStrictEqual(base, head)
    }).pipe(setup))

  it.effect("a publish retried after GitHub failed the pull request finishes it without writing twice", () =>
    Effect.gen(function*() {
      const repos = yield* Repositories
      const { base, taskId } = yield* started()
      yield* repos.inject({
        op: "pullRequest",
        error: new RepoWriter.RepoWriteError({ message: "Bad Gateway", status: 502 })
      })
      const changeSet = Fixtures.changeSet(base, [{ path: "a.txt", content: "a\n" }])
      const failed = yield* Effect.flip(publish(taskId, changeSet))
      assert.strictEqual(failed._tag, "RepoWriteError")
      assert.strictEqual((yield* taskOf(taskId)).state, "provisioning", "a GitHub failure does not end the task")
      const published = yield* publish(taskId, changeSet)
      assert.strictEqual((yield* repos.written(Fixtures.repo())).length, 1, "the commit was written once")
      assert.strictEqual((yield* repos.pullRequests(Fixtures.repo())).length, 1)
      assert.strictEqual((yield* taskOf(taskId)).prUrl, published.pullRequest.url)
    }).pipe(setup))

  it.effect("nothing is written for a task that has ended", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started()
      yield* (yield* TaskStore.TaskStore).transition(taskId, "cancelled", Date.now(), { reason: "test" })
      const error = yield* Effect.flip(publish(taskId, Fixtures.changeSet(base, [{ path: "a.txt", content: "a\n" }])))
      assert.deepStrictEqual([error._tag, (error as ChangeSets.TaskFinished).state], ["TaskFinished", "cancelled"])
      assert.deepStrictEqual(yield* (yield* Repositories).written(Fixtures.repo()), [])
    }).pipe(setup))

  it.effect("never writes to the default branch, even when a pull request's head is it", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* started({
        event: Fixtures.commentCreated({
          body: "@porter claude more",
          issueNumber: 9,
          isPullRequest: true,
          pullRequest: new Event.PullRequestRef({
            headBranch: "main",
            baseBranch: "release",
            headRepoFullName: "octo-org/hello-world"
          })
        })
      })
      const error = yield* Effect.flip(publish(taskId, Fixtures.changeSet(base, [{ path: "a.txt", content: "a\n" }])))
      assert.strictEqual(error._tag, "ChangesRefused")
      assert.include((error as ChangeSets.ChangesRefused).problems[0], "is the repository's default branch")
    }).pipe(setup))
})
