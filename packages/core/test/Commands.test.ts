/**
 * Commands: what Porter does with a claimed delivery — the replies to `help`, `status`, `cancel` and `retry`, the
 * checks before anything runs (deny list, allow list, then the Authorizer), closed issues — and that the delivery is
 * marked handled only once its handling completed.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  AgentCatalog,
  Authorizer,
  Commands,
  Errors,
  Event,
  Messages,
  Repo,
  SecretStore,
  Settings,
  TaskLifecycle,
  TaskStore,
  Watchdog
} from "@porter/core"
import { Fixtures, InMemoryTaskStore, Machines } from "@porter/testing"
import { Effect, Layer, Ref } from "effect"
import { TestClock } from "effect/testing"
import {
  alice,
  auditKinds,
  callbackEvent,
  layer,
  publish,
  REPO,
  START,
  storedTask,
  taskOf,
  tasksOf,
  thread,
  withKey
} from "./support/Lifecycle.ts"

const octocat = Fixtures.actor()

const handle = (event: Event.IncomingEvent) =>
  Effect.flatMap(
    Commands.Commands,
    (commands) =>
      Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (at) => commands.handle(event, at))
  )

const comment = (body: string, author = Fixtures.actor()) => Fixtures.commentCreated({ body, author })

const replies = Effect.map(thread(), (comments) => comments.map((c) => c.body))

/** Deliveries claimed and never completed. */
const pendingDeliveries = Effect.flatMap(
  TaskStore.TaskStore,
  (store) => store.retryDeliveries(Number.MAX_SAFE_INTEGER, 100)
)

/** Claims the event's delivery (as Intake does), then handles it. */
const claimAndHandle = (event: Event.IncomingEvent) =>
  Effect.gen(function*() {
    const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    yield* (yield* TaskStore.TaskStore).claimDelivery({ id: event.deliveryId, receivedAt: at, payload: "{}" })
    yield* (yield* Commands.Commands).handle(event, at)
  })

/** An Authorizer that counts its calls and answers with `decide`. */
const countingAuthorizer = (decide: Authorizer.Authorizer["Service"]["authorize"]) =>
  Effect.map(Ref.make(0), (calls) => ({
    calls,
    layer: Layer.succeed(
      Authorizer.Authorizer,
      Authorizer.Authorizer.of({
        authorize: (repo, actor, installationId) =>
          Effect.andThen(Ref.update(calls, (n) => n + 1), decide(repo, actor, installationId))
      })
    )
  }))

const settingsWith = (patch: Partial<ConstructorParameters<typeof Settings.RepoSettings>[0]>) =>
  new Settings.RepoSettings({ ...Settings.defaults, ...patch })

describe("Commands: replies", () => {
  it.effect("help answers with the repository's mention and the configured agents", () =>
    Effect.gen(function*() {
      const catalog = yield* AgentCatalog.AgentCatalog
      yield* handle(Fixtures.commentCreated({ body: "@bot help" }))
      assert.deepStrictEqual(yield* replies, [Messages.help(settingsWith({ mentionName: "bot" }), catalog.list)])
      assert.include((yield* replies)[0]!, "`@bot status`")
    }).pipe(Effect.provide(layer({ ...withKey, settings: settingsWith({ mentionName: "bot" }) }))))

  it.effect("status lists the issue's tasks, newest first, or says there are none", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      yield* handle(comment("@porter status"))
      const first = yield* storedTask()
      yield* TestClock.adjust("5 minutes")
      const second = yield* storedTask({ state: "succeeded", prUrl: "https://github.com/octo-org/hello-world/pull/9" })
      yield* storedTask({ issueNumber: 2 })
      yield* handle(comment("@porter status"))
      const [none, listing] = yield* replies
      assert.strictEqual(none, Messages.statusList([], START))
      assert.strictEqual(listing, Messages.statusList([second, first], START + 5 * 60_000))
      assert.include(listing!, "https://github.com/octo-org/hello-world/pull/9")
    }).pipe(Effect.provide(layer())))

  it.effect("cancel: nothing to cancel, then every active task of this issue (and only this issue)", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter cancel"))
      const a = yield* storedTask()
      const b = yield* storedTask({ state: "running", startedAt: 0 })
      const done = yield* storedTask({ state: "succeeded" })
      const elsewhere = yield* storedTask({ issueNumber: 2 })
      yield* handle(comment("@porter cancel", alice))
      const all = yield* replies
      const isReply = (body: string) => body.endsWith(`${Messages.MARKER_PREFIX}reply -->`)
      assert.deepStrictEqual(all.filter(isReply), [Messages.nothingToCancel(), Messages.cancelled(2)])
      // Each cancelled task shows its end in its own status comment.
      const statuses = all.filter((body) => !isReply(body))
      assert.strictEqual(statuses.length, 2)
      for (const body of statuses) assert.include(body, "⏹ Cancelled: cancelled by @alice")
      for (const task of [a, b]) {
        const after = yield* taskOf(task.id)
        assert.strictEqual(after.state, "cancelled")
        assert.strictEqual(after.reason, "cancelled by @alice")
      }
      assert.strictEqual((yield* taskOf(done.id)).state, "succeeded")
      // Untouched (the queue may have admitted it meanwhile: a slot came free).
      assert.isFalse((yield* taskOf(elsewhere.id)).isTerminal)
    }).pipe(Effect.provide(layer())))

  it.effect("retry: nothing to retry, then refused while the latest task is active", () =>
    Effect.gen(function*() {
      yield* handle(comment("@bot retry"))
      const running = yield* storedTask({ state: "running", startedAt: 0 })
      yield* handle(comment("@bot retry"))
      assert.deepStrictEqual(yield* replies, [
        Messages.nothingToRetry(),
        Messages.problem(`Task \`${running.id}\` is still running; \`@bot cancel\` it first.`)
      ])
      assert.strictEqual((yield* tasksOf()).length, 1)
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
    }).pipe(Effect.provide(layer({ ...withKey, settings: settingsWith({ mentionName: "bot" }) }))))

  it.effect("retry of an ended task: a new task with the same request, for the commenter, on its own machine", () =>
    Effect.gen(function*() {
      const previous = yield* storedTask({
        state: "failed",
        agent: "claude",
        model: "opus",
        instructions: "make CI green",
        timeoutMs: 10 * 60_000,
        reason: "clone failed"
      })
      const event = comment("@porter retry", alice)
      yield* handle(event)
      const tasks = yield* tasksOf()
      assert.strictEqual(tasks.length, 2)
      const retried = tasks.find((t) => t.id !== previous.id)!
      assert.strictEqual(retried.state, "provisioning")
      assert.strictEqual(retried.agent, "claude")
      assert.strictEqual(retried.model, "opus")
      assert.strictEqual(retried.instructions, "make CI green")
      assert.strictEqual(retried.timeoutMs, 10 * 60_000)
      assert.strictEqual(retried.requestedBy.login, "alice")
      assert.strictEqual(retried.deliveryId, event.deliveryId)
      const created = yield* (yield* Machines).created
      assert.deepStrictEqual(created.map((c) => c.spec.taskId), [retried.id])
      assert.strictEqual(retried.machineId, created[0]!.machine.id)
      assert.strictEqual(created[0]!.spec.env["MODEL"], "opus")
      assert.strictEqual((yield* taskOf(previous.id)).state, "failed", "the ended task stays as it was")
    }).pipe(Effect.provide(layer())))

  it.effect("a closed issue cancels its active tasks, with who closed it, and says nothing else", () =>
    Effect.gen(function*() {
      const task = yield* storedTask()
      const other = yield* storedTask({ issueNumber: 2 })
      yield* handle(Fixtures.issueClosed({ actor: alice }))
      const after = yield* taskOf(task.id)
      assert.strictEqual(after.state, "cancelled")
      assert.strictEqual(after.reason, "the issue was closed by @alice")
      assert.isFalse((yield* taskOf(other.id)).isTerminal)
      const comments = yield* thread()
      assert.strictEqual(comments.length, 1, "the task's status comment only")
      assert.include(comments[0]!.body, "⏹ Cancelled: the issue was closed by @alice")
    }).pipe(Effect.provide(layer())))
})

describe("Commands: who may ask", () => {
  it.effect("a login on the deny list is refused without asking the Authorizer", () =>
    Effect.gen(function*() {
      const authorizer = yield* countingAuthorizer(() =>
        Effect.die("the Authorizer must not be called for a denied login")
      )
      yield* Effect.gen(function*() {
        yield* handle(comment("@porter claude fix it"))
        assert.strictEqual(yield* Ref.get(authorizer.calls), 0)
        assert.deepStrictEqual(yield* replies, [Messages.refused("octocat", "you are on this repository's deny list")])
        assert.strictEqual((yield* tasksOf()).length, 0)
        assert.strictEqual((yield* (yield* Machines).created).length, 0)
      }).pipe(
        Effect.provide(layer({ ...withKey, settings: settingsWith({ deniedUsers: ["OctoCat"] }) }, authorizer.layer))
      )
    }))

  it.effect("an allow list refuses everyone else without asking the Authorizer; a listed login is still checked", () =>
    Effect.gen(function*() {
      const authorizer = yield* countingAuthorizer(() => Effect.succeed({ allowed: true, permission: "write" }))
      yield* Effect.gen(function*() {
        yield* handle(comment("@porter claude fix it"))
        assert.strictEqual(yield* Ref.get(authorizer.calls), 0)
        yield* handle(comment("@porter status", alice))
        assert.strictEqual(yield* Ref.get(authorizer.calls), 1)
        assert.deepStrictEqual(yield* replies, [
          Messages.refused("octocat", "you are not on this repository's allow list"),
          Messages.statusList([], 0)
        ])
        assert.strictEqual((yield* tasksOf()).length, 0)
      }).pipe(
        Effect.provide(layer({ ...withKey, settings: settingsWith({ allowedUsers: ["Alice"] }) }, authorizer.layer))
      )
    }))

  it.effect("an Authorizer that cannot answer: refused, saying Porter could not check", () =>
    Effect.gen(function*() {
      const authorizer = yield* countingAuthorizer(() =>
        Effect.fail(new Errors.AuthorizationError({ message: "GitHub answered 502 for the collaborator permission" }))
      )
      yield* Effect.gen(function*() {
        yield* handle(comment("@porter claude fix it"))
        assert.deepStrictEqual(yield* replies, [
          Messages.refused(
            "octocat",
            "Porter could not check your permission (GitHub answered 502 for the collaborator permission)"
          )
        ])
        assert.strictEqual((yield* tasksOf()).length, 0)
      }).pipe(Effect.provide(layer(withKey, authorizer.layer)))
    }))

  it.effect("the Authorizer's refusal is passed on with its reason", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter claude fix it"))
      assert.deepStrictEqual(yield* replies, [Messages.refused("octocat", "@octocat has read access")])
    }).pipe(Effect.provide(layer({ ...withKey, authorizer: Authorizer.layerTable({ octocat: "read" }) }))))
})

describe("Commands: the delivery", () => {
  it.effect("is marked handled once handled, whatever the comment asked", () =>
    Effect.gen(function*() {
      const events = [
        comment("@porter claude fix it"),
        comment("@porter help"),
        comment("@porter claud fix it"),
        comment("not for Porter"),
        Fixtures.issueClosed()
      ]
      for (const event of events) yield* claimAndHandle(event)
      assert.deepStrictEqual(yield* pendingDeliveries, [])
    }).pipe(Effect.provide(layer())))

  it.effect("a handling that dies leaves the delivery pending for the sweep", () =>
    Effect.gen(function*() {
      const settings = Layer.effect(
        Settings.Settings,
        Effect.map(Settings.makeMemory(), (memory) =>
          Settings.Settings.of({
            ...memory,
            forRepo: () => Effect.die(new Error("settings storage crashed"))
          }))
      )
      yield* Effect.gen(function*() {
        const event = comment("@porter claude fix it")
        yield* claimAndHandle(event)
        assert.deepStrictEqual((yield* pendingDeliveries).map((d) => d.id), [event.deliveryId])
        assert.strictEqual((yield* tasksOf()).length, 0)
      }).pipe(Effect.provide(layer(withKey, settings)))
    }))

  it.effect("a handling that fails on the store leaves the delivery pending too", () =>
    Effect.gen(function*() {
      yield* storedTask()
      const event = Fixtures.issueClosed()
      yield* claimAndHandle(event)
      assert.deepStrictEqual((yield* pendingDeliveries).map((d) => d.id), [event.deliveryId])
      assert.strictEqual((yield* tasksOf())[0]!.state, "queued")
    }).pipe(Effect.provide(layer(
      withKey,
      Layer.effect(
        TaskStore.TaskStore,
        Effect.map(InMemoryTaskStore.make, (store) =>
          TaskStore.TaskStore.of({
            ...store,
            listActive: () => Effect.fail(new Errors.StoreError({ message: "D1_ERROR: network connection lost" }))
          }))
      )
    ))))
})

describe("Commands: outsiders", () => {
  const mallory = new Repo.Actor({ login: "mallory", id: 666, type: "User" })
  const table = Authorizer.layerTable({ octocat: "write", alice: "maintain", mallory: "read" })
  const approval = (patch: Partial<ConstructorParameters<typeof Settings.RepoSettings>[0]> = {}) =>
    layer({ ...withKey, authorizer: table, settings: settingsWith({ outsiders: "approval", ...patch }) })

  it.effect("ignore (the default): one polite refusal per person and issue an hour, nothing recorded", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter claude fix it", mallory))
      yield* handle(comment("@porter claude fix it again", mallory))
      yield* handle(comment("@porter help", mallory))
      assert.deepStrictEqual(yield* replies, [Messages.refused("mallory", "@mallory has read access")])
      yield* handle(Fixtures.commentCreated({ body: "@porter claude fix it", author: mallory, issueNumber: 2 }))
      assert.strictEqual((yield* thread("octo-org/hello-world#2")).length, 1, "another issue: refused there too")
      yield* TestClock.adjust("61 minutes")
      yield* handle(comment("@porter claude please", mallory))
      assert.strictEqual((yield* replies).length, 2, "an hour later: refused again")
      assert.strictEqual((yield* tasksOf()).length, 0)
    }).pipe(Effect.provide(layer({ ...withKey, authorizer: table }))))

  it.effect("approval: recorded awaiting approval, the comment says who may approve; a writer's approve runs it", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter claude fix the parser", mallory))
      const [task] = yield* tasksOf()
      assert.strictEqual(task!.state, "awaiting_approval")
      assert.strictEqual(task!.deadlineAt, task!.createdAt + 24 * 60 * 60_000)
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      const [status] = yield* thread()
      assert.include(status!.body, "🔒 Waiting for approval: @mallory (without write access)")
      assert.include(status!.body, "fix the parser")
      assert.include(status!.body, "`@porter approve`")
      // An outsider's approve does nothing, and says nothing.
      yield* handle(comment("@porter approve", mallory))
      assert.strictEqual((yield* taskOf(task!.id)).state, "awaiting_approval")
      assert.strictEqual((yield* thread()).length, 1)
      yield* handle(comment("@porter approve", alice))
      const approved = yield* taskOf(task!.id)
      assert.strictEqual(approved.state, "provisioning")
      assert.strictEqual(approved.approvedBy, "alice")
      assert.strictEqual(approved.requestedBy.login, "mallory")
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
      assert.include(yield* auditKinds(task!.id), "approved")
      const comments = yield* thread()
      assert.include(comments[1]!.body, "✅ Approved 1 request")
      assert.deepStrictEqual(
        comments[0]!.versions.map((v) => Messages.parseMarker(v)?.state),
        ["awaiting_approval", "queued", "provisioning"]
      )
    }).pipe(Effect.provide(approval())))

  it.effect("approval: deny drops it; nobody's answer within 24 h cancels it, told on the issue", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter claude fix it", mallory))
      yield* handle(Fixtures.commentCreated({ body: "@porter codex fix it", author: mallory, issueNumber: 2 }))
      yield* handle(comment("@porter deny", octocat))
      const [denied] = yield* tasksOf()
      assert.strictEqual(denied!.state, "cancelled")
      assert.strictEqual(denied!.reason, "denied by @octocat")
      assert.include((yield* thread())[0]!.body, "⏹ Cancelled: denied by @octocat")
      yield* handle(comment("@porter deny", octocat))
      assert.include((yield* thread())[2]!.body, "Nothing to approve or deny")
      // Issue 2: nobody answers.
      yield* TestClock.adjust("23 hours")
      yield* (yield* Watchdog.Watchdog).sweep
      const [waiting] = yield* tasksOf(2)
      assert.strictEqual(waiting!.state, "awaiting_approval")
      yield* TestClock.adjust("61 minutes")
      yield* (yield* Watchdog.Watchdog).sweep
      const [expired] = yield* tasksOf(2)
      assert.strictEqual(expired!.state, "cancelled")
      assert.strictEqual(expired!.reason, "nobody with write access approved it within 24h 0m")
      assert.include((yield* thread("octo-org/hello-world#2"))[0]!.body, "⏹ Cancelled: nobody with write access")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
    }).pipe(Effect.provide(approval())))

  it.effect("approval does not open the deny list, and an outsider's other commands are still refused", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter status", mallory))
      yield* handle(Fixtures.commentCreated({ body: "@porter claude x", author: alice, issueNumber: 2 }))
      assert.deepStrictEqual(yield* replies, [Messages.refused("mallory", "@mallory has read access")])
      assert.deepStrictEqual(
        yield* Effect.map(thread("octo-org/hello-world#2"), (c) => c.map((x) => x.body)),
        [Messages.refused("alice", "you are on this repository's deny list")]
      )
      assert.strictEqual((yield* tasksOf(2)).length, 0)
    }).pipe(Effect.provide(approval({ deniedUsers: ["alice"] }))))

  it.effect("a closed issue: its closer without write access cancels only their own tasks", () =>
    Effect.gen(function*() {
      const theirs = yield* storedTask({ requestedBy: mallory, state: "running", startedAt: 0 })
      const writers = yield* storedTask({ issueNumber: 1, state: "running", startedAt: 0 })
      yield* handle(Fixtures.issueClosed({ actor: mallory }))
      assert.strictEqual((yield* taskOf(theirs.id)).state, "cancelled")
      assert.strictEqual((yield* taskOf(writers.id)).state, "running")
      yield* handle(Fixtures.issueClosed({ actor: alice }))
      assert.strictEqual((yield* taskOf(writers.id)).state, "cancelled")
      assert.strictEqual((yield* taskOf(writers.id)).reason, "the issue was closed by @alice")
    }).pipe(Effect.provide(layer({ ...withKey, authorizer: table }))))
})

describe("Commands: questions", () => {
  it.effect("ask: a read-only task whose answer is the status comment's final text, also from a review thread", () =>
    Effect.gen(function*() {
      yield* handle(Fixtures.commentCreated({
        body: "@porter ask where are webhooks verified?",
        kind: "review_comment",
        isPullRequest: true,
        pullRequest: new Event.PullRequestRef({ headBranch: "feature", headRepoFullName: REPO, baseBranch: "main" })
      }))
      const [task] = yield* tasksOf()
      assert.strictEqual(task!.mode, "ask")
      assert.strictEqual(task!.headBranch, "feature")
      const [machine] = yield* (yield* Machines).created
      assert.strictEqual(machine!.spec.env["TASK_MODE"], "ask")
      assert.include(machine!.spec.env["PROMPT"]!, "this run is read-only")
      // A change set is refused whatever the machine sends.
      const refused = yield* Effect.flip(publish(task!.id))
      assert.strictEqual(refused._tag, "ChangesRefused")
    }).pipe(Effect.provide(layer())))

  it.effect("the answer", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter codex ask what does Intake do?"))
      const [task] = yield* tasksOf()
      yield* (yield* TaskLifecycle.TaskLifecycle).callback(
        task!.id,
        callbackEvent({ type: "completed", outcome: "no_changes", summary: "Intake verifies the HMAC, see @octocat." })
      )
      const body = (yield* thread())[0]!.body
      assert.include(body, "💬 `codex` answered in")
      assert.include(body, "Intake verifies the HMAC, see @\u200boctocat.")
      assert.notInclude(body, "pull request")
      assert.strictEqual((yield* taskOf(task!.id)).state, "succeeded")
    }).pipe(Effect.provide(layer({
      secrets: [{ scope: SecretStore.scopes.global, name: "OPENAI_API_KEY", value: "sk-test-openai-0123456789abcdef" }]
    }))))

  it.effect("a first word that names no agent: the status comment says which agent ran", () =>
    Effect.gen(function*() {
      yield* handle(comment("@porter refactor the parser"))
      const body = (yield* thread())[0]!.body
      assert.include(body, "No agent is called `refactor`: `claude` ran")
    }).pipe(Effect.provide(layer())))
})
