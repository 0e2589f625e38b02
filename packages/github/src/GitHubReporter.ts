/**
 * GitHubReporter: core's `Reporter` over the GitHub REST API, as the App installation that covers
 * the repository (looked up and cached by `GitHubAuth`) or as the personal access token.
 *
 * - reactions on issue comments (`POST …/issues/comments/{id}/reactions`) or on pull request review
 *   comments (`POST …/pulls/comments/{id}/reactions`); GitHub answers 200 for a reaction that exists,
 *   so asking twice leaves one;
 * - comments created on the issue or pull request conversation and edited in place;
 * - labels added (GitHub creates missing ones) and removed (a label that is not there is fine).
 *
 * Failures become `ReportError` with GitHub's status; the orchestration retries and never lets a
 * report change a task's outcome.
 *
 * @since 0.1.0
 */
import { Errors, type Repo, Reporter } from "@porter/core"
import { Config, Effect, Layer, Schema } from "effect"
import type { InvalidPrivateKey } from "./AppJwt.ts"
import * as GitHubAuth from "./GitHubAuth.ts"
import type { GitHubClient, GitHubError } from "./GitHubClient.ts"

const Created = Schema.Struct({ id: Schema.Int })

/** `GitHubError` → core's `ReportError` (same message and status; never a token). */
export const toReportError = (error: GitHubError) =>
  new Errors.ReportError({ message: error.message, ...(error.status !== undefined ? { status: error.status } : {}) })

/**
 * Needs a `GitHubClient` and a `GitHubAuth`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<
  Reporter.Reporter["Service"],
  never,
  GitHubAuth.GitHubAuth | GitHubClient
> = Effect.gen(function*() {
  const request = yield* GitHubAuth.repoRequest

  const react = Effect.fn("GitHubReporter.react")(function*(
    issue: Repo.IssueRef,
    target: Reporter.CommentTarget,
    reaction: Reporter.Reaction
  ) {
    const route = target.kind === "review_comment"
      ? "POST /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions"
      : "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"
    yield* request(issue.repo, undefined, route, { params: { comment_id: target.commentId, content: reaction } })
  }, Effect.mapError(toReportError))

  const comment = Effect.fn("GitHubReporter.comment")(function*(issue: Repo.IssueRef, body: string) {
    const route = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
    const response = yield* request(issue.repo, undefined, route, {
      params: { issue_number: issue.number, body },
      schema: Created
    })
    return response.data.id
  }, Effect.mapError(toReportError))

  const editComment = Effect.fn("GitHubReporter.editComment")(function*(
    issue: Repo.IssueRef,
    commentId: number,
    body: string
  ) {
    yield* request(issue.repo, undefined, "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", {
      params: { comment_id: commentId, body }
    })
  }, Effect.mapError(toReportError))

  const label = Effect.fn("GitHubReporter.label")(function*(
    issue: Repo.IssueRef,
    change: { readonly add: ReadonlyArray<string>; readonly remove: ReadonlyArray<string> }
  ) {
    if (change.add.length > 0) {
      yield* request(issue.repo, undefined, "POST /repos/{owner}/{repo}/issues/{issue_number}/labels", {
        params: { issue_number: issue.number, labels: [...change.add] }
      })
    }
    for (const name of change.remove) {
      if (change.add.includes(name)) continue
      yield* request(issue.repo, undefined, "DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", {
        params: { issue_number: issue.number, name }
      }).pipe(Effect.catchIf((error) => error.status === 404, () => Effect.void))
    }
  }, Effect.mapError(toReportError))

  return Reporter.Reporter.of({ react, comment, editComment, label })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: GitHubAuth.ConnectionOptions
): Layer.Layer<Reporter.Reporter, InvalidPrivateKey> =>
  Layer.effect(Reporter.Reporter, make).pipe(Layer.provide(GitHubAuth.layerConnection(options)))

/**
 * Over an existing `GitHubClient` and `GitHubAuth` (share them between adapters).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWithConnection: Layer.Layer<Reporter.Reporter, never, GitHubAuth.GitHubAuth | GitHubClient> = Layer
  .effect(Reporter.Reporter, make)

/**
 * From `GITHUB_API_URL` and `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY` or `GITHUB_TOKEN`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<Reporter.Reporter, Config.ConfigError | InvalidPrivateKey> = layerWithConnection
  .pipe(Layer.provide(GitHubAuth.layerConnectionConfig()))
