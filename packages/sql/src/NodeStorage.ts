/**
 * All of Porter's storage for a Node host, in one layer: `TaskStore`, `SecretStore` (and `SqlSecretStore` for
 * rotation with options), `Settings`, `UsageStore`, `ArtifactStore` (sessions and transcripts) and the `SqlClient`
 * they share, on
 *
 * - **SQLite** (`@effect/sql-sqlite-node`, Node's `node:sqlite`): one file, WAL journal, a 5 s busy timeout, the WAL
 *   checkpointed by a worker thread so that its syncs never pause the host (`WalCheckpoints`);
 *   `synchronous = NORMAL` by default — a commit is in the WAL (the OS's page cache) before it is answered, so it
 *   survives the process being killed, and the WAL is synced at checkpoints; power loss may take the last commits.
 *   `FULL` syncs the WAL on every commit (nothing lost on power loss; ~3× fewer webhooks per second answered at one
 *   connection on a disk where a sync takes ~2.5 ms: bench/durable). One process at a time (a restarted host after
 *   the old one);
 * - **PostgreSQL** (`@effect/sql-pg`, a connection pool): several hosts (replicas) may share one database.
 *
 * The dialect's migrations are applied when the layer is built, under a lock (`Migrator`), before any store is used:
 * replicas starting together apply each migration once.
 *
 * Configuration (`layerConfig`): `DATABASE_URL` (a `postgres://` URL) chooses PostgreSQL; without it, SQLite in
 * `PORTER_DATA_DIR` (default `./.porter-data`, file `porter.db`). Keys: `PORTER_ENCRYPTION_KEY` (+ `_KEY_ID`,
 * `_OLD_KEYS`, see `EncryptionKeys`); on SQLite without one, a key generated once and kept in the data directory
 * (`encryption-key`, see `DataDir`); on PostgreSQL it is required (replicas must share it). `PORTER_SQLITE_SYNCHRONOUS`
 * (`NORMAL`, default, or `FULL`), `PORTER_SETTINGS_CACHE_MS` (default 30000).
 */
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { ArtifactStore, ModelUsage, SecretStore, Settings, TaskStore } from "@porter/core"
import { Config, Duration, Effect, Layer, Option, type Redacted } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { dirname, join } from "node:path"
import * as DataDir from "./DataDir.ts"
import * as EncryptionKeys from "./EncryptionKeys.ts"
import * as Dialect from "./internal/dialect.ts"
import * as MigrationFiles from "./MigrationFiles.ts"
import * as Migrator from "./Migrator.ts"
import * as SqlArtifactStore from "./SqlArtifactStore.ts"
import * as SqlSecretStore from "./SqlSecretStore.ts"
import * as SqlSettings from "./SqlSettings.ts"
import * as SqlTaskStore from "./SqlTaskStore.ts"
import * as SqlUsageStore from "./SqlUsageStore.ts"
import * as WalCheckpoints from "./WalCheckpoints.ts"

/** Where the data lives. */
export type Database =
  | {
    readonly _tag: "sqlite"
    /** The database file (its directory is made if missing); `:memory:` for a throwaway one. */
    readonly filename: string
    /** Default `NORMAL` (see the module's header). */
    readonly synchronous?: "FULL" | "NORMAL" | undefined
  }
  | {
    readonly _tag: "postgres"
    /** `postgres://user:password@host:port/database` (or give `client`). */
    readonly url?: Redacted.Redacted<string> | undefined
    /** The pool's options (host, port, `path` of a unix socket, credentials, `maxConnections`, …). */
    readonly client?: PgClient.PgPoolConfig | undefined
  }

/** A Node host's storage: the database (SQLite or PostgreSQL), the secrets' keys, settings, migrations. */
export interface StorageOptions {
  readonly database: Database
  readonly keys: EncryptionKeys.EncryptionKeysOptions
  readonly settings?: SqlSettings.SqlSettingsOptions | undefined
  /** Apply the dialect's migrations (default), those of another directory, or none (`false`). */
  readonly migrations?: boolean | string | undefined
}

/** Everything a Node host's storage provides: the stores and the `SqlClient`. */
export type Services =
  | TaskStore.TaskStore
  | SecretStore.SecretStore
  | SqlSecretStore.SqlSecretStore
  | Settings.Settings
  | ModelUsage.UsageStore
  | ArtifactStore.ArtifactStore
  | SqlClient.SqlClient

/** Why the storage did not start. */
export type StorageError =
  | SqlError.SqlError
  | Migrator.MigrationError
  | EncryptionKeys.EncryptionKeyError
  | DataDir.DataDirError

/** The `SqlClient` of `database`: SQLite with its journal settings, or a PostgreSQL pool. */
export const clientLayer = (
  database: Database
): Layer.Layer<SqlClient.SqlClient, SqlError.SqlError | DataDir.DataDirError> => {
  if (database._tag === "postgres") {
    return PgClient.layer({ ...database.client, ...(database.url !== undefined ? { url: database.url } : {}) })
  }
  const memory = database.filename === ":memory:"
  const client = SqliteClient.layer({ filename: database.filename, disableWAL: memory })
  // One connection, so a pragma set once holds for every statement.
  const pragmas = Layer.effectDiscard(Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql.unsafe(`PRAGMA synchronous = ${database.synchronous ?? "NORMAL"}`).unprepared
  ))
  const directory = memory
    ? Layer.empty
    : Layer.effectDiscard(DataDir.ensure(dirname(database.filename)))
  // A file's WAL is checkpointed in a worker thread, not in the host's event loop (`WalCheckpoints`).
  const checkpoints = memory
    ? Layer.empty
    : WalCheckpoints.layer({ filename: database.filename, synchronous: database.synchronous ?? "NORMAL" })
  return Layer.provideMerge(Layer.mergeAll(pragmas, checkpoints), client).pipe(Layer.provide(directory))
}

/** Applies the dialect's migrations (or `dir`'s) on the ambient client; returns the names applied now. */
export const migrate = (dir?: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const files = dir ?? MigrationFiles.dirFor((yield* Dialect.of(sql)).name)
    const applied = yield* Effect.flatMap(MigrationFiles.read(files), Migrator.apply)
    if (applied.length > 0) yield* Effect.logInfo("storage migrated", { applied })
    return applied
  })

/** The stores on the ambient `SqlClient`, once its migrations are applied. */
export const storesLayer = (
  options: Omit<StorageOptions, "database">
): Layer.Layer<Exclude<Services, SqlClient.SqlClient>, StorageError, SqlClient.SqlClient> => {
  const stores = Layer.mergeAll(
    SqlTaskStore.layer,
    SqlSecretStore.layer(options.keys),
    SqlSettings.layer(options.settings),
    SqlUsageStore.layer,
    SqlArtifactStore.layer
  )
  if (options.migrations === false) return stores
  const dir = typeof options.migrations === "string" ? options.migrations : undefined
  return stores.pipe(Layer.provide(Layer.effectDiscard(migrate(dir))))
}

/** Everything from explicit options. */
export const layer = (options: StorageOptions): Layer.Layer<Services, StorageError> =>
  storesLayer(options).pipe(Layer.provideMerge(clientLayer(options.database)))

/** The file name of the SQLite database in a data directory. */
export const SQLITE_FILE = "porter.db"

/** The database from configuration: `DATABASE_URL`, else SQLite in `PORTER_DATA_DIR`. */
export const databaseConfig: Config.Config<Database> = Config.all({
  url: Config.option(Config.Redacted("DATABASE_URL")),
  dataDir: Config.String("PORTER_DATA_DIR").pipe(Config.withDefault(DataDir.DEFAULT)),
  synchronous: Config.Literals(["FULL", "NORMAL"], "PORTER_SQLITE_SYNCHRONOUS").pipe(Config.withDefault("NORMAL"))
}).pipe(Config.map(({ dataDir, synchronous, url }): Database =>
  Option.isSome(url)
    ? { _tag: "postgres", url: url.value }
    : { _tag: "sqlite", filename: join(dataDir, SQLITE_FILE), synchronous }
))

/**
 * The secret store's keys from configuration; without `PORTER_ENCRYPTION_KEY`, on SQLite only, a key generated once
 * and kept in `dataDir` (`encryption-key`).
 */
export const keysConfig = (database: Database, dataDir: string) =>
  Effect.gen(function*() {
    const configured = yield* Config.option(Config.Redacted("PORTER_ENCRYPTION_KEY"))
    if (Option.isSome(configured) || database._tag === "postgres") return yield* EncryptionKeys.fromConfig
    const key = yield* DataDir.secret(dataDir, "encryption-key", EncryptionKeys.generate)
    yield* Effect.logInfo(`PORTER_ENCRYPTION_KEY is not set: secrets are encrypted with the key kept in ${dataDir}`)
    return yield* EncryptionKeys.make({ current: { id: "local", key } })
  })

/** Everything from configuration (see the module's header). */
export const layerConfig: Layer.Layer<Services, StorageError | Config.ConfigError> = Layer.unwrap(
  Effect.gen(function*() {
    const database = yield* databaseConfig
    const dataDir = yield* Config.String("PORTER_DATA_DIR").pipe(Config.withDefault(DataDir.DEFAULT))
    const cacheMs = yield* Config.Int("PORTER_SETTINGS_CACHE_MS").pipe(Config.withDefault(30_000))
    const keys = yield* keysConfig(database, dataDir)
    const stores = Layer.mergeAll(
      SqlTaskStore.layer,
      SqlSecretStore.layerWithKeys(keys),
      SqlSettings.layer({ cacheTtl: Duration.millis(cacheMs) }),
      SqlUsageStore.layer,
      SqlArtifactStore.layer
    ).pipe(Layer.provide(Layer.effectDiscard(migrate())))
    return stores.pipe(Layer.provideMerge(clientLayer(database)))
  })
)
