/**
 * `Settings` on effect's `SqlClient` (SQLite on Node, Cloudflare D1, PostgreSQL): one row per scope (`global`,
 * `installation:<id>`, `repository:<owner/name>`), one nullable column per setting of schema 1 (NULL: not set at
 * this scope) and the later ones together in `extra` (one JSON object, migration 0003). `forRepo` merges global ←
 * installation ← repository over the defaults, like `Settings.makeMemory`.
 *
 * Settings are read on every webhook, so `forRepo` answers from a per-process (per-isolate) cache (30 s by default)
 * that `set` and `delete` through this layer clear at once.
 *
 * Cannot: see writes made by other processes or isolates (or by hand) before the cache entry expires; expect up to
 * `cacheTtl` of staleness there (several replicas: set `cacheTtl` lower, or 0).
 */
import { Settings } from "@porter/core"
import { Clock, Config, Duration, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Dialect from "./internal/dialect.ts"
import { orStoreError as storeErrors } from "./internal/errors.ts"

/** The settings store's options: how long answers are cached, and the defaults. */
export interface SqlSettingsOptions {
  /** How long `forRepo` answers from memory (default 30 seconds; 0 turns the cache off). */
  readonly cacheTtl?: Duration.Input | undefined
  /** What applies where nothing is stored (default `Settings.defaults`). */
  readonly base?: Settings.RepoSettings | undefined
  /** At most this many repositories are cached (default 1,000; the oldest entry goes first). */
  readonly cacheCapacity?: number | undefined
}

// The settings of schema 1 have a column each; every later one lives in `extra` (one JSON object, migration 0003).
const columns = {
  mentionName: "mention_name",
  defaultAgent: "default_agent",
  allowedUsers: "allowed_users",
  deniedUsers: "denied_users",
  maxActivePerRepo: "max_active_per_repo",
  maxActivePerUser: "max_active_per_user",
  defaultTimeoutMs: "default_timeout_ms",
  maxTimeoutMs: "max_timeout_ms",
  stateLabels: "state_labels"
} as const satisfies Partial<Record<keyof Settings.SettingsPatch, string>>

const Extra = Schema.fromJsonString(Schema.Record(Schema.String, Schema.Unknown))

const Logins = Schema.fromJsonString(Schema.Array(Schema.String))

/** An integer column checked with `schema` (PostgreSQL's BIGINT arrives as `bigint`). */
const numeric = <S extends Schema.Codec<number, number>>(schema: S) => Dialect.Num.pipe(Schema.decodeTo(schema))

/** A stored row, validated with the same rules as `RepoSettings`. */
const SettingsRow = Schema.Struct({
  scope_key: Schema.String,
  mention_name: Schema.NullOr(Settings.RepoSettings.fields.mentionName),
  default_agent: Schema.NullOr(Schema.String),
  allowed_users: Schema.NullOr(Logins),
  denied_users: Schema.NullOr(Logins),
  max_active_per_repo: Schema.NullOr(numeric(Settings.RepoSettings.fields.maxActivePerRepo)),
  max_active_per_user: Schema.NullOr(numeric(Settings.RepoSettings.fields.maxActivePerUser)),
  default_timeout_ms: Schema.NullOr(numeric(Settings.Duration)),
  max_timeout_ms: Schema.NullOr(numeric(Settings.Duration)),
  state_labels: Schema.NullOr(Schema.BooleanFromBit),
  extra: Schema.NullOr(Extra)
})
type SettingsRow = typeof SettingsRow.Type
const decodeRows = Schema.decodeUnknownEffect(Schema.Array(SettingsRow))
const encodeLogins = Schema.encodeEffect(Logins)
const validatePatch = Schema.decodeUnknownEffect(Settings.SettingsPatch)

const rowColumns = ["scope_key", ...Object.values(columns), "extra"].join(", ")
const encodeExtra = Schema.encodeEffect(Extra)

/** A stored row as a patch, validated with the same rules as `RepoSettings` (an unknown or invalid extra is dropped). */
const toPatch = (row: SettingsRow): Effect.Effect<Settings.SettingsPatch> => {
  const patch: Record<string, unknown> = { ...row.extra }
  for (const [field, column] of Object.entries(columns)) {
    const value = row[column]
    if (value !== null) patch[field] = value
  }
  return validatePatch(patch, { onExcessProperty: "ignore" }).pipe(
    Effect.orElseSucceed(() => (Object.fromEntries(
      Object.entries(columns).flatMap(([field, column]) => (row[column] === null ? [] : [[field, row[column]]]))
    ) as Settings.SettingsPatch))
  )
}

/** Builds the service on the ambient `SqlClient`. */
export const make = (
  options: SqlSettingsOptions = {}
): Effect.Effect<Settings.Settings["Service"], never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = yield* Dialect.of(sql)
    const orStoreError = (operation: string) => storeErrors(operation, dialect.label)
    const base = options.base ?? Settings.defaults
    const ttlMs = Duration.toMillis(options.cacheTtl ?? Duration.seconds(30))
    const capacity = options.cacheCapacity ?? 1_000

    // A plain map: a lookup that started before a write must not repopulate the cache after it,
    // so each entry remembers the write generation it was read in.
    const cache = new Map<string, { readonly value: Settings.RepoSettings; readonly expiresAt: number }>()
    let generation = 0
    const invalidate = Effect.sync(() => {
      generation++
      cache.clear()
    })

    const readPatches = (keys: ReadonlyArray<string>) =>
      sql`SELECT ${sql.literal(rowColumns)} FROM settings WHERE scope_key IN ${sql.in(keys)}`.pipe(
        Effect.flatMap(decodeRows),
        orStoreError("read settings"),
        Effect.flatMap((rows) =>
          Effect.forEach(rows, (row) => Effect.map(toPatch(row), (patch) => [row.scope_key, patch] as const))
        ),
        Effect.map((entries) => new Map(entries))
      )

    const load = Effect.fnUntraced(
      function*(repo: string, installationId: number | undefined, cacheKey: string, now: number) {
        const startedIn = generation
        const keys = [
          "global",
          ...(installationId !== undefined ? [`installation:${installationId}`] : []),
          `repository:${repo.toLowerCase()}`
        ]
        const patches = yield* readPatches(keys)
        const value = Settings.resolveFrom(base, (key) => patches.get(key), repo, installationId)
        if (ttlMs > 0 && startedIn === generation) {
          if (cache.size >= capacity) cache.delete(cache.keys().next().value!)
          cache.set(cacheKey, { value, expiresAt: now + ttlMs })
        }
        return value
      }
    )

    // Read on every webhook: a cache hit is one clock read, no span, no generator.
    const forRepo: Settings.Settings["Service"]["forRepo"] = (repo, installationId) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const cacheKey = `${repo.toLowerCase()}\u0000${installationId ?? ""}`
        const hit = cache.get(cacheKey)
        return hit !== undefined && hit.expiresAt > now
          ? Effect.succeed(hit.value)
          : load(repo, installationId, cacheKey, now)
      })

    const set: Settings.Settings["Service"]["set"] = Effect.fn("SqlSettings.set")(function*(scope, patch) {
      const valid = yield* validatePatch(patch).pipe(orStoreError("validate settings"))
      const values: Record<string, unknown> = {}
      for (const [field, column] of Object.entries(columns)) {
        const value = valid[field as keyof Settings.SettingsPatch]
        if (value === undefined) continue
        values[column] = Array.isArray(value)
          ? yield* encodeLogins(value).pipe(orStoreError("encode settings"))
          : typeof value === "boolean"
          ? (value ? 1 : 0)
          : value
      }
      const extra: Record<string, unknown> = {}
      for (const [field, value] of Object.entries(valid)) {
        if (value !== undefined && !(field in columns)) extra[field] = value
      }
      const now = yield* Clock.currentTimeMillis
      const scopeKey = Settings.settingsScopeKey(scope)
      // Settings without a column merge into the stored `extra` object (the patch's keys win).
      if (Object.keys(extra).length > 0) {
        values["extra"] = yield* encodeExtra(extra).pipe(orStoreError("encode settings"))
      }
      const assigned = Object.keys(values)
      // One upsert that merges: columns the patch leaves out keep their stored value.
      const assignment = (column: string) =>
        column === "extra"
          ? `extra = ${dialect.jsonMerge("coalesce(settings.extra, '{}')", "excluded.extra")}`
          : `${column} = excluded.${column}`
      const merge = sql.literal([...assigned.map(assignment), "updated_at = excluded.updated_at"].join(", "))
      yield* sql`INSERT INTO settings ${sql.insert({ scope_key: scopeKey, ...values, updated_at: now })}
        ON CONFLICT (scope_key) DO UPDATE SET ${merge}`.pipe(orStoreError("write settings"))
      yield* invalidate
    })

    const get: Settings.Settings["Service"]["get"] = Effect.fn("SqlSettings.get")(function*(scope) {
      const patches = yield* readPatches([Settings.settingsScopeKey(scope)])
      return patches.get(Settings.settingsScopeKey(scope)) ?? {}
    })

    const delete_: Settings.Settings["Service"]["delete"] = Effect.fn("SqlSettings.delete")(function*(scope) {
      const deleted = yield* sql`DELETE FROM settings WHERE scope_key = ${Settings.settingsScopeKey(scope)}
        RETURNING scope_key`.pipe(orStoreError("delete settings"))
      yield* invalidate
      return deleted.length > 0
    })

    return Settings.Settings.of({ forRepo, set, get, delete: delete_ })
  })

/** `Settings` on the ambient `SqlClient`. */
export const layer = (options: SqlSettingsOptions = {}): Layer.Layer<Settings.Settings, never, SqlClient.SqlClient> =>
  Layer.effect(Settings.Settings, make(options))

/** Like `layer`; the cache lifetime from `PORTER_SETTINGS_CACHE_MS` (default 30000). */
export const layerConfig: Layer.Layer<Settings.Settings, Config.ConfigError, SqlClient.SqlClient> = Layer.effect(
  Settings.Settings,
  Effect.gen(function*() {
    const cacheMs = yield* Config.Int("PORTER_SETTINGS_CACHE_MS").pipe(Config.withDefault(30_000))
    return yield* make({ cacheTtl: Duration.millis(cacheMs) })
  })
)
