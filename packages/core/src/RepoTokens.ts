/**
 * RepoTokens: the GitHub token a machine gets (`GITHUB_TOKEN`) — for a GitHub App, an installation
 * token scoped to the task's one repository; for a personal-access-token setup, that token.
 */
import { Context, Effect, Layer } from "effect"
import type { Redacted } from "effect"
import type { TokenError } from "./Errors.ts"
import type { RepoRef } from "./Repo.ts"

export class RepoTokens extends Context.Service<RepoTokens, {
  readonly mint: (repo: RepoRef, installationId?: number) => Effect.Effect<Redacted.Redacted<string>, TokenError>
}>()("@porter/core/RepoTokens") {}

/** Always the same token (personal access token setups, tests). */
export const layerStatic = (token: Redacted.Redacted<string>): Layer.Layer<RepoTokens> =>
  Layer.succeed(RepoTokens, RepoTokens.of({ mint: () => Effect.succeed(token) }))
