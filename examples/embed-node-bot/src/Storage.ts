/**
 * Where the bot keeps its state — tasks, deliveries, the audit trail, secrets and settings — and the keys that must
 * outlive a restart with it:
 *
 * - `sqlite` (the default): one SQLite file in a data directory (`PORTER_DATA_DIR`, default `./.porter-data`), through
 *   `@porter/sql`. A restarted bot carries on: deliveries, tasks and their machines (the local machines' records are
 *   kept in `<dir>/machines`, and a running machine is adopted by the next start). Secrets are encrypted with
 *   `PORTER_ENCRYPTION_KEY`, else with a key generated once into the directory; the machines' callback tokens are
 *   signed with `PORTER_TASK_TOKEN_SECRET`, else with a key generated once into the directory, so a machine started
 *   before a restart is still heard after it.
 * - `postgres` (when `DATABASE_URL` is set): several bots may share one database (replicas behind one webhook URL):
 *   each delivery is claimed once and each watchdog step taken once. They must share `PORTER_ENCRYPTION_KEY` and
 *   `PORTER_TASK_TOKEN_SECRET`, both required.
 * - `memory`: nothing survives the process (`PORTER_STORAGE=memory`; tests, benchmarks).
 *
 * Agent sessions, transcripts and diffs (`ArtifactStore`): files in `<dir>/artifacts` with SQLite, the shared
 * `task_artifacts` table with PostgreSQL, memory with `memory`.
 *
 * Cannot: move a task's local machine to another host (machines are processes of the host that started them; with
 * `postgres`, a replica takes over another's machines only through a shared `PORTER_LOCAL_STATE_DIR` on one host).
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { type ArtifactStore, Ids, type ModelUsage, SecretStore, Settings, type TaskStore } from "@porter/core"
import { EncryptionKeys, SqlArtifactStore, SqlSecretStore, SqlSettings, SqlTaskStore, SqlUsageStore } from "@porter/sql"
import { DataDir, FileArtifactStore, NodeStorage } from "@porter/sql/node"
import { InMemoryArtifactStore, InMemorySecretStore, InMemoryTaskStore, InMemoryUsageStore } from "@porter/testing"
import { Config, Effect, Layer, Option, Redacted, Schema } from "effect"
import { join } from "node:path"

/** Where the state lives. */
export type Choice =
  | { readonly _tag: "memory" }
  | {
    readonly _tag: "sqlite"
    /** The data directory (default `./.porter-data`): `porter.db`, generated keys, local machines' records. */
    readonly dataDir?: string | undefined
    /**
     * Default `NORMAL`: a commit survives the bot being killed (WAL); `FULL` also survives power loss, at a price in
     * webhooks per second (see `@porter/sql`'s `NodeStorage`).
     */
    readonly synchronous?: "FULL" | "NORMAL" | undefined
  }
  | {
    readonly _tag: "postgres"
    readonly url: Redacted.Redacted<string>
    /** Still the local machines' records (`<dir>/machines`). */
    readonly dataDir?: string | undefined
  }

/** A secret name the bot was given that the store refuses. */
export class StorageConfigError extends Schema.TaggedError<StorageConfigError>()("StorageConfigError", {
  message: Schema.String
}) {}

export type StorageError = NodeStorage.StorageError | StorageConfigError | Config.ConfigError

/** What the stores provide. */
export type Stores =
  | TaskStore.TaskStore
  | SecretStore.SecretStore
  | Settings.Settings
  | ModelUsage.UsageStore
  | ArtifactStore.ArtifactStore

/** The data directory of a choice (memory: none). */
export const dataDirOf = (choice: Choice): string | undefined =>
  choice._tag === "memory" ? undefined : choice.dataDir ?? DataDir.DEFAULT

/** The local machines' state directory of a choice: `<data dir>/machines` (memory: none). */
export const machinesDirOf = (choice: Choice): string | undefined => {
  const dir = dataDirOf(choice)
  return dir === undefined ? undefined : join(dir, "machines")
}

/**
 * The secret store's keys: `given`, else from configuration (`PORTER_ENCRYPTION_KEY`, …: `NodeStorage.keysConfig`),
 * else — SQLite only — a key generated once and kept in the data directory.
 */
const keysFor = (
  choice: Exclude<Choice, { readonly _tag: "memory" }>,
  database: NodeStorage.Database,
  given: EncryptionKeys.EncryptionKeysOptions | undefined
): Effect.Effect<EncryptionKeys.EncryptionKeys, StorageError> =>
  given !== undefined ? EncryptionKeys.make(given) : NodeStorage.keysConfig(database, dataDirOf(choice)!)

/**
 * The key of the machines' callback tokens: `given`, or (SQLite) one kept in the data directory, or (memory) a random
 * one for this process. PostgreSQL replicas must be given one.
 */
export const taskTokenSecret = (
  choice: Choice,
  given: Redacted.Redacted<string> | undefined
): Effect.Effect<Redacted.Redacted<string>, StorageError> => {
  if (given !== undefined) return Effect.succeed(given)
  if (choice._tag === "sqlite") return DataDir.secret(dataDirOf(choice)!, "task-token-secret")
  if (choice._tag === "memory") return Effect.succeed(Redacted.make(Ids.randomToken()))
  return Effect.fail(
    new StorageConfigError({
      message: "PORTER_TASK_TOKEN_SECRET is required with DATABASE_URL: every replica must verify every machine's calls"
    })
  )
}

/** `secrets` (agent keys given at start) written to the store's global scope. */
const seed = (secrets: Readonly<Record<string, Redacted.Redacted<string>>>) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const store = yield* SecretStore.SecretStore
    for (const [raw, value] of Object.entries(secrets)) {
      const name = yield* Schema.decodeUnknownEffect(SecretStore.SecretName)(raw).pipe(
        Effect.mapError(() => new StorageConfigError({ message: `${raw} is not a secret name (A-Z, 0-9, _)` }))
      )
      yield* store.set(SecretStore.scopes.global, name, value).pipe(
        Effect.mapError((error) => new StorageConfigError({ message: `storing ${raw} failed: ${error.message}` }))
      )
    }
  }))

/**
 * The stores of `choice`, migrated, with `secrets` stored in the global scope. `settings` are the defaults stored
 * overrides apply to; `keys`: the secret store's keys when configured.
 */
export const layer = (choice: Choice, options: {
  readonly secrets?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  readonly settings?: Settings.RepoSettings | undefined
  readonly keys?: EncryptionKeys.EncryptionKeysOptions | undefined
} = {}): Layer.Layer<Stores, StorageError> => {
  const seeded = <E>(stores: Layer.Layer<Stores, E>) =>
    Layer.merge(stores, seed(options.secrets ?? {}).pipe(Layer.provide(stores)))
  if (choice._tag === "memory") {
    return seeded(
      Layer.mergeAll(
        InMemoryTaskStore.layer,
        InMemorySecretStore.layer([]),
        Settings.layerMemory(options.settings),
        InMemoryUsageStore.layer,
        InMemoryArtifactStore.layer
      )
    )
  }
  const database: NodeStorage.Database = choice._tag === "postgres"
    ? { _tag: "postgres", url: choice.url }
    : { _tag: "sqlite", filename: join(dataDirOf(choice)!, NodeStorage.SQLITE_FILE), synchronous: choice.synchronous }
  // Sessions and transcripts: files in the data directory beside SQLite's; PostgreSQL's replicas share its table.
  const dataDir = dataDirOf(choice)
  const artifacts = dataDir !== undefined
    ? FileArtifactStore.layer({ dir: join(dataDir, "artifacts") }).pipe(Layer.provide(NodeServices.layer))
    : SqlArtifactStore.layer
  const stores = Layer.unwrap(Effect.map(keysFor(choice, database, options.keys), (keys) =>
    Layer.mergeAll(
      SqlTaskStore.layer,
      SqlSecretStore.layerWithKeys(keys),
      SqlSettings.layer({ base: options.settings }),
      SqlUsageStore.layer,
      artifacts
    ).pipe(
      Layer.provide(Layer.effectDiscard(NodeStorage.migrate())),
      Layer.provide(NodeStorage.clientLayer(database))
    )))
  return seeded(stores)
}

/**
 * The choice from configuration: `PORTER_STORAGE` (`sqlite`, `postgres`, `memory`; default `postgres` when
 * `DATABASE_URL` is set, else `sqlite`), `DATABASE_URL`, `PORTER_DATA_DIR`, `PORTER_SQLITE_SYNCHRONOUS`.
 */
export const config: Config.Config<Choice> = Config.all({
  kind: Config.option(Config.Literals(["sqlite", "postgres", "memory"], "PORTER_STORAGE")),
  url: Config.option(Config.Redacted("DATABASE_URL")),
  dataDir: Config.String("PORTER_DATA_DIR").pipe(Config.withDefault(DataDir.DEFAULT)),
  synchronous: Config.Literals(["FULL", "NORMAL"], "PORTER_SQLITE_SYNCHRONOUS").pipe(Config.withDefault("NORMAL"))
}).pipe(Config.flatMap(({ dataDir, kind, synchronous, url }): Config.Config<Choice> => {
  const chosen = Option.getOrElse(kind, () => (Option.isSome(url) ? "postgres" as const : "sqlite" as const))
  if (chosen === "memory") return Config.succeed({ _tag: "memory" })
  if (chosen === "sqlite") return Config.succeed({ _tag: "sqlite", dataDir, synchronous })
  return Option.isSome(url)
    ? Config.succeed({ _tag: "postgres", url: url.value, dataDir })
    : Config.Redacted("DATABASE_URL").pipe(Config.map((given) => ({ _tag: "postgres" as const, url: given, dataDir })))
}))
