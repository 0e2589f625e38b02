/**
 * All of Porter's storage on one D1 binding, in one layer: `TaskStore`, `SecretStore` (and
 * `D1SecretStore` for rotation), `Settings`, `UsageStore` (the model gateway's metering) and `ArtifactStore` (sessions, transcripts), `@porter/sql`'s, plus the
 * `D1Client`/`SqlClient` they share. This is
 * what a Worker provides: `D1Storage.layerConfig({ db: env.DB })`.
 *
 * Cannot: apply migrations (run `wrangler d1 migrations apply porter --remote` when deploying).
 */
import type { D1Database } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import type { ArtifactStore, ModelUsage, SecretStore, Settings, TaskStore } from "@porter/core"
import { type EncryptionKeys, SqlArtifactStore, SqlUsageStore } from "@porter/sql"
import { type Config, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import * as D1SecretStore from "./D1SecretStore.ts"
import * as D1Settings from "./D1Settings.ts"
import * as D1TaskStore from "./D1TaskStore.ts"

/** Everything the Worker's storage provides: the stores, `D1Client` and `SqlClient`. */
export type Services =
  | TaskStore.TaskStore
  | SecretStore.SecretStore
  | D1SecretStore.D1SecretStore
  | Settings.Settings
  | ModelUsage.UsageStore
  | ArtifactStore.ArtifactStore
  | D1Client.D1Client
  | SqlClient.SqlClient

/** The D1 binding, the secrets' encryption keys and the settings' options. */
export interface D1StorageOptions {
  readonly db: D1Database
  readonly keys: EncryptionKeys.EncryptionKeysOptions
  readonly settings?: D1Settings.D1SettingsOptions | undefined
}

// `D1Client.layer` declares a ConfigError it cannot produce with a concrete config.
const client = (db: D1Database) => D1Client.layer({ db }).pipe(Layer.orDie)

/** Everything from explicit options. */
export const layer = (options: D1StorageOptions): Layer.Layer<Services, EncryptionKeys.EncryptionKeyError> =>
  Layer.mergeAll(
    D1TaskStore.layer,
    D1SecretStore.layer(options.keys),
    D1Settings.layer(options.settings),
    SqlUsageStore.layer,
    SqlArtifactStore.layer
  ).pipe(Layer.provideMerge(client(options.db)))

/** Everything, with keys and the settings cache from configuration (see `EncryptionKeys`, `D1Settings`). */
export const layerConfig = (options: {
  readonly db: D1Database
}): Layer.Layer<Services, EncryptionKeys.EncryptionKeyError | Config.ConfigError> =>
  Layer.mergeAll(
    D1TaskStore.layer,
    D1SecretStore.layerConfig,
    D1Settings.layerConfig,
    SqlUsageStore.layer,
    SqlArtifactStore.layer
  ).pipe(
    Layer.provideMerge(client(options.db))
  )
