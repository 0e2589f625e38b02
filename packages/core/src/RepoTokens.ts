/**
 * RepoTokens: the token Porter's git proxy (`GitProxy`) reads a task's repository with — for a GitHub App, an
 * installation token scoped to the task's one repository with read access; for a personal-access-token setup, that
 * token. It never leaves Porter: machines clone through the proxy with their task token.
 */
import { Context, Effect, Layer } from "effect"
import type { Redacted } from "effect"
import type { TokenError } from "./Errors.ts"
import type { RepoRef } from "./Repo.ts"

/**
 * The token Porter's git proxy (`GitProxy`) reads a task's repository with — for a GitHub App, an installation token
 * scoped to the task's one repository with read access; for a personal-access-token setup, that token.
 */
export class RepoTokens extends Context.Service<RepoTokens, {
  readonly mint: (repo: RepoRef, installationId?: number) => Effect.Effect<Redacted.Redacted<string>, TokenError>
}>()("@porter/core/RepoTokens") {}

/** Always the same token (personal access token setups, tests). */
export const layerStatic = (token: Redacted.Redacted<string>): Layer.Layer<RepoTokens> =>
  Layer.succeed(RepoTokens, RepoTokens.of({ mint: () => Effect.succeed(token) }))
