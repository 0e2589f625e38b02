/**
 * Issue 20 on in-memory layers: checkpoints (a cancelled or timed-out running task waits for its machine's work so
 * far, within a grace period), `@porter continue` (the latest task's branch; its session resumed, or the earlier
 * summary and diff in the prompt), and what Porter keeps of a run (redacted; a mirror that fails is audited, never
 * fatal). What users see is asserted on the status comments.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Artifacts,
  ArtifactStore,
  ChangeSets,
  Command,
  CommandParser,
  Event,
  type Ids,
  Messages,
  Porter,
  Settings,
  Watchdog
} from "@porter/core"
import { Fixtures, InMemoryArtifactStore, Machines, Repositories } from "@porter/testing"
import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import {
  ANTHROPIC_KEY,
  auditKinds,
  callbackEvent,
  layer,
  publish,
  taskOf,
  tasksOf,
  thread,
  withKey
} from "./support/Lifecycle.ts"

const GRACE = { ...withKey, config: { checkpointGraceMs: 30_000 } }

/** A `@porter claude …` run on issue #1, started (`started` callback): its task id. */
const running = (body = "@porter claude write the plan") =>
  Effect.gen(function*() {
    const porter = yield* Porter.Porter
    yield* porter.handle(Fixtures.commentCreated({ body }))
    const created = yield* (yield* Machines).created
    const taskId = created[created.length - 1]!.spec.taskId as Ids.TaskId
    yield* porter.callback(taskId, callbackEvent({ type: "started" }))
    return taskId
  })

const say = (body: string) =>
  Effect.flatMap(Porter.Porter, (porter) => porter.handle(Fixtures.commentCreated({ body })))

const statusOf = (taskId: string) =>
  Effect.map(thread(), (comments) => {
    const found = comments.find((c) => Messages.parseMarker(c.body)?.id === taskId)
    assert.isDefined(found, `a status comment for ${taskId}`)
    return found!.body
  })

describe("@porter continue (parser)", () => {
  const parse = (text: string) => CommandParser.parse(text, Settings.defaults, [], () => Option.none())
  it("continue alone, or with more instructions; other words starting with `continu` are instructions", () => {
    assert.deepStrictEqual(parse("@porter continue"), new Command.Continue({ instructions: "" }))
    assert.deepStrictEqual(
      parse("@porter continue: and fix the tests\nthe flaky ones"),
      new Command.Continue({ instructions: "and fix the tests\nthe flaky ones" })
    )
    assert.strictEqual(parse("@porter continuous integration is broken")._tag, "Run")
  })
})

describe("checkpoints", () => {
  it.effect("`@porter cancel` on a running task: it stops, hands over its work (a draft PR), ends cancelled", () =>
    Effect.gen(function*() {
      const taskId = yield* running()
      yield* say("@porter cancel")
      const stopping = yield* taskOf(taskId)
      assert.strictEqual(stopping.state, "running", "it waits for its machine's work so far")
      assert.strictEqual(stopping.stopState, "cancelled")
      assert.include(yield* statusOf(taskId), "⏹ Stopping `claude`: cancelled by @octocat")
      // The runner hears it in its next callback's answer.
      const porter = yield* Porter.Porter
      const answer = yield* porter.callback(taskId, callbackEvent({ type: "heartbeat" }))
      assert.strictEqual(answer.stop, "cancelled by @octocat")

      yield* publish(taskId, [{ path: "plan.md", content: "half\n" }])
      yield* porter.callback(taskId, callbackEvent({ type: "completed", outcome: "pushed", checkpoint: true }))
      const ended = yield* taskOf(taskId)
      assert.strictEqual(ended.state, "cancelled")
      assert.strictEqual(ended.reason, "cancelled by @octocat")
      const status = yield* statusOf(taskId)
      assert.include(status, "⏹ Cancelled: cancelled by @octocat")
      assert.include(status, `**Work so far:** ${ended.prUrl}`)
    }).pipe(Effect.provide(layer(GRACE))))

  it.effect("a checkpoint's change set opens a draft pull request that says why the agent stopped", () =>
    Effect.gen(function*() {
      const taskId = yield* running()
      yield* say("@porter cancel")
      const task = yield* taskOf(taskId)
      const repos = yield* Repositories
      const branches = yield* repos.branches(task.repo)
      const base = branches.get("main") ??
        (yield* repos.seed(task.repo, { files: [{ path: "README.md", content: "# hello\n" }] }))
      yield* (yield* ChangeSets.ChangeSets).publish(taskId, {
        ...Fixtures.changeSet(base, [{ path: "plan.md", content: "half\n" }]),
        checkpoint: true
      })
      const [pull] = yield* repos.pullRequests(task.repo)
      assert.isTrue(pull!.draft === true)
      assert.include(pull!.body, "Work in progress: the agent was stopped (cancelled by @\u200boctocat)")
      assert.include(pull!.body, "`@porter continue`")
    }).pipe(Effect.provide(layer(GRACE))))

  it.effect("past the deadline the watchdog waits the grace period for the machine, then times the task out", () =>
    Effect.gen(function*() {
      const taskId = yield* running("@porter claude --timeout 10m write the plan")
      const watchdog = yield* Watchdog.Watchdog
      yield* TestClock.adjust("10 minutes")
      const porter = yield* Porter.Porter
      const answer = yield* porter.callback(taskId, callbackEvent({ type: "heartbeat" }))
      assert.include(answer.stop ?? "", "the time limit (10m 0s) ran out")
      yield* watchdog.sweep
      assert.strictEqual((yield* taskOf(taskId)).state, "running", "within the grace period")
      yield* TestClock.adjust("31 seconds")
      yield* watchdog.sweep
      const ended = yield* taskOf(taskId)
      assert.strictEqual(ended.state, "timed_out")
      assert.include(yield* statusOf(taskId), "⏱ `claude` timed out")
    }).pipe(Effect.provide(layer(GRACE))))

  it.effect("without a grace period (the in-memory default) a cancel ends the task at once", () =>
    Effect.gen(function*() {
      const taskId = yield* running()
      yield* say("@porter cancel")
      assert.strictEqual((yield* taskOf(taskId)).state, "cancelled")
    }).pipe(Effect.provide(layer(withKey))))
})

describe("@porter continue", () => {
  it.effect("afresh (no session kept): the latest task's branch, its summary in the prompt; the status says so", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const first = yield* running()
      const published = yield* publish(first)
      yield* porter.callback(
        first,
        callbackEvent({ type: "completed", outcome: "pushed", summary: "Wrote half of the plan." })
      )
      yield* say("@porter continue and finish it")
      // Both tasks were made at the same instant of the test clock: the continuation is the one that continues.
      const next = (yield* tasksOf()).find((t) => t.continuesFrom !== undefined)
      assert.strictEqual(next!.continuesFrom, first)
      assert.strictEqual(next!.headBranch, published.branch)
      assert.strictEqual(next!.instructions, "and finish it")
      assert.strictEqual(next!.resumed, "summary")
      const created = yield* (yield* Machines).created
      const env = created[created.length - 1]!.spec.env
      assert.isUndefined(env["RESUME_SESSION"])
      assert.strictEqual(env["BRANCH"], published.branch)
      assert.include(env["PROMPT"]!, `This continues Porter task ${first}`)
      assert.include(env["PROMPT"]!, "Wrote half of the plan.")
      yield* porter.callback(next!.id, callbackEvent({ type: "started" }))
      assert.include(yield* statusOf(next!.id), "started afresh with that task's summary and diff")
      assert.include(yield* auditKinds(next!.id), "continues")
    }).pipe(Effect.provide(layer(withKey))))

  it.effect("with the agent's kept session: resumed (RESUME_SESSION), the prompt only what is asked now", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const first = yield* running()
      yield* (yield* Artifacts.Artifacts).save(yield* taskOf(first), {
        kind: "session",
        name: "0f6d7c1e-2b4a-4f7e-9a51-3c1d2e4f5a6b",
        content: "{\"type\":\"user\"}\n"
      })
      yield* porter.callback(first, callbackEvent({ type: "completed", outcome: "no_changes" }))
      yield* say("@porter continue")
      // Both tasks were made at the same instant of the test clock: the continuation is the one that continues.
      const next = (yield* tasksOf()).find((t) => t.continuesFrom !== undefined)
      assert.strictEqual(next!.resumed, "session")
      assert.strictEqual(next!.instructions, Command.CONTINUE_INSTRUCTIONS)
      const created = yield* (yield* Machines).created
      const env = created[created.length - 1]!.spec.env
      assert.strictEqual(env["RESUME_SESSION"], "true")
      assert.include(env["PROMPT"]!, "Porter resumed this session")
      assert.notInclude(env["PROMPT"]!, "Rules for this run")
      yield* porter.callback(next!.id, callbackEvent({ type: "started" }))
      assert.include(yield* statusOf(next!.id), "resumed its session")
    }).pipe(Effect.provide(layer(withKey))))

  it.effect("on the pull request Porter opened for the issue's task: that task is the one continued", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const first = yield* running()
      const published = yield* publish(first)
      yield* porter.callback(first, callbackEvent({ type: "completed", outcome: "pushed", summary: "Half." }))
      yield* porter.handle(Fixtures.commentCreated({
        body: "@porter continue",
        issueNumber: published.pullRequest.number + 100,
        isPullRequest: true,
        pullRequest: new Event.PullRequestRef({ headBranch: published.branch, baseBranch: "main" })
      }))
      const next = (yield* tasksOf(published.pullRequest.number + 100))[0]
      assert.isDefined(next, "a task on the pull request")
      assert.strictEqual(next!.continuesFrom, first)
      assert.strictEqual(next!.headBranch, published.branch)
    }).pipe(Effect.provide(layer(withKey))))

  it.effect("a question's continuation is a question (read-only)", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const first = yield* running("@porter ask why does the parser reject ISO weeks?")
      yield* porter.callback(first, callbackEvent({ type: "completed", outcome: "no_changes", summary: "Because." }))
      yield* say("@porter continue and which test covers it?")
      const next = (yield* tasksOf()).find((t) => t.continuesFrom !== undefined)
      assert.strictEqual(next!.mode, "ask")
      const created = yield* (yield* Machines).created
      assert.strictEqual(created[created.length - 1]!.spec.env["TASK_MODE"], "ask")
    }).pipe(Effect.provide(layer(withKey))))

  it.effect("nothing to continue; a task still running must be cancelled first", () =>
    Effect.gen(function*() {
      yield* say("@porter continue")
      const taskId = yield* running()
      yield* say("@porter continue")
      const replies = (yield* thread()).map((c) => c.body)
      assert.isTrue(replies.some((b) => b.includes("Nothing to continue")))
      assert.isTrue(replies.some((b) => b.includes(`Task \`${taskId}\` is still running`)))
    }).pipe(Effect.provide(layer(withKey))))
})

describe("what Porter keeps of a run", () => {
  it.effect("kept for the retention period (artifactRetentionDays, global), then dropped by the sweep", () =>
    Effect.gen(function*() {
      const taskId = yield* running()
      yield* (yield* Artifacts.Artifacts).save(yield* taskOf(taskId), {
        kind: "transcript",
        name: "transcript.md",
        content: "said things"
      })
      yield* (yield* Settings.Settings).set({ _tag: "global" }, { artifactRetentionDays: 2 })
      const store = yield* ArtifactStore.ArtifactStore
      yield* TestClock.adjust("1 day")
      yield* (yield* Watchdog.Watchdog).sweep
      assert.isTrue(Option.isSome(yield* store.get(taskId, "transcript")))
      yield* TestClock.adjust("1 day")
      yield* TestClock.adjust("1 second")
      yield* (yield* Watchdog.Watchdog).sweep
      assert.isTrue(Option.isNone(yield* store.get(taskId, "transcript")))
    }).pipe(Effect.provide(layer(withKey))))

  it.effect("redacted before it is stored; a mirror that fails is audited and fails nothing", () =>
    Effect.gen(function*() {
      const taskId = yield* running()
      const artifacts = yield* Artifacts.Artifacts
      const url = yield* artifacts.save(yield* taskOf(taskId), {
        kind: "transcript",
        name: "transcript.md",
        content: `key ${ANTHROPIC_KEY}, token ghp_${"a".repeat(36)}, base64 ${btoa(ANTHROPIC_KEY)}`
      })
      assert.isTrue(Option.isNone(url))
      const kept = Option.getOrThrow(yield* (yield* ArtifactStore.ArtifactStore).get(taskId, "transcript"))
      assert.strictEqual(kept.content, "key [redacted], token [redacted], base64 [redacted]")
      assert.includeMembers(yield* auditKinds(taskId), ["artifact", "mirror_failed"])
    }).pipe(
      Effect.provide(
        layer(withKey).pipe(
          Layer.provide(
            Layer.effect(
              ArtifactStore.ArtifactMirror,
              Effect.map(InMemoryArtifactStore.make({ failWith: "GitHub is down" }), (store) => store)
            )
          )
        )
      )
    ))
})
