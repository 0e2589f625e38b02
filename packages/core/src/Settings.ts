/**
 * Settings: per-repository, per-installation and global knobs read by the orchestration. A missing
 * row means defaults. Lookup merges global ← installation ← repository (the most specific wins).
 */
import { Context, Effect, Layer, Ref, Schema } from "effect"
import type { StoreError } from "./Errors.ts"
import * as Pricing from "./Pricing.ts"

/** A duration in milliseconds, more than zero. */
export const Duration = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

/** An amount of US dollars for a budget: 0 (none, for monthly budgets) up to 1,000,000. */
export const Usd = Schema.Number.pipe(
  Schema.check(Schema.isBetween({ minimum: 0, maximum: 1e6 }, { expected: "USD between 0 and 1,000,000" }))
)
/** Fix tasks started by Porter itself per pull request when its checks fail: 0 to 10. */
export const AutofixCi = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 10 })))

/** A cap of a task: more than 0. */
export const PositiveUsd = Usd.pipe(Schema.check(Schema.isGreaterThan(0, { expected: "more than $0" })))

/** What applies to a repository: mention, default agent, users, limits, timeouts, budgets, outsiders, prices… */
export class RepoSettings extends Schema.Class<RepoSettings>("@porter/core/RepoSettings")({
  /** The name after `@` that addresses Porter. */
  mentionName: Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$/))),
  /** The agent for `@porter <instructions>` when the first word is not an agent. */
  defaultAgent: Schema.String,
  /** If not empty, only these logins may trigger runs (still needing write access). */
  allowedUsers: Schema.Array(Schema.String),
  /** These logins may never trigger runs. */
  deniedUsers: Schema.Array(Schema.String),
  maxActivePerRepo: Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0))),
  maxActivePerUser: Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0))),
  defaultTimeoutMs: Duration,
  maxTimeoutMs: Duration,
  /** Keep `porter:<state>` labels on the issue in step with its latest task. */
  stateLabels: Schema.Boolean,
  /** May an agent's changes touch `.github/workflows/**`? (Refused by default: a workflow runs with the repo's secrets.) */
  allowWorkflowChanges: Schema.Boolean,
  /** What a task may spend on model calls (USD) unless its request says `--budget`. */
  taskBudgetUsd: PositiveUsd,
  /** The most a request's `--budget` may ask for (USD). */
  maxTaskBudgetUsd: PositiveUsd,
  /** What the repository's tasks may spend per calendar month (UTC), USD; 0: no monthly budget. */
  repoMonthlyBudgetUsd: Usd,
  /** What one requester's tasks may spend per calendar month (UTC), all repositories together, USD; 0: none. */
  userMonthlyBudgetUsd: Usd,
  /**
   * Requests from people without write access: `ignore` (a polite refusal, at most once per person and issue an hour)
   * or `approval` (recorded `awaiting_approval` until someone with write access says `approve` or `deny`, 24 h at
   * most).
   */
  outsiders: Schema.Literals(["ignore", "approval"]),
  /** Days the agent's sessions, transcripts and diffs are kept (`ArtifactStore`); the deployment's (global) value rules. */
  artifactRetentionDays: Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 3650 }))),
  /** Model prices by model id prefix (`Pricing.PriceEntry`: `model=input/output/cacheRead/cacheWrite`, USD per
   * million tokens), over the built-in table (`Pricing.defaults`). */
  prices: Pricing.PriceList,
  /**
   * Fix tasks Porter starts by itself per pull request when its checks fail (`CiFeedback`); 0: none, only the comment
   * offering `@porter fix-ci`. At most 10.
   */
  autofixCi: AutofixCi
}) {}

/** The settings where nothing is stored. */
export const defaults = new RepoSettings({
  mentionName: "porter",
  defaultAgent: "claude",
  allowedUsers: [],
  deniedUsers: [],
  maxActivePerRepo: 5,
  maxActivePerUser: 3,
  defaultTimeoutMs: 30 * 60_000,
  maxTimeoutMs: 2 * 60 * 60_000,
  stateLabels: false,
  allowWorkflowChanges: false,
  taskBudgetUsd: 10,
  maxTaskBudgetUsd: 100,
  repoMonthlyBudgetUsd: 0,
  userMonthlyBudgetUsd: 0,
  outsiders: "ignore",
  artifactRetentionDays: 30,
  prices: Pricing.defaults,
  autofixCi: 0
})

/** A partial override, as stored. */
export const SettingsPatch = Schema.Struct({
  mentionName: Schema.optional(RepoSettings.fields.mentionName),
  defaultAgent: Schema.optional(Schema.String),
  allowedUsers: Schema.optional(Schema.Array(Schema.String)),
  deniedUsers: Schema.optional(Schema.Array(Schema.String)),
  maxActivePerRepo: Schema.optional(RepoSettings.fields.maxActivePerRepo),
  maxActivePerUser: Schema.optional(RepoSettings.fields.maxActivePerUser),
  defaultTimeoutMs: Schema.optional(Duration),
  maxTimeoutMs: Schema.optional(Duration),
  stateLabels: Schema.optional(Schema.Boolean),
  allowWorkflowChanges: Schema.optional(Schema.Boolean),
  taskBudgetUsd: Schema.optional(PositiveUsd),
  maxTaskBudgetUsd: Schema.optional(PositiveUsd),
  repoMonthlyBudgetUsd: Schema.optional(Usd),
  userMonthlyBudgetUsd: Schema.optional(Usd),
  outsiders: Schema.optional(RepoSettings.fields.outsiders),
  artifactRetentionDays: Schema.optional(RepoSettings.fields.artifactRetentionDays),
  /** Entries set over the broader scopes' tables (a repository overrides one model and keeps the rest). */
  prices: Schema.optional(Pricing.PriceList),
  autofixCi: Schema.optional(AutofixCi)
})
export type SettingsPatch = typeof SettingsPatch.Type

/** Where settings are stored: for a repository, an installation, or globally. */
export const SettingsScope = Schema.Union([
  Schema.TaggedStruct("repository", { repo: Schema.String }),
  Schema.TaggedStruct("installation", { installationId: Schema.String }),
  Schema.TaggedStruct("global", {})
])
/** Where settings are stored: for a repository, an installation, or globally. */
export type SettingsScope = typeof SettingsScope.Type

/** A stable text key for a scope: `repository:owner/name`, `installation:9`, `global`. */
export const settingsScopeKey = (scope: SettingsScope): string =>
  scope._tag === "repository"
    ? `repository:${scope.repo.toLowerCase()}`
    : scope._tag === "installation"
    ? `installation:${scope.installationId}`
    : "global"

/** `base` with the keys `patch` sets (price tables merge entry by entry). */
export const applyPatch = (base: RepoSettings, patch: SettingsPatch): RepoSettings => {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
  return new RepoSettings({ ...base, ...defined, prices: Pricing.merge(base.prices, patch.prices) })
}

/** Per-repository settings: stored overrides over installation, global and default values. */
export class Settings extends Context.Service<Settings, {
  readonly forRepo: (repo: string, installationId?: number) => Effect.Effect<RepoSettings, StoreError>
  readonly set: (scope: SettingsScope, patch: SettingsPatch) => Effect.Effect<void, StoreError>
  readonly get: (scope: SettingsScope) => Effect.Effect<SettingsPatch, StoreError>
  readonly delete: (scope: SettingsScope) => Effect.Effect<boolean, StoreError>
}>()("@porter/core/Settings") {}

/** Merges stored patches over `base` in the order global, installation, repository. */
export const resolveFrom = (
  base: RepoSettings,
  lookup: (key: string) => SettingsPatch | undefined,
  repo: string,
  installationId?: number
): RepoSettings => {
  const keys = [
    "global",
    ...(installationId !== undefined ? [`installation:${installationId}`] : []),
    `repository:${repo.toLowerCase()}`
  ]
  return keys.reduce((acc, key) => {
    const patch = lookup(key)
    return patch ? applyPatch(acc, patch) : acc
  }, base)
}

/** Settings held in memory (tests, single-process hosts), starting from `base`. */
export const makeMemory = (base: RepoSettings = defaults) =>
  Effect.gen(function*() {
    const rows = yield* Ref.make(new Map<string, SettingsPatch>())
    return Settings.of({
      forRepo: (repo, installationId) =>
        Effect.map(Ref.get(rows), (map) => resolveFrom(base, (key) => map.get(key), repo, installationId)),
      set: (scope, patch) =>
        Ref.update(rows, (map) => {
          const key = settingsScopeKey(scope)
          const next = new Map(map)
          next.set(key, { ...map.get(key), ...patch })
          return next
        }),
      get: (scope) => Effect.map(Ref.get(rows), (map) => map.get(settingsScopeKey(scope)) ?? {}),
      delete: (scope) =>
        Ref.modify(rows, (map) => {
          const key = settingsScopeKey(scope)
          if (!map.has(key)) return [false, map]
          const next = new Map(map)
          next.delete(key)
          return [true, next]
        })
    })
  })

/** `Settings` in memory over `base`. */
export const layerMemory = (base: RepoSettings = defaults): Layer.Layer<Settings> =>
  Layer.effect(Settings, makeMemory(base))
