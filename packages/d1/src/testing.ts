/**
 * Node-only test helpers (`@porter/d1/testing`): a real local D1 — workerd's, through Miniflare —
 * with Porter's migrations applied. The `D1Database` handed out is Miniflare's proxy: every query
 * runs in workerd's D1 (SQLite in a Durable Object), exactly as in `wrangler dev`.
 *
 * Cannot: run in workerd itself (it starts workerd); use `wrangler dev`/Miniflare for that.
 */
import type { D1Database } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import * as MigrationFiles from "@porter/sql/files"
import { Cause, Context, Effect, Exit, Layer, Scope } from "effect"
import type { SqlClient } from "effect/sql"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import * as Migrations from "./Migrations.ts"

/** The repository's `migrations/` directory. */
export const migrationsDir: string = MigrationFiles.sqliteDir

/** The `*.sql` files of `dir`, in name order. */
export const readMigrations = (
  dir: string = migrationsDir
): Effect.Effect<Array<Migrations.Migration>, Migrations.MigrationError> => MigrationFiles.read(dir)

/** Applies `migrations/*.sql` (or those of `dir`) that `db` has not seen yet; returns their names. */
export const applyMigrations = (db: Migrations.MigrationTarget, dir?: string): Promise<Array<string>> =>
  Effect.runPromise(Effect.flatMap(readMigrations(dir), (migrations) => Migrations.apply(db, migrations)))

/** A local D1 in workerd: the binding's proxy, Miniflare, and how to stop it. */
export interface MiniflareD1 {
  /** A proxy to the D1 database in workerd; give it to `D1Client.layer({ db })`. */
  readonly db: D1Database
  readonly miniflare: Miniflare
  readonly dispose: () => Promise<void>
}

/** Which migrations to apply, where to keep the database, the binding's name. */
export interface MiniflareD1Options {
  /** Apply `migrations/` (default), another directory's migrations, or none (`false`). */
  readonly migrations?: boolean | string
  /** Keep the database in this directory (default: in memory, gone on dispose). */
  readonly persistTo?: string
  /** The binding name (default `DB`). */
  readonly binding?: string
}

const migrate = (db: Migrations.MigrationTarget, option: MiniflareD1Options["migrations"]) =>
  option === false
    ? Effect.succeed([])
    : Effect.flatMap(readMigrations(typeof option === "string" ? option : undefined), (migrations) =>
      Migrations.apply(db, migrations))

/** Starts workerd with one D1 database and applies the migrations; closing the scope stops it. */
export const start: (
  options?: MiniflareD1Options
) => Effect.Effect<MiniflareD1, Migrations.MigrationError, Scope.Scope> = Effect.fn("D1Testing.start")(function*(
  options: MiniflareD1Options = {}
) {
  const binding = options.binding ?? "DB"
  const d1 = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async (): Promise<MiniflareD1> => {
        const miniflare = new Miniflare(convertV4MiniflareOptions({
          modules: true,
          script: "export default { fetch() { return new Response(null, { status: 404 }) } }",
          compatibilityDate: "2026-01-01",
          d1Databases: { [binding]: "porter-test" },
          ...(options.persistTo !== undefined ? { d1Persist: options.persistTo } : {})
        }))
        try {
          // Miniflare types bindings with its own copy of the workers types; it is the same binding.
          const db = (await miniflare.getD1Database(binding)) as unknown as D1Database
          return { db, miniflare, dispose: () => miniflare.dispose() }
        } catch (cause) {
          await miniflare.dispose()
          throw cause
        }
      },
      catch: (cause) => new Migrations.MigrationError({ message: "cannot start a local D1 (Miniflare)", cause })
    }),
    (d1) => Effect.promise(() => d1.dispose())
  )
  yield* migrate(d1.db, options.migrations)
  return d1
})

/** `start` for callers outside Effect: resolves once migrated; call `dispose` when done. */
export const startMiniflareD1 = async (options: MiniflareD1Options = {}): Promise<MiniflareD1> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.provide(start(options), scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw Cause.squash(exit.cause)
  }
  return { ...exit.value, dispose: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** The running local D1 behind `layer`: for raw access (EXPLAIN, tampering with rows in tests). */
export class TestD1 extends Context.Service<TestD1, MiniflareD1>()("@porter/d1/testing/TestD1") {}

/**
 * A migrated local D1 for the layer's lifetime: provides `D1Client`, `SqlClient` and `TestD1`.
 * workerd stops when the layer's scope closes.
 */
export const layer = (
  options: MiniflareD1Options = {}
): Layer.Layer<TestD1 | D1Client.D1Client | SqlClient.SqlClient, Migrations.MigrationError> => {
  const started = Layer.effect(TestD1, start(options))
  const client = Layer.unwrap(Effect.gen(function*() {
    const d1 = yield* TestD1
    // `D1Client.layer` declares a ConfigError it cannot produce with a concrete config.
    return D1Client.layer({ db: d1.db }).pipe(Layer.orDie)
  }))
  return Layer.provideMerge(client, started)
}
