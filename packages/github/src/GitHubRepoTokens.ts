/**
 * GitHubRepoTokens: core's `RepoTokens` — the token Porter's git proxy reads a task's repository with (it never
 * reaches the machine). As a GitHub App: an installation token scoped to the one repository (`repositories: [name]`)
 * with `contents: read` only, valid for an hour. With a personal access token: that token (it cannot be narrowed).
 *
 * @since 0.1.0
 */
import { Errors, RepoTokens } from "@porter/core"
import { Config, Effect, Layer } from "effect"
import type { InvalidPrivateKey } from "./AppJwt.ts"
import * as GitHubAuth from "./GitHubAuth.ts"
import type { GitHubClient } from "./GitHubClient.ts"

/**
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<
  RepoTokens.RepoTokens["Service"],
  never,
  GitHubAuth.GitHubAuth
> = Effect.gen(function*() {
  const auth = yield* GitHubAuth.GitHubAuth
  return RepoTokens.RepoTokens.of({
    mint: (repo, installationId) =>
      auth.machineToken(repo, installationId).pipe(
        Effect.mapError((error) => new Errors.TokenError({ message: error.message })),
        Effect.withSpan("GitHubRepoTokens.mint", { attributes: { repo: repo.fullName } })
      )
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: GitHubAuth.ConnectionOptions): Layer.Layer<RepoTokens.RepoTokens, InvalidPrivateKey> =>
  Layer.effect(RepoTokens.RepoTokens, make).pipe(Layer.provide(GitHubAuth.layerConnection(options)))

/**
 * @category layers
 * @since 0.1.0
 */
export const layerWithConnection: Layer.Layer<RepoTokens.RepoTokens, never, GitHubAuth.GitHubAuth | GitHubClient> =
  Layer.effect(RepoTokens.RepoTokens, make)

/**
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<RepoTokens.RepoTokens, Config.ConfigError | InvalidPrivateKey> =
  layerWithConnection.pipe(Layer.provide(GitHubAuth.layerConnectionConfig()))
