/**
 * SecretStore: per-user, per-repository, per-installation and global secrets. Values only ever
 * leave a store as `Redacted`; listing returns names, never values.
 */
import { Context, Schema } from "effect"
import type { Effect, Option, Redacted } from "effect"
import type { SecretDecryptionFailed, StoreError } from "./Errors.ts"

/** A secret's name: an environment variable name (`ANTHROPIC_API_KEY`). */
export const SecretName = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Z_][A-Z0-9_]{0,63}$/)),
  Schema.brand("SecretName")
)
/** A secret's name: an environment variable name (`ANTHROPIC_API_KEY`). */
export type SecretName = typeof SecretName.Type

/** Whose a secret is: a user's, a repository's, an installation's, or global. */
export const SecretScope = Schema.Union([
  Schema.TaggedStruct("user", { userId: Schema.String }),
  Schema.TaggedStruct("repository", { repo: Schema.String }),
  Schema.TaggedStruct("installation", { installationId: Schema.String }),
  Schema.TaggedStruct("global", {})
])
/** Whose a secret is: a user's, a repository's, an installation's, or global. */
export type SecretScope = typeof SecretScope.Type

/** Constructors of `SecretScope`. */
export const scopes = {
  user: (userId: number | string): SecretScope => ({ _tag: "user", userId: String(userId) }),
  repository: (repo: string): SecretScope => ({ _tag: "repository", repo: repo.toLowerCase() }),
  installation: (installationId: number | string): SecretScope => ({
    _tag: "installation",
    installationId: String(installationId)
  }),
  global: { _tag: "global" } as SecretScope
} as const

/** A stable text key for a scope: `user:123`, `repository:octo/hello`, `installation:9`, `global`. */
export const scopeKey = (scope: SecretScope): string => {
  switch (scope._tag) {
    case "user":
      return `user:${scope.userId}`
    case "repository":
      return `repository:${scope.repo.toLowerCase()}`
    case "installation":
      return `installation:${scope.installationId}`
    case "global":
      return "global"
  }
}

/** Parses `scopeKey` output back; `undefined` for anything else. */
export const parseScopeKey = (key: string): SecretScope | undefined => {
  if (key === "global") return scopes.global
  const at = key.indexOf(":")
  if (at < 0) return undefined
  const kind = key.slice(0, at)
  const id = key.slice(at + 1)
  if (id.length === 0) return undefined
  if (kind === "user") return scopes.user(id)
  if (kind === "repository") return scopes.repository(id)
  if (kind === "installation") return scopes.installation(id)
  return undefined
}

/** Who a lookup is for. `resolve` tries user, repository, installation, then global. */
export interface SecretChain {
  readonly userId?: number | string
  readonly repo?: string
  readonly installationId?: number | string
}

/** The scopes a lookup tries, in order: user, repository, installation, global. */
export const chainScopes = (chain: SecretChain): ReadonlyArray<SecretScope> => [
  ...(chain.userId !== undefined ? [scopes.user(chain.userId)] : []),
  ...(chain.repo !== undefined ? [scopes.repository(chain.repo)] : []),
  ...(chain.installationId !== undefined ? [scopes.installation(chain.installationId)] : []),
  scopes.global
]

/** A secret found for a chain: the scope that held it and its value. */
export interface ResolvedSecret {
  readonly scope: SecretScope
  readonly value: Redacted.Redacted<string>
}

/** What `rotate` did. Failures name rows (scope key, name, key id), never values. */
export interface RotationReport {
  /** Secrets re-encrypted under the current key. */
  readonly rotated: number
  /** Secrets that could not be decrypted (they are left as they are). */
  readonly failed: number
  readonly failures: ReadonlyArray<{ readonly scope: string; readonly name: string; readonly keyId: string }>
  /** The key every other secret is now under (`none` for stores that do not encrypt). */
  readonly currentKeyId: string
}

/** A stored secret as listed: scope, name and when it was last set (never its value). */
export interface SecretListing {
  readonly scope: SecretScope
  readonly name: string
  readonly updatedAt: number
}

/** Per-user, per-repository, per-installation and global secrets, encrypted at rest by the adapters. */
export class SecretStore extends Context.Service<SecretStore, {
  readonly set: (
    scope: SecretScope,
    name: SecretName,
    value: Redacted.Redacted<string>
  ) => Effect.Effect<void, StoreError>
  readonly get: (
    scope: SecretScope,
    name: SecretName
  ) => Effect.Effect<Option.Option<Redacted.Redacted<string>>, SecretDecryptionFailed | StoreError>
  /** The first scope of the chain (user → repository → installation → global) that holds `name`. */
  readonly resolve: (
    name: SecretName,
    chain: SecretChain
  ) => Effect.Effect<Option.Option<ResolvedSecret>, SecretDecryptionFailed | StoreError>
  /**
   * `resolve` for several names in one read: each name found maps to the first scope of the chain that holds it
   * (names found nowhere are absent).
   */
  readonly resolveAll: (
    names: ReadonlyArray<SecretName>,
    chain: SecretChain
  ) => Effect.Effect<ReadonlyMap<SecretName, ResolvedSecret>, SecretDecryptionFailed | StoreError>
  /** Names only. With a scope: that scope's secrets; without: all. */
  readonly list: (scope?: SecretScope) => Effect.Effect<ReadonlyArray<SecretListing>, StoreError>
  /** `true` when something was deleted. */
  readonly delete: (scope: SecretScope, name: SecretName) => Effect.Effect<boolean, StoreError>
  /**
   * Re-encrypts every secret that is not under the current encryption key (key rotation: set the new key, keep the
   * old one as retired, rotate, then drop it). Stores that do not encrypt report nothing to do.
   */
  readonly rotate: () => Effect.Effect<RotationReport, StoreError>
}>()("@porter/core/SecretStore") {}
