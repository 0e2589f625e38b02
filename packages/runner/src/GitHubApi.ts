/**
 * The few GitHub REST calls the runner makes with the task's token: find the open pull request of
 * a head branch, open one, read the repository's default branch. `GITHUB_API_URL` is the root
 * (api.github.com, a GitHub Enterprise `/api/v3`, the testkit emulator). Transient failures
 * (network, 5xx, 429) are retried; anything else is a `GitHubApiError`.
 */
import { Context, Duration, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { Scrubber } from "./Scrubber.ts"

export class GitHubApiError extends Schema.TaggedError<GitHubApiError>()("GitHubApiError", {
  operation: Schema.String,
  status: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message(): string {
    return `GitHub ${this.operation} failed${this.status !== undefined ? ` (HTTP ${this.status})` : ""}: ${this.detail}`
  }
}

export const PullRequest = Schema.Struct({
  number: Schema.Number,
  html_url: Schema.String,
  state: Schema.optional(Schema.String)
})
export type PullRequest = typeof PullRequest.Type

const Repository = Schema.Struct({ default_branch: Schema.String })
const ErrorBody = Schema.Struct({
  message: Schema.optional(Schema.String),
  errors: Schema.optional(Schema.Array(Schema.Unknown))
})

export interface NewPullRequest {
  readonly title: string
  readonly head: string
  readonly base: string
  readonly body: string
}

export class GitHubApi extends Context.Service<GitHubApi, {
  readonly findOpenPull: (head: string) => Effect.Effect<Option.Option<PullRequest>, GitHubApiError>
  readonly createPull: (pull: NewPullRequest) => Effect.Effect<PullRequest, GitHubApiError>
  readonly defaultBranch: Effect.Effect<string, GitHubApiError>
}>()("@porter/runner/GitHubApi") {}

export interface Options {
  readonly apiUrl: string
  readonly owner: string
  readonly repo: string
  readonly token: Redacted.Redacted<string>
  readonly retries?: number
  readonly retryBaseMs?: number
}

export const make = Effect.fnUntraced(function*(options: Options) {
  const { scrub } = yield* Scrubber
  const repoPath = `/repos/${encodeURIComponent(options.owner)}/${encodeURIComponent(options.repo)}`
  const client = (yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequest((request) =>
      request.pipe(
        HttpClientRequest.prependUrl(options.apiUrl.replace(/\/+$/, "")),
        HttpClientRequest.bearerToken(options.token),
        HttpClientRequest.setHeaders({
          accept: "application/vnd.github+json",
          "x-github-api-version": "2022-11-28",
          "user-agent": "porter-runner"
        })
      )
    ),
    HttpClient.transformResponse(Effect.timeout(Duration.seconds(30))),
    HttpClient.filterStatusOk,
    HttpClient.retryTransient({
      schedule: Schedule.jittered(Schedule.exponential(Duration.millis(options.retryBaseMs ?? 500))),
      times: options.retries ?? 4
    })
  )

  const failure = (operation: string) =>
    Effect.fnUntraced(
      function*(
        error: {
          readonly _tag: string
          readonly message: string
          readonly response?: HttpClientResponse.HttpClientResponse
        }
      ) {
        const response = error.response
        if (response === undefined) return yield* new GitHubApiError({ operation, detail: scrub(error.message) })
        const body = yield* HttpClientResponse.schemaBodyJson(ErrorBody)(response).pipe(Effect.option)
        const detail = Option.match(body, {
          onNone: () => `HTTP ${response.status}`,
          onSome: (b) => [b.message, b.errors ? JSON.stringify(b.errors) : undefined].filter(Boolean).join(" ")
        })
        return yield* new GitHubApiError({ operation, status: response.status, detail: scrub(detail).slice(0, 500) })
      }
    )

  const findOpenPull = Effect.fn("GitHubApi.findOpenPull")(function*(head: string) {
    const request = HttpClientRequest.get(`${repoPath}/pulls`).pipe(
      HttpClientRequest.setUrlParams({ head: `${options.owner}:${head}`, state: "open", per_page: "10" })
    )
    const pulls = yield* client.execute(request).pipe(
      Effect.flatMap(HttpClientResponse.schemaBodyJson(Schema.Array(PullRequest))),
      Effect.catch(failure("list pull requests"))
    )
    return Option.fromNullishOr(pulls[0])
  })

  const createPull = Effect.fn("GitHubApi.createPull")(function*(pull: NewPullRequest) {
    const request = HttpClientRequest.post(`${repoPath}/pulls`).pipe(
      HttpClientRequest.bodyJsonUnsafe({
        title: scrub(pull.title),
        head: pull.head,
        base: pull.base,
        body: scrub(pull.body),
        maintainer_can_modify: true
      })
    )
    return yield* client.execute(request).pipe(
      Effect.flatMap(HttpClientResponse.schemaBodyJson(PullRequest)),
      Effect.catch(failure("create pull request"))
    )
  })

  const defaultBranch = client.execute(HttpClientRequest.get(repoPath)).pipe(
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Repository)),
    Effect.map((r) => r.default_branch),
    Effect.catch(failure("read repository")),
    Effect.withSpan("GitHubApi.defaultBranch")
  )

  return GitHubApi.of({ findOpenPull, createPull, defaultBranch })
})

export const layer = (options: Options): Layer.Layer<GitHubApi, never, Scrubber | HttpClient.HttpClient> =>
  Layer.effect(GitHubApi, make(options))
