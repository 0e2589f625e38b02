/**
 * The whole flow on in-memory layers: what a user sees on the issue (the recorder's comments)
 * and where each task ends, for the happy path and every failure path.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Authorizer,
  Callback,
  Errors,
  type Ids,
  MachineProvisioner,
  Messages,
  Porter,
  SecretStore,
  Settings,
  TaskStore
} from "@porter/core"
import { Fixtures, GitHubRecorder, Machines, TestPorter } from "@porter/testing"
import { Effect, Fiber, Layer, Option, Redacted, Schema } from "effect"
import { TestClock } from "effect/testing"
import { publish } from "./support/Lifecycle.ts"

const ISSUE = "octo-org/hello-world#1"
const ANTHROPIC_KEY = "sk-ant-test-0123456789abcdefghij"
const withKey = { secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY }] }

const setup = (options: TestPorter.Options = withKey) => Effect.provide(TestPorter.layer(options))

/** Plays the runner of the newest machine: returns its task id and a callback function. */
const runnerOfLatestMachine = Effect.gen(function*() {
  const machines = yield* Machines
  const porter = yield* Porter.Porter
  const created = yield* machines.created
  const latest = created[created.length - 1]
  assert.isDefined(latest, "a machine was created")
  const taskId = latest!.spec.taskId
  // The HTTP API checks the token and decodes the body (see Api.test.ts); the lifecycle gets the decoded event.
  const call = (body: unknown) => porter.callback(taskId, Schema.decodeUnknownSync(Callback.CallbackEvent)(body))
  return { taskId, spec: latest!.spec, machine: latest!.machine, call }
})

const issueThread = (issue = ISSUE) => Effect.flatMap(GitHubRecorder, (recorder) => recorder.comments(issue))

const taskOf = (id: Ids.TaskId) => Effect.flatMap(TaskStore.TaskStore, (store) => store.get(id))

describe("Porter flow", () => {
  it.effect("happy path: comment → task → machine → callbacks → ✅ with the PR link", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const recorder = yield* GitHubRecorder
      const machines = yield* Machines
      const event = Fixtures.commentCreated({ body: "@porter claude make the date parser accept ISO weeks" })
      const intake = yield* porter.handle(event)
      assert.strictEqual(intake._tag, "Accepted")

      const runner = yield* runnerOfLatestMachine
      const env = runner.spec.env
      assert.strictEqual(env["TASK_ID"], runner.taskId)
      assert.strictEqual(env["REPO_FULL_NAME"], "octo-org/hello-world")
      assert.strictEqual(env["REPO_CLONE_URL"], `http://porter.test/git/tasks/${runner.taskId}`)
      assert.strictEqual(env["AGENT"], "claude")
      assert.strictEqual(env["ISSUE_NUMBER"], "1")
      assert.strictEqual(env["BASE_BRANCH"], "main")
      assert.strictEqual(env["CALLBACK_URL"], `http://porter.test/callbacks/tasks/${runner.taskId}`)
      assert.match(env["BRANCH"]!, /^porter\/1-[0-9a-z]{8}$/)
      assert.include(env["PROMPT"]!, "make the date parser accept ISO weeks")
      assert.include(env["PROMPT"]!, "Date parser rejects ISO weeks")
      // No provider key on the machine: the gateway's URL and the task's gateway credential instead.
      assert.deepStrictEqual(Object.keys(runner.spec.secretEnv).sort(), ["CALLBACK_TOKEN", "GATEWAY_TOKEN"])
      assert.strictEqual(env["MODEL_GATEWAY_URL"], `http://porter.test/gateway/tasks/${runner.taskId}`)
      assert.notInclude(JSON.stringify([env, Object.values(runner.spec.secretEnv).map(Redacted.value)]), ANTHROPIC_KEY)
      assert.strictEqual((yield* taskOf(runner.taskId)).state, "provisioning")

      assert.deepStrictEqual(yield* runner.call({ type: "started" }), { accepted: true, state: "running" })
      yield* TestClock.adjust("3 minutes")
      yield* runner.call({ type: "heartbeat", step: "agent" })
      const published = yield* publish(runner.taskId)
      assert.strictEqual(published.branch, env["BRANCH"])
      const answer = yield* runner.call({
        type: "completed",
        outcome: "pushed",
        summary: "The parser now accepts ISO week dates such as 2026-W05.",
        usage: { inputTokens: 12_345, outputTokens: 2_345, costUsd: 0.1234 }
      })
      assert.deepStrictEqual(answer, { accepted: true, state: "succeeded" })

      const task = yield* taskOf(runner.taskId)
      assert.strictEqual(task.state, "succeeded")
      assert.strictEqual(task.prUrl, "https://github.com/octo-org/hello-world/pull/1")
      assert.strictEqual(task.commitSha, published.commits[0])

      // Exactly one Porter comment, edited in place through the task's life.
      const thread = yield* issueThread()
      assert.strictEqual(thread.length, 1)
      const states = thread[0]!.versions.map((v) => Messages.parseMarker(v)?.state)
      assert.deepStrictEqual([...new Set(states)], ["queued", "provisioning", "running", "succeeded"])
      const final = thread[0]!.body
      assert.include(final, "✅")
      assert.include(final, "https://github.com/octo-org/hello-world/pull/1")
      assert.include(final, "accepts ISO week dates")
      assert.include(final, "12,345 input / 2,345 output tokens")
      assert.notInclude(final, ANTHROPIC_KEY)
      // One 👀 on the triggering comment; the machine is gone.
      const reactions = yield* recorder.reactions(ISSUE)
      assert.deepStrictEqual(reactions.map((r) => [r.reaction, r.target.commentId]), [["eyes", event.commentId]])
      assert.strictEqual((yield* machines.live).length, 0)
      // The audit trail has every step.
      const events = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.events(runner.taskId))
      const kinds = events.map((e) => e.kind)
      for (const kind of ["created", "dispatch", "machine", "callback", "machine_destroyed"]) {
        assert.include(kinds, kind)
      }
    }).pipe(setup()))

  it.effect("a duplicate delivery makes one task", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      const answers = yield* Effect.all([porter.handle(event), porter.handle(event), porter.handle(event)])
      assert.deepStrictEqual(answers.map((a) => a._tag), ["Accepted", "Ignored", "Ignored"])
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
      assert.strictEqual(
        (yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.listByIssue("octo-org/hello-world", 1, 10))).length,
        1
      )
      assert.strictEqual((yield* issueThread()).length, 1)
    }).pipe(setup()))

  it.effect("an unauthorized commenter gets a polite refusal and no task", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const stranger = Fixtures.actor("stranger", 4242)
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude delete everything", author: stranger }))
      const thread = yield* issueThread()
      assert.strictEqual(thread.length, 1)
      assert.include(thread[0]!.body, "Sorry @stranger")
      assert.include(thread[0]!.body, "write access")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      assert.strictEqual(
        yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.countActive({ repo: "octo-org/hello-world" })),
        0
      )
    }).pipe(setup({ ...withKey, authorizer: Authorizer.layerTable({ octocat: "admin", stranger: "read" }) })))

  it.effect("a near-miss agent name asks 'did you mean' and runs nothing", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claud fix the flaky test" }))
      const thread = yield* issueThread()
      assert.strictEqual(thread.length, 1)
      assert.include(thread[0]!.body, "Did you mean `claude`?")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
    }).pipe(setup()))

  it.effect("an unknown first word runs the default agent with the whole text", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter please make CI green" }))
      const runner = yield* runnerOfLatestMachine
      assert.strictEqual(runner.spec.env["AGENT"], "claude")
      assert.include(runner.spec.env["PROMPT"]!, "please make CI green")
    }).pipe(setup()))

  it.effect("a missing agent secret fails the task with a message naming the key, without a machine", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter codex add a --json flag" }))
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      const [task] = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.listByIssue("octo-org/hello-world", 1, 1))
      assert.strictEqual(task!.state, "failed")
      const body = (yield* issueThread())[0]!.body
      assert.include(body, "❌")
      assert.include(body, "`OPENAI_API_KEY`")
      assert.include(body, "porter secrets set OPENAI_API_KEY")
    }).pipe(setup({ ...withKey, agentKeys: {} })))

  it.effect("a provisioning failure fails the task and says why", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      yield* machines.inject({
        op: "create",
        error: new Errors.ProvisionError({
          reason: "unauthorized",
          message: "Fly rejected the API token (401); set FLY_API_TOKEN"
        })
      })
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const [task] = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.listByIssue("octo-org/hello-world", 1, 1))
      assert.strictEqual(task!.state, "failed")
      const body = (yield* issueThread())[0]!.body
      assert.include(body, "could not start a machine")
      assert.include(body, "set FLY_API_TOKEN")
    }).pipe(setup()))

  it.effect("an agent failure ends ❌ with the reason and the log tail", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const runner = yield* runnerOfLatestMachine
      yield* runner.call({ type: "started" })
      const answer = yield* runner.call({
        type: "completed",
        outcome: "agent_failed",
        error: "claude exited with code 1",
        logTail: "line 1\nError: model overloaded\n```"
      })
      assert.deepStrictEqual(answer, { accepted: true, state: "failed" })
      const body = (yield* issueThread())[0]!.body
      assert.include(body, "❌")
      assert.include(body, "claude exited with code 1")
      assert.include(body, "Error: model overloaded")
      assert.include(body, "````", "the fence is longer than any backtick run in the log")
      assert.strictEqual((yield* (yield* Machines).live).length, 0)
    }).pipe(setup()))

  it.effect("a lost callback: the watchdog ends the task ⏱ and destroys its machine", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const runner = yield* runnerOfLatestMachine
      yield* runner.call({ type: "started" })
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual((yield* porter.sweep).timedOut, 0, "heartbeat still fresh enough")
      yield* TestClock.adjust("2 minutes")
      const report = yield* porter.sweep
      assert.strictEqual(report.timedOut, 1)
      assert.strictEqual((yield* taskOf(runner.taskId)).state, "timed_out")
      assert.strictEqual((yield* (yield* Machines).live).length, 0)
      const body = (yield* issueThread())[0]!.body
      assert.include(body, "⏱")
      assert.include(body, "stopped reporting")
    }).pipe(setup()))

  it.effect("the deadline ends a task even with heartbeats", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude --timeout 10m fix it" }))
      const runner = yield* runnerOfLatestMachine
      yield* runner.call({ type: "started" })
      for (let i = 0; i < 11; i++) {
        yield* TestClock.adjust("1 minute")
        yield* runner.call({ type: "heartbeat" }).pipe(Effect.ignore)
        yield* porter.sweep
      }
      const task = yield* taskOf(runner.taskId)
      assert.strictEqual(task.state, "timed_out")
      assert.include(task.reason!, "time limit (10m 0s)")
    }).pipe(setup()))

  it.effect("a late callback after a timeout is refused and changes nothing", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const runner = yield* runnerOfLatestMachine
      yield* runner.call({ type: "started" })
      yield* TestClock.adjust("31 minutes")
      yield* porter.sweep
      const before = (yield* issueThread())[0]!.body
      const answer = yield* runner.call({ type: "completed", outcome: "pushed" })
      assert.deepStrictEqual(answer, { accepted: false, state: "timed_out", message: "task is already timed_out" })
      const task = yield* taskOf(runner.taskId)
      assert.strictEqual(task.state, "timed_out")
      assert.isUndefined(task.prUrl)
      assert.strictEqual((yield* issueThread())[0]!.body, before)
    }).pipe(setup()))

  it.effect("@porter cancel stops the issue's running task ⏹ and destroys its machine", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const runner = yield* runnerOfLatestMachine
      yield* runner.call({ type: "started" })
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter cancel" }))
      assert.strictEqual((yield* taskOf(runner.taskId)).state, "cancelled")
      assert.strictEqual((yield* (yield* Machines).live).length, 0)
      const thread = yield* issueThread()
      assert.include(thread[0]!.body, "⏹ Cancelled: cancelled by @octocat")
      assert.include(thread[1]!.body, "Cancelled 1 task")
      const late = yield* runner.call({ type: "heartbeat" })
      assert.isFalse(late.accepted, "the runner learns the task ended")
    }).pipe(setup()))

  it.effect("closing the issue cancels its active tasks", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const runner = yield* runnerOfLatestMachine
      const intake = yield* porter.handle(Fixtures.issueClosed())
      assert.strictEqual(intake._tag, "Accepted")
      const task = yield* taskOf(runner.taskId)
      assert.strictEqual(task.state, "cancelled")
      assert.include(task.reason!, "closed by @octocat")
      const closedAgain = yield* porter.handle(Fixtures.issueClosed())
      assert.deepStrictEqual(closedAgain, { _tag: "Ignored", reason: "no active task on this issue" })
    }).pipe(setup()))

  it.effect("over the concurrency limits requests wait in the queue, with their place, and start in order", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      const settings = yield* Settings.Settings
      yield* settings.set({ _tag: "repository", repo: "octo-org/hello-world" }, { maxActivePerRepo: 2 })
      for (const n of [1, 2, 3, 4]) {
        yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it", issueNumber: n }))
        yield* TestClock.adjust("1 second")
      }
      assert.strictEqual((yield* machines.created).length, 2)
      assert.include((yield* issueThread("octo-org/hello-world#3"))[0]!.body, "number 1 in this repository's queue")
      assert.include((yield* issueThread("octo-org/hello-world#4"))[0]!.body, "number 2 in this repository's queue")
      // The first run ends: the oldest waiting request (issue 3) takes its slot, issue 4 still waits.
      const first = (yield* machines.created)[0]!
      yield* porter.callback(
        first.spec.taskId,
        Schema.decodeUnknownSync(Callback.CallbackEvent)({
          type: "completed",
          outcome: "no_changes"
        })
      )
      const created = yield* machines.created
      assert.strictEqual(created.length, 3)
      const third = yield* taskOf(created[2]!.spec.taskId)
      assert.strictEqual(third.issueNumber, 3)
      // The per-user limit: a user at it waits, another user runs.
      yield* settings.set({ _tag: "repository", repo: "octo-org/hello-world" }, {
        maxActivePerRepo: 10,
        maxActivePerUser: 3
      })
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it", issueNumber: 5 }))
      assert.strictEqual((yield* machines.created).length, 4, "issue 4 was admitted first, oldest first")
      assert.include((yield* issueThread("octo-org/hello-world#5"))[0]!.body, "in this repository's queue")
      yield* porter.handle(
        Fixtures.commentCreated({ body: "@porter claude fix it", issueNumber: 6, author: Fixtures.actor("hubot", 77) })
      )
      assert.strictEqual((yield* machines.created).length, 5, "another user may still run")
    }).pipe(setup()))

  it.effect("help, status and retry answer on the issue", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter help" }))
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter retry" }))
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude --model opus fix it" }))
      const first = yield* runnerOfLatestMachine
      yield* first.call({ type: "completed", outcome: "error", error: "clone failed" })
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter status" }))
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter retry" }))
      const second = yield* runnerOfLatestMachine
      assert.notStrictEqual(second.taskId, first.taskId)
      assert.strictEqual(second.spec.env["MODEL"], "opus")
      assert.include(second.spec.env["PROMPT"]!, "fix it")
      const thread = (yield* issueThread()).map((c) => c.body)
      assert.include(thread[0]!, "`@porter <agent> [--model <id>]")
      assert.include(thread[1]!, "Nothing to retry")
      assert.include(thread.find((b) => b.includes("| task |"))!, first.taskId)
    }).pipe(setup()))

  it.effect("quoted and fenced mentions, bots and Porter's own comments never trigger", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const ignored = [
        Fixtures.commentCreated({ body: "> @porter claude fix it\nI agree with this" }),
        Fixtures.commentCreated({ body: "```\n@porter claude fix it\n```" }),
        Fixtures.commentCreated({
          body: "@porter claude fix it",
          author: Fixtures.actor("dependabot[bot]", 49699333, "Bot")
        }),
        Fixtures.commentCreated({ body: "@porter claude fix it\n<!-- porter:reply -->" }),
        Fixtures.commentCreated({ body: "cc @porter claude" })
      ]
      for (const event of ignored) assert.strictEqual((yield* porter.handle(event))._tag, "Ignored")
      assert.strictEqual((yield* issueThread()).length, 0)
    }).pipe(setup()))

  it.effect("a failing reporter is retried and never changes the task's outcome", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const recorder = yield* GitHubRecorder
      yield* recorder.failNext("comment", 1)
      yield* recorder.failNext("react", 10)
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const runner = yield* runnerOfLatestMachine
      yield* recorder.failNext("editComment", 100)
      yield* publish(runner.taskId)
      yield* runner.call({ type: "completed", outcome: "pushed" })
      assert.strictEqual((yield* taskOf(runner.taskId)).state, "succeeded")
      const events = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.events(runner.taskId))
      assert.isTrue(events.some((e) => e.kind === "report_failed"), "the failure is in the audit trail")
      assert.strictEqual((yield* issueThread()).length, 1, "the retried comment was created once")
    }).pipe(setup()))

  it.effect("the dispatch goes on while the issue is acknowledged; the machine waits for the status comment", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const recorder = yield* GitHubRecorder
      const machines = yield* Machines
      // The first status comment and the 👀 fail at first: each is retried after ≥ 800 ms (jittered backoff).
      yield* recorder.failNext("comment", 1)
      yield* recorder.failNext("react", 1)
      const handling = yield* Effect.forkChild(
        porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      )
      yield* TestClock.adjust("100 millis")
      // Let the forked handling run as far as it can without the clock moving on.
      const latest = Effect.map(
        Effect.flatMap(TaskStore.TaskStore, (s) => s.listByIssue("octo-org/hello-world", 1, 1)),
        (tasks) => tasks[0]
      )
      const task = yield* Effect.andThen(Effect.yieldNow, latest).pipe(
        Effect.repeat({ until: (t) => t?.state === "provisioning", times: 500 })
      )
      assert.strictEqual(task?.state, "provisioning", "secrets, token and prompt did not wait for the acknowledgment")
      assert.strictEqual((yield* issueThread()).length, 0)
      assert.strictEqual((yield* machines.created).length, 0, "no machine before its status comment exists")
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(handling)
      assert.strictEqual((yield* machines.created).length, 1)
      const thread = yield* issueThread()
      assert.strictEqual(thread.length, 1, "one status comment")
      assert.deepStrictEqual([...new Set(thread[0]!.versions.map((v) => Messages.parseMarker(v)?.state))], [
        "queued",
        "provisioning"
      ])
      assert.strictEqual((yield* recorder.reactions(ISSUE)).length, 1)
    }).pipe(setup({ ...withKey, config: { reportRetry: { times: 2, baseDelayMs: 1_000 } } })))

  it.effect("the first dispatch does not ask the provider for the task's machine; a later attempt does, and waits when it cannot tell", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      const provisioner = yield* MachineProvisioner.MachineProvisioner
      const unavailable = new Errors.ProvisionError({ reason: "unavailable", message: "try later" })
      yield* machines.inject({ op: "findByTask", error: unavailable }, { op: "create", error: unavailable })
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const [task] = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.listByIssue("octo-org/hello-world", 1, 1))
      assert.strictEqual(task!.dispatchAttempts, 1)
      // The findByTask fault is still pending (this call uses it up): the first attempt never asked.
      assert.strictEqual((yield* Effect.flip(provisioner.findByTask(task!.id)))._tag, "ProvisionError")
      yield* machines.inject({ op: "findByTask", error: unavailable })
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual((yield* porter.sweep).redispatched, 1)
      // The second attempt asked and could not tell: it made no machine (a second one could have been made), and
      // the task waits for the next sweep.
      assert.strictEqual((yield* machines.created).length, 0)
      assert.strictEqual((yield* taskOf(task!.id)).dispatchAttempts, 2)
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual((yield* porter.sweep).redispatched, 1)
      // The third asked, learned there is none, and created it.
      const found = yield* provisioner.findByTask(task!.id)
      assert.strictEqual(Option.getOrThrow(found).id, (yield* machines.created)[0]!.machine.id)
      assert.strictEqual((yield* machines.created).length, 1)
      assert.strictEqual((yield* taskOf(task!.id)).dispatchAttempts, 3)
    }).pipe(setup()))

  it.effect("a lost create answer: the sweep finds the machine instead of making a second one", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      // The create succeeds on the provider, but the answer is lost (a transient error after retries).
      yield* machines.inject({
        op: "create",
        lostAnswer: true,
        error: new Errors.ProvisionError({ reason: "unavailable", message: "connection reset" })
      })
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const [task] = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.listByIssue("octo-org/hello-world", 1, 1))
      assert.strictEqual(task!.state, "provisioning", "a transient failure leaves the task to the sweep")
      assert.isUndefined(task!.machineId)
      yield* TestClock.adjust("4 minutes")
      const report = yield* porter.sweep
      assert.strictEqual(report.redispatched, 1)
      assert.strictEqual((yield* machines.created).length, 1, "no second machine")
      const after = yield* taskOf(task!.id)
      assert.strictEqual(after.machineId, (yield* machines.created)[0]!.machine.id)
      const runner = yield* runnerOfLatestMachine
      yield* publish(runner.taskId)
      yield* runner.call({ type: "completed", outcome: "pushed" })
      assert.strictEqual((yield* taskOf(task!.id)).state, "succeeded")
    }).pipe(setup()))

  it.effect("a machine left behind by a failed task is destroyed as an orphan", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      yield* machines.inject({
        op: "create",
        lostAnswer: true,
        error: new Errors.ProvisionError({ reason: "bad_config", message: "guest.memory_mb is too large" })
      })
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const [task] = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.listByIssue("octo-org/hello-world", 1, 1))
      assert.strictEqual(task!.state, "failed")
      assert.include((yield* issueThread())[0]!.body, "guest.memory_mb is too large")
      assert.strictEqual((yield* machines.live).length, 1)
      yield* TestClock.adjust("11 minutes")
      assert.strictEqual((yield* porter.sweep).orphansDestroyed, 1)
      assert.strictEqual((yield* machines.live).length, 0)
    }).pipe(setup()))

  it.effect("a task whose dispatcher died is dispatched again by the sweep, once", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      // Record the delivery as if the isolate died right after answering the webhook.
      const intake = yield* porter.intake(event)
      assert.strictEqual(intake._tag, "Accepted")
      assert.strictEqual((yield* machines.created).length, 0)
      yield* TestClock.adjust("3 minutes")
      const report = yield* porter.sweep
      assert.strictEqual(report.deliveriesRetried, 1)
      assert.strictEqual((yield* machines.created).length, 1)
      yield* TestClock.adjust("3 minutes")
      yield* porter.sweep
      assert.strictEqual((yield* machines.created).length, 1, "a retried delivery never makes a second task or machine")
      assert.strictEqual((yield* store.listByIssue("octo-org/hello-world", 1, 10)).length, 1)
    }).pipe(setup()))

  it.effect("a machine that failed to launch is replaced by the sweep, and removed", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const machines = yield* Machines
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const first = yield* runnerOfLatestMachine
      yield* machines.kill(first.machine.id)
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual((yield* porter.sweep).redispatched, 1)
      const second = yield* runnerOfLatestMachine
      assert.notStrictEqual(second.machine.id, first.machine.id)
      assert.deepStrictEqual((yield* machines.live).map((m) => m.id), [second.machine.id], "the failed one is gone")
      assert.strictEqual((yield* taskOf(first.taskId)).machineId, second.machine.id)
    }).pipe(setup()))

  it.effect("a retried delivery resumes its task even when its author is at the limit", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const settings = yield* Settings.Settings
      yield* settings.set({ _tag: "global" }, { maxActivePerUser: 1 })
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      const intake = yield* porter.intake(event)
      assert.strictEqual(intake._tag, "Accepted")
      if (intake._tag !== "Accepted") return
      yield* porter.process(event, intake.receivedAt)
      // The sweep handles the same delivery again (as if the first handler had died after recording the task).
      yield* porter.process(event, intake.receivedAt)
      const thread = yield* issueThread()
      assert.strictEqual(thread.length, 1, "no 'limit reached' reply, no second status comment")
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
    }).pipe(setup()))

  it.effect("a comment on a pull request continues on its branch, but never on a fork's", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const recorder = yield* GitHubRecorder
      yield* recorder.seedPullRequest("octo-org/hello-world", 7, {
        headBranch: "feature/weeks",
        headRepoFullName: "octo-org/hello-world",
        baseBranch: "develop",
        state: "open"
      })
      yield* recorder.seedPullRequest("octo-org/hello-world", 8, {
        headBranch: "main",
        headRepoFullName: "someone/hello-world",
        baseBranch: "develop",
        state: "open"
      })
      yield* porter.handle(
        Fixtures.commentCreated({ body: "@porter claude fix the review", issueNumber: 7, isPullRequest: true })
      )
      const own = yield* runnerOfLatestMachine
      assert.strictEqual(own.spec.env["HEAD_BRANCH"], "feature/weeks")
      assert.strictEqual(own.spec.env["BRANCH"], "feature/weeks")
      assert.strictEqual(own.spec.env["BASE_BRANCH"], "develop")
      yield* porter.handle(
        Fixtures.commentCreated({ body: "@porter claude fix the review", issueNumber: 8, isPullRequest: true })
      )
      const fork = yield* runnerOfLatestMachine
      assert.isUndefined(fork.spec.env["HEAD_BRANCH"], "a fork's branch is never pushed to")
      assert.match(fork.spec.env["BRANCH"]!, /^porter\/8-/)
      assert.strictEqual(fork.spec.env["BASE_BRANCH"], "develop")
    }).pipe(setup()))

  it.effect("secret values never reach a comment", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      const recorder = yield* GitHubRecorder
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it" }))
      const runner = yield* runnerOfLatestMachine
      const token = Redacted.value(runner.spec.secretEnv["CALLBACK_TOKEN"]!)
      yield* runner.call({ type: "completed", outcome: "agent_failed", logTail: "done" })
      const text = (yield* recorder.allText).join("\n")
      for (const secret of [ANTHROPIC_KEY, token, Redacted.value(TestPorter.GITHUB_TOKEN)]) {
        assert.notInclude(text, secret)
      }
      const task = yield* taskOf(runner.taskId)
      assert.notInclude(JSON.stringify(task), ANTHROPIC_KEY)
      assert.isTrue(Option.isSome(Option.some(task)))
    }).pipe(setup()))
})
