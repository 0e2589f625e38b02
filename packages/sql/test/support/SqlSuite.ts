/**
 * What the SQL stores promise beyond the ports' conformance suites, run on each dialect (SQLite and PostgreSQL):
 * migrations applied once when several processes start at once, key rotation through the dialect's batch statement,
 * the schema's own rules (triggers), and 64-bit ids.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Ids, Repo, SecretStore, TaskStore } from "@porter/core"
import { EncryptionKeys, Migrator, SqlSecretStore, SqlTaskStore } from "@porter/sql"
import * as MigrationFiles from "@porter/sql/files"
import { NodeStorage } from "@porter/sql/node"
import { TaskStoreSuite } from "@porter/testing/conformance"
import { Context, Effect, Exit, Layer, Option, Redacted } from "effect"
import { SqlClient } from "effect/sql"

export interface Target {
  /** A fresh, empty database each time: a client layer on it (each build is another connection or pool). */
  readonly fresh: () => Promise<Layer.Layer<SqlClient.SqlClient, unknown>>
}

const k1 = { id: "k1", key: Redacted.make(EncryptionKeys.generate()) }
const k2 = { id: "k2", key: Redacted.make(EncryptionKeys.generate()) }
const name = (n: string) => n as SecretStore.SecretName

/** A fresh database, migrated, for the test's scope: its client and a way to build stores on it. */
const open = (target: Target) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(yield* Effect.promise(target.fresh))
    yield* Effect.provide(NodeStorage.migrate(), context)
    const service = <I, S>(tag: Context.Key<I, S>, layer: Layer.Layer<I, unknown, SqlClient.SqlClient>) =>
      Effect.map(
        Layer.build(Layer.fresh(layer).pipe(Layer.provide(Layer.succeedContext(context)))),
        (built) => Context.get(built, tag)
      )
    return { sql: Context.get(context, SqlClient.SqlClient), service }
  })

export const run = (label: string, target: Target) =>
  describe(`SQL stores on ${label}`, () => {
    it.live("five processes migrating one new database at once apply each migration exactly once", () =>
      Effect.scoped(Effect.gen(function*() {
        const client = yield* Effect.promise(target.fresh)
        const runs = yield* Effect.all(
          Array.from({ length: 5 }, () =>
            Effect.scoped(Effect.provide(NodeStorage.migrate(), Layer.fresh(client)))),
          { concurrency: "unbounded" }
        )
        const dialect = yield* Effect.provide(Effect.service(SqlClient.SqlClient), client).pipe(
          Effect.map((sql) => sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const }))
        )
        const shipped = (yield* MigrationFiles.read(MigrationFiles.dirFor(dialect))).map((m) => m.name)
        // Every schema in both dialects: the same names, SQLite's (D1's) and PostgreSQL's.
        const sqlite = (yield* MigrationFiles.read(MigrationFiles.dirFor("sqlite"))).map((m) => m.name)
        assert.deepStrictEqual(shipped, sqlite)
        assert.includeMembers(shipped, ["0001_init.sql", "0002_audit.sql", "0003_settings_extra.sql", "0005_web.sql"])
        assert.deepStrictEqual(runs.flat().sort(), shipped)
        assert.deepStrictEqual(yield* Effect.provide(Migrator.applied(), client), shipped)
      })), 60_000)

    it.live("rotation moves every row under the current key, in batches, and each stays readable", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* open(target)
        const before = yield* db.service(SqlSecretStore.SqlSecretStore, SqlSecretStore.layer({ current: k1 }))
        const scopes = Array.from({ length: 5 }, (_, i) =>
          SecretStore.scopes.repository(`rot-${i}/repo`))
        for (const [i, scope] of scopes.entries()) {
          yield* before.set(scope, name("TOKEN"), Redacted.make(`value-${i}`))
        }
        const after = yield* db.service(
          SqlSecretStore.SqlSecretStore,
          SqlSecretStore.layer({ current: k2, old: [k1] })
        )
        assert.deepStrictEqual(yield* after.rotate({ batchSize: 2 }), {
          rotated: 5,
          failed: 0,
          failures: [],
          currentKeyId: "k2"
        })
        const rows = yield* db.sql<{ readonly key_id: string }>`SELECT DISTINCT key_id FROM secrets`
        assert.deepStrictEqual(
          rows.map((r) =>
            r.key_id
          ),
          ["k2"]
        )
        const only = yield* db.service(SqlSecretStore.SqlSecretStore, SqlSecretStore.layer({ current: k2 }))
        for (const [i, scope] of scopes.entries()) {
          assert.strictEqual(Redacted.value(Option.getOrThrow(yield* only.get(scope, name("TOKEN")))), `value-${i}`)
        }
        assert.strictEqual((yield* only.rotate()).rotated, 0)
      })), 60_000)

    it.live("migration 0010 keeps every task's mode, lets it be fix_ci, and still refuses other values", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(yield* Effect.promise(target.fresh))
        const sql = Context.get(context, SqlClient.SqlClient)
        const dir = MigrationFiles.dirFor(sql.onDialectOrElse({
          pg: () =>
            "pg" as const,
          orElse: () =>
            "sqlite" as const
        }))
        const files = yield* MigrationFiles.read(dir)
        const migrate = (keep: (name: string) => boolean) =>
          Effect.provide(
            Migrator.apply(files.filter((file) =>
              keep(file.name)
            )),
            context
          )
        yield* migrate((name) =>
          name < "0010"
        )
        const store = yield* Effect.provide(
          Effect.service(TaskStore.TaskStore),
          Layer.fresh(SqlTaskStore.layer).pipe(Layer.provide(Layer.succeedContext(context)))
        )
        const asked = yield* TaskStoreSuite.sampleTask({ mode: "ask" })
        const plain = yield* TaskStoreSuite.sampleTask({})
        yield* store.create(asked)
        yield* store.create(plain)
        assert.deepStrictEqual(yield* migrate((name) => name >= "0010"), ["0010_fix_ci.sql"])
        assert.deepStrictEqual(yield* store.get(asked.id), asked)
        assert.deepStrictEqual(yield* store.get(plain.id), plain)
        const fix = yield* TaskStoreSuite.sampleTask({ mode: "fix_ci" })
        yield* store.create(fix)
        assert.strictEqual((yield* store.get(fix.id)).mode, "fix_ci")
        const bogus = yield* Effect.exit(sql`UPDATE tasks SET mode = 'bogus' WHERE id = ${fix.id}`)
        assert.isTrue(Exit.isFailure(bogus), "mode is still checked")
      })), 60_000)

    it.live("the schema keeps its rules against hand-written statements; 64-bit ids round-trip", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* open(target)
        const store = yield* db.service(TaskStore.TaskStore, SqlTaskStore.layer)
        const task = yield* TaskStoreSuite.sampleTask({
          installationId: 90_000_000_001,
          triggerCommentId: 3_000_000_001,
          requestedBy: new Repo.Actor({ login: "big", id: 5_000_000_001, type: "User" })
        })
        yield* store.create(task)
        yield* store.update(task.id, { statusCommentId: 4_000_000_001, machineId: "m_big" as Ids.MachineId }, 2_000)
        const stored = yield* store.get(task.id)
        assert.strictEqual(stored.triggerCommentId, 3_000_000_001)
        assert.strictEqual(stored.installationId, 90_000_000_001)
        assert.strictEqual(stored.requestedBy.id, 5_000_000_001)
        assert.strictEqual(stored.statusCommentId, 4_000_000_001)
        assert.strictEqual(yield* store.countActive({ userId: 5_000_000_001 }), 1)
        yield* store.transition(task.id, "failed", 3_000, { reason: "gave up" })
        const moved = yield* Effect.exit(db.sql`UPDATE tasks SET state = 'running' WHERE id = ${task.id}`)
        assert.isTrue(Exit.isFailure(moved), "a terminal task never changes state")
        const edited = yield* Effect.exit(db.sql`UPDATE task_events SET kind = 'x' WHERE task_id = ${task.id}`)
        assert.isTrue(Exit.isFailure(edited), "the audit trail is append-only")
        assert.strictEqual((yield* store.get(task.id)).state, "failed")
      })), 60_000)

    // On SQLite (sqlite-node) claims made at once are committed in groups: one statement, one commit.
    it.live("claims made at once: each claimed once, with its own payload; in a transaction, in it; failures", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* open(target)
        const store = yield* db.service(TaskStore.TaskStore, SqlTaskStore.layer)
        const id = (n: number) =>
          `group-${n}` as Ids.DeliveryId
        // 50 deliveries, 20 of them claimed twice: more than one statement's group.
        const claims = Array.from({ length: 70 }, (_, i) => ({ id: id(i % 50), receivedAt: i, payload: `{"i":${i}}` }))
        const claimed = yield* Effect.all(
          claims.map((claim) =>
            store.claimDelivery(claim)
          ),
          {
            concurrency: "unbounded"
          }
        )
        const rows = yield* db.sql<
          { readonly id: string; readonly payload: string }
        >`SELECT id, payload FROM deliveries`
        assert.strictEqual(rows.length, 50)
        const stored = new Map(rows.map((row) => [row.id, row.payload]))
        for (let n = 0; n < 50; n++) {
          const won = claims.flatMap((claim, i) => (claim.id === id(n) && claimed[i] ? [i] : []))
          assert.strictEqual(won.length, 1, `${id(n)} claimed once`)
          assert.strictEqual(stored.get(id(n)), `{"i":${won[0]}}`, "the winner's row")
        }

        // Inside a transaction the claim is inserted in it: rolled back with it, and claimable again.
        const rolledBack = yield* Effect.exit(db.sql.withTransaction(Effect.andThen(
          store.claimDelivery({ id: id(100), receivedAt: 1, payload: "{}" }),
          Effect.fail("undo")
        )))
        assert.isTrue(Exit.isFailure(rolledBack))
        assert.isTrue(yield* store.claimDelivery({ id: id(100), receivedAt: 2, payload: "{}" }))

        // A failed insert fails each claim of it with a StoreError.
        yield* db.sql`DROP TABLE deliveries`
        const failed = yield* Effect.all(
          Array.from({ length: 5 }, (_, n) =>
            store.claimDelivery({ id: id(200 + n), receivedAt: n, payload: "{}" })).map(
              (claim) =>
                Effect.flip(claim)
            ),
          { concurrency: "unbounded" }
        )
        for (const error of failed) {
          assert.strictEqual(error._tag, "StoreError")
        }
      })), 60_000)
  })
