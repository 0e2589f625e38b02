/**
 * @porter/github — Porter's GitHub adapters: webhook verification and event schemas
 * (`WebhookIntake`), GitHub App and personal-token auth (`RepoTokens`), and REST adapters for
 * `Reporter`, `IssueReader`, `Authorizer` and `RepoWriter` (Git Data API) on `fetch` (`GitHubClient`).
 * Runs in workerd and Node.
 *
 * @since 0.1.0
 */
export * as AppJwt from "./AppJwt.ts"
export * as GistArtifactStore from "./GistArtifactStore.ts"
export * as GitHub from "./GitHub.ts"
export * as GitHubAuth from "./GitHubAuth.ts"
export * as GitHubAuthorizer from "./GitHubAuthorizer.ts"
export * as GitHubClient from "./GitHubClient.ts"
export * as GitHubIssueReader from "./GitHubIssueReader.ts"
export * as GitHubReporter from "./GitHubReporter.ts"
export * as GitHubRepoTokens from "./GitHubRepoTokens.ts"
export * as GitHubRepoWriter from "./GitHubRepoWriter.ts"
export * as GitHubWebhooks from "./GitHubWebhooks.ts"
export * as WebhookEvents from "./WebhookEvents.ts"
