// The migrations on a real local D1 (workerd via Miniflare): applied once, and compatible with
// `wrangler d1 migrations apply --local` in both directions. How they are split: Migrations.test.ts.
import { assert, describe, it } from "@effect/vitest"
import { Migrations } from "@porter/d1"
import * as D1Testing from "@porter/d1/testing"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

/** The migrations this repository ships, in order (every `.sql` file of the directory). */
const SHIPPED = readdirSync(D1Testing.migrationsDir).filter((name) => name.endsWith(".sql")).sort()

describe("Migrations.apply on local D1", () => {
  it.live("applies each migration once and records it like wrangler", () =>
    Effect.gen(function*() {
      const d1 = yield* D1Testing.start({ migrations: false })
      const migrations = yield* D1Testing.readMigrations()
      assert.deepStrictEqual(yield* Migrations.apply(d1.db, migrations), SHIPPED)
      assert.deepStrictEqual(yield* Migrations.apply(d1.db, migrations), [])
      assert.deepStrictEqual(yield* Migrations.applied(d1.db), SHIPPED)
      const objects = yield* Effect.promise(() =>
        d1.db.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
          .all<{ type: string; name: string }>()
      )
      const names = objects.results.map((o) => o.name)
      for (const table of ["tasks", "deliveries", "task_events", "secrets", "settings", "d1_migrations"]) {
        assert.include(names, table)
      }
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("a failing migration leaves nothing of itself behind", () =>
    Effect.gen(function*() {
      const d1 = yield* D1Testing.start({ migrations: false })
      const broken = [{ name: "0001_broken.sql", sql: "CREATE TABLE ok (x INTEGER);\nCREATE TABLE broken (;" }]
      const error = yield* Effect.flip(Migrations.apply(d1.db, broken))
      assert.strictEqual(error.migration, "0001_broken.sql")
      const tables = yield* Effect.promise(() =>
        d1.db.prepare("SELECT name FROM sqlite_master WHERE name = 'ok'").all()
      )
      assert.strictEqual(tables.results.length, 0)
      assert.deepStrictEqual(yield* Migrations.applied(d1.db), [])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("D1Testing.layer", () => {
  it.live(
    "provides a migrated D1 through SqlClient and stops workerd when its scope closes",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(D1Testing.layer(), scope)
        const sql = Context.get(context, SqlClient.SqlClient)
        const d1 = Context.get(context, D1Testing.TestD1)
        const rows = yield* sql<{ name: string }>`SELECT name FROM d1_migrations`
        assert.deepStrictEqual(rows.map((r) => r.name), SHIPPED)
        yield* Scope.close(scope, Exit.void)
        const after = yield* Effect.exit(Effect.tryPromise(() => d1.db.prepare("SELECT 1").all()))
        assert.isTrue(Exit.isFailure(after), "workerd is gone")
      }),
    { timeout: 60_000 }
  )
})

describe("wrangler d1 migrations apply --local", () => {
  // The documented command, on the shipped files; then the helper on the database wrangler made.
  it.live("applies the shipped migrations, and the helper sees them as applied", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "porter-d1-wrangler-"))),
        (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
      )
      yield* Effect.promise(() =>
        writeFile(
          join(dir, "wrangler.jsonc"),
          JSON.stringify({
            name: "porter-migrations-check",
            compatibility_date: "2026-01-01",
            d1_databases: [{
              binding: "DB",
              database_name: "porter",
              database_id: "porter-test",
              migrations_dir: D1Testing.migrationsDir
            }]
          })
        )
      )
      const wrangler = join(D1Testing.migrationsDir, "..", "node_modules", "wrangler", "bin", "wrangler.js")
      const run = promisify(execFile)
      const apply = ["d1", "migrations", "apply", "porter", "--local"]
      const output = yield* Effect.promise(() =>
        run(process.execPath, [wrangler, ...apply, "--persist-to", join(dir, "state")], {
          cwd: dir,
          env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
          timeout: 50_000
        })
      )
      for (const name of SHIPPED) assert.include(output.stdout, name)
      // Miniflare on wrangler's files: same database id, same bookkeeping table.
      const d1 = yield* D1Testing.start({ persistTo: join(dir, "state", "v3", "d1") })
      assert.deepStrictEqual(yield* Migrations.applied(d1.db), SHIPPED)
      const tasks = yield* Effect.promise(() => d1.db.prepare("SELECT count(*) AS n FROM tasks").first<{ n: number }>())
      assert.strictEqual(tasks?.n, 0)
    }).pipe(Effect.scoped), { timeout: 90_000 })
})
