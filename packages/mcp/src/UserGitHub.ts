/**
 * The one thing the MCP server does on GitHub as the user: post a comment on an issue or pull request
 * (`POST /repos/{owner}/{repo}/issues/{number}/comments`) with the user's own GitHub token, so a task started from an
 * MCP client is asked for exactly as if the user had typed the command on the issue. Refusals come back as
 * `ToolFailure`s in words (no access, no such issue, locked, GitHub down).
 */
import { Effect, Redacted, Schema } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { ToolFailure } from "./Caller.ts"

const Created = Schema.Struct({ id: Schema.Int, html_url: Schema.String })

/** A comment posted as the user: its id and address. */
export interface PostedComment {
  readonly id: number
  readonly url: string
}

/** Posts `body` on `repo`#`issue` as the owner of `token`. */
export const postComment = (options: {
  readonly apiUrl: string
  readonly token: Redacted.Redacted<string>
  readonly repo: string
  readonly issue: number
  readonly body: string
}): Effect.Effect<PostedComment, ToolFailure, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const where = `${options.repo}#${options.issue}`
    const request = HttpClientRequest.post(`${options.apiUrl}/repos/${options.repo}/issues/${options.issue}/comments`)
      .pipe(
        HttpClientRequest.setHeaders({
          authorization: `Bearer ${Redacted.value(options.token)}`,
          accept: "application/vnd.github+json",
          "user-agent": "porter-mcp",
          "x-github-api-version": "2022-11-28"
        }),
        HttpClientRequest.bodyJsonUnsafe({ body: options.body })
      )
    const response = yield* client.execute(request).pipe(
      Effect.mapError(() => new ToolFailure({ message: "GitHub did not answer: nothing was posted; try again." }))
    )
    switch (response.status) {
      case 201: {
        const created = yield* HttpClientResponse.schemaBodyJson(Created)(response).pipe(
          Effect.mapError(() => new ToolFailure({ message: "GitHub's answer could not be read." }))
        )
        return { id: created.id, url: created.html_url }
      }
      case 401:
        return yield* new ToolFailure({
          message: "GitHub no longer accepts the sign-in this token was made with: sign in to Porter's web app " +
            "again and make a new token."
        })
      case 403:
        return yield* new ToolFailure({ message: `GitHub did not let you comment on ${where} (locked, or no access).` })
      case 404:
      case 410:
        return yield* new ToolFailure({ message: `There is no issue or pull request ${where}.` })
      default:
        return yield* new ToolFailure({
          message: `GitHub refused the comment on ${where} (${response.status}): nothing was posted.`
        })
    }
  })
