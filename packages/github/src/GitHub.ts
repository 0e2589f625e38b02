/**
 * Everything GitHub in one layer, for hosts: `WebhookIntake`, `Reporter`, `IssueReader`,
 * `Authorizer`, `RepoTokens` and `RepoWriter`, sharing one REST client and one set of credentials (so one
 * installation-token cache).
 *
 * @since 0.1.0
 */
import type { Authorizer, IssueReader, Reporter, RepoTokens, WebhookIntake } from "@porter/core"
import type { RepoWriter } from "@porter/core/RepoWriter"
import { Config, Layer } from "effect"
import type { InvalidPrivateKey } from "./AppJwt.ts"
import * as GitHubAuth from "./GitHubAuth.ts"
import * as GitHubAuthorizer from "./GitHubAuthorizer.ts"
import type { GitHubClient } from "./GitHubClient.ts"
import * as GitHubIssueReader from "./GitHubIssueReader.ts"
import * as GitHubReporter from "./GitHubReporter.ts"
import * as GitHubRepoTokens from "./GitHubRepoTokens.ts"
import * as GitHubRepoWriter from "./GitHubRepoWriter.ts"
import * as GitHubWebhooks from "./GitHubWebhooks.ts"

/** @category models */
export type Services =
  | WebhookIntake.WebhookIntake
  | Reporter.Reporter
  | IssueReader.IssueReader
  | Authorizer.Authorizer
  | RepoTokens.RepoTokens
  | RepoWriter

/** @category models */
export interface Options extends GitHubAuth.ConnectionOptions, GitHubAuthorizer.AuthorizerOptions {
  readonly webhook: GitHubWebhooks.WebhookOptions
}

const adapters = (
  authorizer: Layer.Layer<Authorizer.Authorizer, Config.ConfigError, GitHubAuth.GitHubAuth | GitHubClient>
) =>
  Layer.mergeAll(
    GitHubReporter.layerWithConnection,
    GitHubIssueReader.layerWithConnection,
    GitHubRepoTokens.layerWithConnection,
    GitHubRepoWriter.layerWithConnection(),
    authorizer
  )

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Services, Config.ConfigError | InvalidPrivateKey> =>
  Layer.mergeAll(
    GitHubWebhooks.layer(options.webhook),
    adapters(GitHubAuthorizer.layerWithConnection(options)).pipe(Layer.provide(GitHubAuth.layerConnection(options)))
  )

/**
 * From configuration: `GITHUB_WEBHOOK_SECRET` (required), `GITHUB_API_URL`, `GITHUB_APP_ID` +
 * `GITHUB_APP_PRIVATE_KEY` or `GITHUB_TOKEN`, `PORTER_ALLOWED_USERS`, `PORTER_DENIED_USERS`.
 * Fails to build (the host does not start) when the webhook secret or the credentials are missing.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<Services, Config.ConfigError | InvalidPrivateKey> = Layer.mergeAll(
  GitHubWebhooks.layerConfig,
  adapters(GitHubAuthorizer.layerConfigWithConnection).pipe(Layer.provide(GitHubAuth.layerConnectionConfig()))
)
