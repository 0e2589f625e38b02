// The in-memory layers pass the same suites as the real adapters.
import { assert, describe, it } from "@effect/vitest"
import { Authorizer, Ids, MachineProvisioner, Repo, Settings } from "@porter/core"
import * as RepoWriter from "@porter/core/RepoWriter"
import {
  InMemoryProvisioner,
  InMemoryRepoWriter,
  InMemorySecretStore,
  InMemoryTaskStore,
  InMemoryUsageStore,
  RecordingReporter,
  Repositories
} from "@porter/testing"
import {
  AuthorizerSuite,
  MachineProvisionerSuite,
  ReporterSuite,
  RepoWriterSuite,
  SecretStoreSuite,
  SettingsSuite,
  TaskStoreSuite,
  UsageStoreSuite
} from "@porter/testing/conformance"
import { Effect, Layer, Option, Redacted } from "effect"

TaskStoreSuite.run("in-memory", InMemoryTaskStore.layer)
SecretStoreSuite.run("in-memory", InMemorySecretStore.layer())
SettingsSuite.run("in-memory", Settings.layerMemory())
UsageStoreSuite.run("in-memory", InMemoryUsageStore.layer)
MachineProvisionerSuite.run("in-memory", InMemoryProvisioner.layer)
RepoWriterSuite.run("in-memory", RepoWriterSuite.inMemoryInspector.pipe(Layer.provideMerge(InMemoryRepoWriter.layer)))
MachineProvisionerSuite.run(
  "in-memory with provider accounts",
  InMemoryProvisioner.layerWith({ credentialName: "FLY_API_TOKEN" })
)

describe("InMemoryProvisioner provider accounts", () => {
  const spec = (taskId: Ids.TaskId, credential?: string): MachineProvisioner.MachineSpec => ({
    taskId,
    env: {},
    secretEnv: {},
    guest: MachineProvisioner.defaultGuest,
    ...(credential !== undefined ? { credential: Redacted.make(credential) } : {})
  })

  it.effect("a machine is seen only with the credential it was created with", () =>
    Effect.gen(function*() {
      const p = yield* MachineProvisioner.MachineProvisioner
      assert.strictEqual(p.credentialName, "FLY_API_TOKEN")
      const user = { credential: Redacted.make("fly-user-token") }
      const other = { credential: Redacted.make("fly-other-token") }
      const taskId = yield* Ids.makeTaskId
      const mine = yield* p.create(spec(taskId, "fly-user-token"))
      const own = yield* p.create(spec(yield* Ids.makeTaskId))

      assert.deepStrictEqual((yield* p.list(user)).map((m) => m.id), [mine.id])
      assert.deepStrictEqual((yield* p.list()).map((m) => m.id), [own.id], "the adapter's own account")
      assert.deepStrictEqual((yield* p.list(other)).length, 0)
      assert.strictEqual((yield* p.get(mine.id, user)).id, mine.id)
      assert.strictEqual((yield* Effect.flip(p.get(mine.id)))._tag, "MachineNotFound")
      assert.strictEqual(Option.getOrThrow(yield* p.findByTask(taskId, user)).id, mine.id)
      assert.isTrue(Option.isNone(yield* p.findByTask(taskId)))

      // Another account's machine is unknown to a credential: destroying it there succeeds and leaves it.
      yield* p.destroy(mine.id)
      yield* p.destroy(mine.id, other)
      assert.strictEqual((yield* p.get(mine.id, user)).id, mine.id)
      yield* p.destroy(mine.id, user)
      assert.strictEqual((yield* p.list(user)).length, 0)
    }).pipe(Effect.provide(InMemoryProvisioner.layerWith({ credentialName: "FLY_API_TOKEN" }))))

  it.effect("without a credential name there are no accounts: every call sees every machine", () =>
    Effect.gen(function*() {
      const p = yield* MachineProvisioner.MachineProvisioner
      assert.isUndefined(p.credentialName)
      const machine = yield* p.create(spec(yield* Ids.makeTaskId, "fly-user-token"))
      assert.strictEqual((yield* p.get(machine.id)).id, machine.id)
      assert.strictEqual((yield* p.get(machine.id, { credential: Redacted.make("anything") })).id, machine.id)
      yield* p.destroy(machine.id)
      assert.strictEqual((yield* p.list()).length, 0)
    }).pipe(Effect.provide(InMemoryProvisioner.layer)))
})
ReporterSuite.run(
  "in-memory recorder",
  ReporterSuite.recorderInspector.pipe(Layer.provideMerge(RecordingReporter.layer))
)
AuthorizerSuite.run(
  "permission table",
  Authorizer.layerTable({ alice: "admin", bob: "write", carol: "read" }),
  {
    repo: new Repo.RepoRef({ owner: "octo-org", name: "hello-world" }),
    admin: new Repo.Actor({ login: "alice", id: 1, type: "User" }),
    write: new Repo.Actor({ login: "bob", id: 2, type: "User" }),
    read: new Repo.Actor({ login: "carol", id: 3, type: "User" }),
    none: new Repo.Actor({ login: "mallory", id: 4, type: "User" })
  }
)

describe("InMemoryRepoWriter controls", () => {
  const repo = new Repo.RepoRef({ owner: "octo-org", name: "hello-world" })
  const author = { name: "Ada", email: "ada@example.com", date: "2026-01-01T00:00:00Z" }

  it.effect("someone's push moves a branch under Porter; written lists Porter's commits only; faults fail once", () =>
    Effect.gen(function*() {
      const writer = yield* RepoWriter.RepoWriter
      const repos = yield* Repositories
      const base = yield* repos.seed(repo, { files: [{ path: "README.md", content: "# hi\n" }] })
      const [mine] = yield* writer.writeCommits(repo, base, [{
        message: "Mine",
        author,
        entries: [{ _tag: "write", path: "a.txt", mode: "100644", content: new TextEncoder().encode("a\n") }]
      }])
      yield* writer.moveBranch(repo, "porter/1", mine!, Option.none())
      const theirs = yield* repos.push(repo, "porter/1", { files: [{ path: "b.txt", content: "b\n" }] })
      assert.deepStrictEqual((yield* repos.branches(repo)).get("porter/1"), theirs)
      const next = yield* writer.writeCommits(repo, mine!, [{ message: "Next", author, entries: [] }])
      const moved = yield* Effect.flip(writer.moveBranch(repo, "porter/1", next[0]!, Option.some(mine!)))
      assert.strictEqual(moved._tag, "NotFastForward")
      assert.deepStrictEqual((yield* repos.written(repo)).map((c) => c.message), ["Mine", "Next"])
      assert.strictEqual(
        new TextDecoder().decode(Option.getOrThrow(yield* repos.commit(repo, theirs)).files.get("b.txt")!.content),
        "b\n"
      )

      yield* repos.inject({
        op: "defaultBranch",
        error: new RepoWriter.RepoWriteError({ message: "down", status: 503 })
      })
      assert.strictEqual((yield* Effect.flip(writer.defaultBranch(repo))).status, 503)
      assert.strictEqual(yield* writer.defaultBranch(repo), "main")
    }).pipe(Effect.provide(InMemoryRepoWriter.layer)))
})
