/**
 * Dispatcher: from a run request to a task within the limits, acknowledged on the issue, and one machine whose
 * environment the runner can decode; what it does when the request cannot be run (limits, a missing key, a branch
 * git refuses); `retry` and `redispatch`; and the status comment, written once per state.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Command,
  Dispatcher,
  Errors,
  Event,
  IssueReader,
  MachineEnv,
  Messages,
  Settings,
  Task,
  TaskLifecycle,
  TaskStore,
  TaskTokens
} from "@porter/core"
import { Fixtures, GitHubRecorder, Machines, TestPorter } from "@porter/testing"
import { Effect, Fiber, Layer, Option, Redacted, Schema } from "effect"
import { TestClock } from "effect/testing"
import {
  alice,
  ANTHROPIC_KEY,
  auditKinds,
  callbackEvent,
  ISSUE,
  layer,
  publish,
  REPO,
  runRequest,
  START,
  storedTask,
  taskOf,
  tasksOf,
  thread,
  withKey
} from "./support/Lifecycle.ts"

const decodeEnv = Schema.decodeUnknownSync(MachineEnv.MachineEnv)

const settingsWith = (patch: Partial<ConstructorParameters<typeof Settings.RepoSettings>[0]>) =>
  new Settings.RepoSettings({ ...Settings.defaults, ...patch })

/** Runs `check` until `done` holds for its result, letting real time pass in between (at most about 5 s). */
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  check.pipe(
    Effect.flatMap((a) =>
      done(a)
        ? Effect.succeed(a)
        : Effect.andThen(TestClock.withLive(Effect.sleep("5 millis")), Effect.fail("not yet" as const))
    ),
    Effect.retry({ times: 1_000 }),
    Effect.orDie
  )

/** The states a status comment showed, one entry per write. */
const statesShown = (versions: ReadonlyArray<string>) => versions.map((v) => Messages.parseMarker(v)?.state)

describe("Dispatcher.start", () => {
  it.effect("records one task, acknowledges it and starts one machine with the environment the runner decodes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const dispatcher = yield* Dispatcher.Dispatcher
      const machines = yield* Machines
      const recorder = yield* GitHubRecorder
      const event = Fixtures.commentCreated({
        body: "@porter claude --model opus --timeout 10m make the date parser accept ISO weeks"
      })
      const run = new Command.Run({
        agent: "claude",
        model: "opus",
        timeoutMs: 10 * 60_000,
        instructions: "make the date parser accept ISO weeks"
      })
      yield* dispatcher.start(yield* runRequest({ event, run }))

      const tasks = yield* tasksOf()
      assert.strictEqual(tasks.length, 1)
      const task = tasks[0]!
      const created = yield* machines.created
      assert.strictEqual(created.length, 1)
      const { machine, spec } = created[0]!
      assert.strictEqual(spec.taskId, task.id)
      assert.strictEqual(task.state, "provisioning")
      assert.strictEqual(task.machineId, machine.id)
      assert.strictEqual(task.dispatchAttempts, 1)
      assert.strictEqual(task.deadlineAt, START + 10 * 60_000)

      const env = decodeEnv(spec.env)
      assert.include(env.PROMPT, "make the date parser accept ISO weeks")
      assert.include(env.PROMPT, "Parsing `2026-W05` fails.", "the issue's body")
      assert.deepStrictEqual({ ...env, PROMPT: "…" }, {
        TASK_ID: task.id,
        REPO_FULL_NAME: REPO,
        REPO_CLONE_URL: `http://porter.test/git/tasks/${task.id}`,
        BASE_BRANCH: "main",
        BRANCH: `porter/1-${task.id.slice(-8)}`,
        ISSUE_NUMBER: 1,
        ISSUE_TITLE: "Date parser rejects ISO weeks",
        AGENT: "claude",
        PROMPT: "…",
        MODEL: "opus",
        CALLBACK_URL: `http://porter.test/callbacks/tasks/${task.id}`,
        MODEL_GATEWAY_URL: `http://porter.test/gateway/tasks/${task.id}`,
        TASK_DEADLINE: "2026-03-02T09:10:00.000Z",
        HEARTBEAT_INTERVAL_MS: 30_000,
        REQUESTED_BY: "octocat"
      })
      // Secrets travel as secret variables only, and never in the plain environment; no GitHub token at all, and no
      // provider key: the task token and the gateway credential (Porter's gateway attaches the key).
      assert.deepStrictEqual(Object.keys(spec.secretEnv).sort(), ["CALLBACK_TOKEN", "GATEWAY_TOKEN"])
      const tokens = yield* TaskTokens.TaskTokens
      const callbackToken = yield* tokens.issue(task.id)
      assert.strictEqual(Redacted.value(spec.secretEnv["CALLBACK_TOKEN"]!), Redacted.value(callbackToken))
      const gatewayToken = yield* tokens.issue(task.id, "gateway")
      assert.strictEqual(Redacted.value(spec.secretEnv["GATEWAY_TOKEN"]!), Redacted.value(gatewayToken))
      const plain = JSON.stringify(spec.env)
      for (const secret of [ANTHROPIC_KEY, Redacted.value(callbackToken), Redacted.value(TestPorter.GITHUB_TOKEN)]) {
        assert.notInclude(plain, secret)
      }
      assert.notInclude(JSON.stringify(Object.values(spec.secretEnv).map(Redacted.value)), ANTHROPIC_KEY)
      assert.isUndefined(spec.credential, "no per-owner credential for this provisioner")

      // Acknowledged: 👀 on the asking comment and one status comment.
      assert.deepStrictEqual((yield* recorder.reactions(ISSUE)).map((r) => [r.reaction, r.target.commentId]), [[
        "eyes",
        event.commentId
      ]])
      const comments = yield* thread()
      assert.strictEqual(comments.length, 1)
      assert.strictEqual(task.statusCommentId, comments[0]!.id)
      const kinds = yield* auditKinds(task.id)
      for (const kind of ["created", "dispatch", "machine", "secrets"]) assert.include(kinds, kind)
      // The audit trail says whose key ran (scope and name), never the value.
      const trail = yield* Effect.flatMap(TaskStore.TaskStore, (store) => store.events(task.id))
      assert.strictEqual(trail.find((e) => e.kind === "secrets")?.detail, "ANTHROPIC_API_KEY from global")
      assert.notInclude(JSON.stringify(trail), ANTHROPIC_KEY)
    }).pipe(Effect.provide(layer())))

  it.effect("reads .github/porter.yml once: the request's checks and its machine (setup, instructions) share the read", () =>
    Effect.gen(function*() {
      const recorder = yield* GitHubRecorder
      yield* recorder.seedFile(REPO, ".github/porter.yml", "setup:\n  - npm ci\ninstructions: docs/agents.md\n")
      yield* recorder.seedFile(REPO, "docs/agents.md", "Run the linter before you commit.")
      yield* (yield* Dispatcher.Dispatcher).start(yield* runRequest({}))

      const created = yield* (yield* Machines).created
      assert.strictEqual(created.length, 1)
      const env = decodeEnv(created[0]!.spec.env)
      assert.deepStrictEqual(env.SETUP_COMMANDS, ["npm ci"])
      assert.include(env.PROMPT, "Run the linter before you commit.")
      // Two file reads: the configuration, once, and the instructions it names.
      assert.strictEqual(yield* recorder.calls("file"), 2)
    }).pipe(Effect.provide(layer())))

  it.effect("over the repository's limit: the request waits in the queue, saying so, and starts when a slot frees", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const running = yield* storedTask({ issueNumber: 2, requestedBy: alice, state: "running", startedAt: START })
      yield* dispatcher.start(yield* runRequest())
      const [task] = yield* tasksOf()
      assert.strictEqual(task!.state, "queued")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      assert.strictEqual((yield* (yield* GitHubRecorder).reactions(ISSUE)).length, 1, "👀: the request was heard")
      const [comment] = yield* thread()
      assert.include(comment!.body, "number 1 in this repository's queue")
      assert.strictEqual(Messages.parseMarker(comment!.body)?.state, "queued")
      // The running task ends: its slot goes to the queued one.
      yield* (yield* TaskLifecycle.TaskLifecycle).finish(running, "succeeded", { outcome: "no_changes" })
      assert.strictEqual((yield* taskOf(task!.id)).state, "provisioning")
      assert.deepStrictEqual((yield* (yield* Machines).created).map((c) => c.spec.taskId), [task!.id])
      assert.deepStrictEqual(statesShown((yield* thread())[0]!.versions), ["queued", "queued", "provisioning"])
    }).pipe(Effect.provide(layer({ ...withKey, settings: settingsWith({ maxActivePerRepo: 1 }) }))))

  it.effect("over the user's limit: the user's request waits; another user's runs", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      yield* storedTask({ issueNumber: 2, state: "running", startedAt: START })
      yield* dispatcher.start(yield* runRequest())
      yield* dispatcher.start(
        yield* runRequest({
          event: Fixtures.commentCreated({ body: "@porter claude fix it", author: alice, issueNumber: 3 })
        })
      )
      const states = (yield* tasksOf()).map((t) => t.state)
      assert.deepStrictEqual(states, ["queued"])
      assert.deepStrictEqual((yield* tasksOf(3)).map((t) => t.state), ["provisioning"])
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
    }).pipe(Effect.provide(layer({ ...withKey, settings: settingsWith({ maxActivePerUser: 1 }) }))))

  it.effect("a follow-up on an issue with a running task waits for it, then runs", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      yield* dispatcher.start(yield* runRequest())
      yield* TestClock.adjust("1 second")
      yield* dispatcher.start(yield* runRequest({ event: Fixtures.commentCreated({ body: "@porter claude more" }) }))
      const [second, first] = yield* tasksOf()
      assert.deepStrictEqual([first!.state, second!.state], ["provisioning", "queued"])
      yield* (yield* TaskLifecycle.TaskLifecycle).callback(
        first!.id,
        callbackEvent({ type: "completed", outcome: "no_changes" })
      )
      assert.strictEqual((yield* taskOf(second!.id)).state, "provisioning")
      assert.strictEqual((yield* (yield* Machines).created).length, 2)
    }).pipe(Effect.provide(layer())))

  it.effect("the same comment under two delivery ids (an App's hook and a repository's): one task", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const event = Fixtures.commentCreated({ body: "@porter claude fix it", commentId: 777 })
      yield* dispatcher.start(yield* runRequest({ event }))
      yield* dispatcher.start(
        yield* runRequest({ event: new Event.CommentCreated({ ...event, deliveryId: Fixtures.deliveryId() }) })
      )
      const tasks = yield* tasksOf()
      assert.strictEqual(tasks.length, 1)
      assert.strictEqual(tasks[0]!.requestKey, "comment:issue_comment:777")
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
      assert.strictEqual((yield* thread()).length, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("the same request twice (same delivery, same receipt time): one task, one machine, one acknowledgement", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const request = yield* runRequest()
      yield* dispatcher.start(request)
      yield* TestClock.adjust("2 minutes")
      yield* dispatcher.start(request)
      assert.strictEqual((yield* tasksOf()).length, 1)
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
      assert.strictEqual((yield* thread()).length, 1)
      assert.strictEqual((yield* (yield* GitHubRecorder).reactions(ISSUE)).length, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("a missing agent key: the task fails, and the issue says which variable, where to set it, how to retry", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const settings = settingsWith({ mentionName: "bot" })
      yield* dispatcher.start(
        yield* runRequest({ settings, event: Fixtures.commentCreated({ body: "@bot claude fix it" }) })
      )
      const [task] = yield* tasksOf()
      assert.strictEqual(task!.state, "failed")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      const body = (yield* thread())[0]!.body
      assert.include(body, "❌")
      assert.include(body, "`ANTHROPIC_API_KEY`")
      assert.include(body, `porter secrets set ANTHROPIC_API_KEY --scope repository:${REPO}`)
      assert.include(body, "`@bot retry`")
      assert.notInclude(body, "@porter retry")
      assert.include(task!.reason!, "ANTHROPIC_API_KEY")
    }).pipe(Effect.provide(layer({ secrets: [], agentKeys: {}, settings: settingsWith({ mentionName: "bot" }) }))))

  it.effect("a pull request branch git would refuse: failed with a clear reason, no machine", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const event = Fixtures.commentCreated({
        body: "@porter claude fix the review",
        issueNumber: 7,
        isPullRequest: true,
        pullRequest: new Event.PullRequestRef({
          headBranch: "feature..weeks",
          headRepoFullName: REPO,
          baseBranch: "main"
        })
      })
      yield* dispatcher.start(yield* runRequest({ event }))
      const [task] = yield* tasksOf(7)
      assert.strictEqual(task!.state, "failed")
      assert.include(task!.reason!, "the machine cannot be started for this request")
      assert.include(task!.reason!, "a git branch name")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      const body = (yield* thread(`${REPO}#7`))[0]!.body
      assert.include(body, "❌")
      assert.include(body, "the machine cannot be started for this request")
    }).pipe(Effect.provide(layer())))

  it.effect("a huge thread: the prompt stays within MAX_PROMPT_LENGTH and keeps the instruction", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const instruction = "make the date parser accept ISO weeks such as 2026-W05"
      const event = Fixtures.commentCreated({ body: `@porter claude ${instruction}`, issueBody: "B".repeat(20_000) })
      yield* dispatcher.start(
        yield* runRequest({ event, run: new Command.Run({ agent: "claude", instructions: instruction }) })
      )
      const created = yield* (yield* Machines).created
      assert.strictEqual(created.length, 1, "the machine was started")
      const prompt = decodeEnv(created[0]!.spec.env).PROMPT
      assert.isAtMost(prompt.length, MachineEnv.MAX_PROMPT_LENGTH)
      assert.isAtMost(prompt.length, 65_536)
      assert.include(prompt, instruction)
      assert.include(prompt, "comment 39 ", "the newest comment is kept")
      assert.notInclude(prompt, "comment 0 ", "the oldest comment went first")
    }).pipe(Effect.provide(layer(
      withKey,
      Layer.succeed(
        IssueReader.IssueReader,
        IssueReader.IssueReader.of({
          issue: () =>
            Effect.succeed(new Event.IssueSnapshot({ title: "Huge", body: "b".repeat(20_000), state: "open" })),
          file: () => Effect.succeedNone,
          // Ignores the limit it is given: 40 long comments.
          thread: () =>
            Effect.succeed(Array.from({ length: 40 }, (_, i) => {
              const head = `comment ${i} `
              return {
                author: `user${i}`,
                authorIsBot: false,
                body: head + "c".repeat(4_000 - head.length),
                createdAt: `2026-03-01T10:${String(i).padStart(2, "0")}:00Z`
              }
            })),
          pullRequest: () => Effect.fail(new Errors.ReportError({ message: "not a pull request", status: 404 })),
          checkRuns: () => Effect.succeed([]),
          checkLog: () => Effect.succeed("")
        })
      )
    ))))

  it.effect("a task cancelled while its machine is being created: the machine is destroyed at once", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const machines = yield* Machines
      yield* machines.inject({ op: "create", delayMs: 5_000 })
      const starting = yield* Effect.forkChild(dispatcher.start(yield* runRequest()))
      // The dispatch awaits WebCrypto (the task id, the callback token): wait in real time until it has begun.
      const task = yield* eventually(Effect.map(tasksOf(), ([latest]) => latest), (t) => t?.state === "provisioning")
      assert.isTrue(yield* (yield* TaskLifecycle.TaskLifecycle).cancelTask(task!.id, "cancelled by @octocat"))
      // The machine is created only now (5 s later on the test clock), for a task that has ended.
      yield* eventually(
        Effect.andThen(TestClock.adjust("1 second"), Effect.sync(() => starting.pollUnsafe())),
        (exit) => exit !== undefined
      )
      yield* Fiber.join(starting)
      assert.strictEqual((yield* machines.created).length, 1)
      assert.strictEqual((yield* machines.live).length, 0, "no machine works for a cancelled task")
      assert.strictEqual((yield* taskOf(task!.id)).state, "cancelled")
      assert.include(yield* auditKinds(task!.id), "machine_destroyed")
    }).pipe(Effect.provide(layer())))
})

describe("Dispatcher.retry and redispatch", () => {
  it.effect("retry(previous, actor): a new task of the same request, for the actor, with its own machine", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const machines = yield* Machines
      yield* dispatcher.start(
        yield* runRequest({ run: new Command.Run({ agent: "claude", model: "opus", instructions: "fix it" }) })
      )
      const [first] = yield* tasksOf()
      yield* (yield* TaskLifecycle.TaskLifecycle).callback(
        first!.id,
        callbackEvent({ type: "completed", outcome: "error", error: "clone failed" })
      )
      const previous = yield* taskOf(first!.id)
      assert.strictEqual(previous.state, "failed")
      yield* TestClock.adjust("1 minute")

      const retried = Option.getOrThrow(yield* dispatcher.retry(previous, alice))
      assert.notStrictEqual(retried.id, previous.id)
      assert.strictEqual(retried.state, "provisioning")
      assert.strictEqual(retried.requestedBy.login, "alice")
      assert.strictEqual(retried.model, "opus")
      assert.strictEqual(retried.instructions, "fix it")
      const created = yield* machines.created
      assert.deepStrictEqual(created.map((c) => c.spec.taskId), [previous.id, retried.id])
      assert.strictEqual(retried.machineId, created[1]!.machine.id)
      assert.notStrictEqual(retried.machineId, previous.machineId)
      assert.strictEqual(decodeEnv(created[1]!.spec.env).REQUESTED_BY, "alice")
      assert.strictEqual((yield* taskOf(previous.id)).state, "failed", "the previous task is left as it ended")
      // Its own status comment.
      const comments = yield* thread()
      assert.strictEqual(comments.length, 2)
      assert.strictEqual(retried.statusCommentId, comments[1]!.id)
    }).pipe(Effect.provide(layer())))

  it.effect("retry over a limit: the new task waits in the queue", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      yield* (yield* Settings.Settings).set({ _tag: "repository", repo: REPO }, { maxActivePerRepo: 1 })
      const previous = yield* storedTask({ state: "failed" })
      yield* storedTask({ issueNumber: 2, state: "running", startedAt: START })
      const retried = Option.getOrThrow(yield* dispatcher.retry(previous, alice))
      assert.strictEqual(retried.state, "queued")
      assert.strictEqual((yield* tasksOf()).length, 2)
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("redispatch of a provisioning task whose machine exists (attempt 2) finds it instead of making a second", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const machines = yield* Machines
      // The provider makes the machine but its answer is lost: the task stays provisioning, without a machine id.
      yield* machines.inject({
        op: "create",
        lostAnswer: true,
        error: new Errors.ProvisionError({ reason: "unavailable", message: "connection reset" })
      })
      yield* dispatcher.start(yield* runRequest())
      const [task] = yield* tasksOf()
      assert.strictEqual(task!.state, "provisioning")
      assert.strictEqual(task!.dispatchAttempts, 1)
      assert.isUndefined(task!.machineId)
      assert.include(yield* auditKinds(task!.id), "dispatch_deferred")

      yield* dispatcher.redispatch(task!)
      const created = yield* machines.created
      assert.strictEqual(created.length, 1, "no second machine")
      const after = yield* taskOf(task!.id)
      assert.strictEqual(after.dispatchAttempts, 2)
      assert.strictEqual(after.machineId, created[0]!.machine.id)
      assert.include(yield* auditKinds(task!.id), "machine_found")
    }).pipe(Effect.provide(layer())))

  it.effect("redispatch with a stale attempt count does nothing (another dispatcher has the task)", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      yield* dispatcher.start(yield* runRequest())
      const [task] = yield* tasksOf()
      yield* dispatcher.redispatch(new Task.Task({ ...task!, dispatchAttempts: 0 }))
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
      assert.strictEqual((yield* taskOf(task!.id)).dispatchAttempts, 1)
    }).pipe(Effect.provide(layer())))
})

describe("the status comment", () => {
  it.effect("is written exactly once per state through a whole run: queued, provisioning, running, succeeded", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const lifecycle = yield* TaskLifecycle.TaskLifecycle
      yield* dispatcher.start(yield* runRequest())
      const [task] = yield* tasksOf()
      yield* TestClock.adjust("10 seconds")
      yield* lifecycle.callback(task!.id, callbackEvent({ type: "started" }))
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("30 seconds")
        yield* lifecycle.callback(task!.id, callbackEvent({ type: "heartbeat", step: "agent" }))
      }
      yield* publish(task!.id)
      yield* lifecycle.callback(task!.id, callbackEvent({ type: "completed", outcome: "pushed" }))
      const comments = yield* thread()
      assert.strictEqual(comments.length, 1)
      assert.deepStrictEqual(statesShown(comments[0]!.versions), ["queued", "provisioning", "running", "succeeded"])
    }).pipe(Effect.provide(layer())))

  it.effect("a dispatch that fails writes queued, provisioning, failed", () =>
    Effect.gen(function*() {
      yield* (yield* Dispatcher.Dispatcher).start(yield* runRequest())
      const comments = yield* thread()
      assert.strictEqual(comments.length, 1)
      assert.deepStrictEqual(statesShown(comments[0]!.versions), ["queued", "provisioning", "failed"])
    }).pipe(Effect.provide(layer({ secrets: [], agentKeys: {} }))))

  it.effect("a retried task gets its own comment, also once per state", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Dispatcher.Dispatcher
      const lifecycle = yield* TaskLifecycle.TaskLifecycle
      const previous = yield* storedTask({ state: "failed" })
      const retried = Option.getOrThrow(yield* dispatcher.retry(previous, alice))
      yield* lifecycle.callback(retried.id, callbackEvent({ type: "started" }))
      yield* lifecycle.cancelTask(retried.id, "cancelled by @alice")
      const comments = yield* thread()
      assert.strictEqual(comments.length, 1)
      assert.deepStrictEqual(statesShown(comments[0]!.versions), ["queued", "provisioning", "running", "cancelled"])
    }).pipe(Effect.provide(layer())))
})
