/**
 * GitHubAccounts: the web app's side of GitHub, with the user's own token — the OAuth web flow's code exchange
 * (`POST {web}/login/oauth/access_token`), who the user is (`GET /user`), and every repository of Porter's App the
 * user has explicit access to, with the user's permission (`GET /user/installations`, then
 * `GET /user/installations/{id}/repositories`; the token is a GitHub App user-to-server token). Answers are decoded
 * with Schema (the fields Porter reads); effect's `HttpClient` does the HTTP (fetch in workerd and Node), with a short
 * retry of transient failures.
 *
 * Cannot: see more than 1,000 repositories per installation (10 pages of 100), or refresh an expiring user token
 * (the user signs in again).
 */
import { Context, Effect, Layer, Redacted, Schedule, Schema } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { WebConfig } from "./WebConfig.ts"

/** A role on a repository, weakest first (GitHub's `pull`, `triage`, `push`, `maintain`, `admin`). */
export const Permission = Schema.Literals(["read", "triage", "write", "maintain", "admin"])
export type Permission = typeof Permission.Type

/** A GitHub user as the web app keeps them: id and login. */
export class GitHubUser extends Schema.Class<GitHubUser>("@porter/web/GitHubUser")({
  id: Schema.Int,
  login: Schema.String
}) {}

/** A repository the user may reach through Porter's App. */
export interface RepoAccess {
  readonly fullName: string
  readonly installationId: number
  readonly permission: Permission
  readonly private: boolean
}

/** The code exchange failed (a stale or replayed code, a misconfigured client): the user signs in again. */
export class SignInFailed extends Schema.TaggedError<SignInFailed>()("SignInFailed", { message: Schema.String }) {}
/** GitHub refused the user's token (revoked, expired): the session is over. */
export class TokenRefused extends Schema.TaggedError<TokenRefused>()("TokenRefused", {}) {}
/** GitHub could not be asked (network, 5xx, an answer of the wrong shape). */
export class GitHubUnavailable extends Schema.TaggedError<GitHubUnavailable>()("GitHubUnavailable", {
  message: Schema.String
}) {}

/** GitHub with the user's own token: the OAuth code exchange, who the user is, their repositories and roles. */
export class GitHubAccounts extends Context.Service<GitHubAccounts, {
  readonly exchange: (code: string) => Effect.Effect<Redacted.Redacted<string>, SignInFailed | GitHubUnavailable>
  readonly user: (token: Redacted.Redacted<string>) => Effect.Effect<GitHubUser, TokenRefused | GitHubUnavailable>
  readonly repositories: (
    token: Redacted.Redacted<string>
  ) => Effect.Effect<ReadonlyArray<RepoAccess>, TokenRefused | GitHubUnavailable>
}>()("@porter/web/GitHubAccounts") {}

const TokenAnswer = Schema.Union([
  Schema.Struct({ access_token: Schema.String }),
  Schema.Struct({ error: Schema.String, error_description: Schema.optional(Schema.String) })
])

const Permissions = Schema.Struct({
  admin: Schema.optional(Schema.Boolean),
  maintain: Schema.optional(Schema.Boolean),
  push: Schema.optional(Schema.Boolean),
  triage: Schema.optional(Schema.Boolean),
  pull: Schema.optional(Schema.Boolean)
})

const Installations = Schema.Struct({ installations: Schema.Array(Schema.Struct({ id: Schema.Int })) })
const Repositories = Schema.Struct({
  repositories: Schema.Array(Schema.Struct({
    full_name: Schema.String,
    private: Schema.Boolean,
    permissions: Schema.optional(Permissions)
  }))
})

/** The strongest role a `permissions` object grants. */
export const permissionOf = (permissions: typeof Permissions.Type | undefined): Permission | undefined =>
  permissions?.admin
    ? "admin"
    : permissions?.maintain
    ? "maintain"
    : permissions?.push
    ? "write"
    : permissions?.triage
    ? "triage"
    : permissions?.pull
    ? "read"
    : undefined

const PAGE = 100
const MAX_PAGES = 10

/** `GitHubAccounts` on an `HttpClient` and the web configuration. */
export const make = Effect.gen(function*() {
  const config = yield* WebConfig
  const client = (yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequest(
      HttpClientRequest.setHeaders({ "user-agent": "porter-web", "x-github-api-version": "2022-11-28" })
    ),
    HttpClient.retryTransient({ schedule: Schedule.exponential("150 millis"), times: 2 })
  )
  const unavailable = (what: string) => (error: { readonly message: string }) =>
    new GitHubUnavailable({ message: `${what}: ${error.message}`.slice(0, 300) })

  /** A REST GET with the user's token: 401 is `TokenRefused`, any other failure `GitHubUnavailable`. */
  const get = <A>(
    path: string,
    token: Redacted.Redacted<string>,
    schema: Schema.Decoder<A>
  ): Effect.Effect<A, TokenRefused | GitHubUnavailable> =>
    Effect.gen(function*() {
      const route = `GET ${path.replace(/\?.*$/, "")}`
      const response = yield* client.get(`${config.githubApiUrl}${path}`, {
        headers: { authorization: `Bearer ${Redacted.value(token)}`, accept: "application/vnd.github+json" }
      }).pipe(Effect.mapError(unavailable(route)))
      if (response.status === 401) return yield* new TokenRefused()
      if (response.status >= 300) return yield* new GitHubUnavailable({ message: `${route}: ${response.status}` })
      return yield* HttpClientResponse.schemaBodyJson(schema)(response).pipe(Effect.mapError(unavailable(route)))
    })

  const exchange = Effect.fn("GitHubAccounts.exchange")(function*(code: string) {
    const request = HttpClientRequest.post(`${config.githubWebUrl}/login/oauth/access_token`).pipe(
      HttpClientRequest.acceptJson,
      HttpClientRequest.bodyUrlParams({
        client_id: config.clientId,
        client_secret: Redacted.value(config.clientSecret),
        code,
        redirect_uri: config.callbackUrl
      })
    )
    const response = yield* client.execute(request).pipe(Effect.mapError(unavailable("the OAuth code exchange")))
    if (response.status >= 300) {
      return yield* new GitHubUnavailable({ message: `the OAuth code exchange answered ${response.status}` })
    }
    const answer = yield* HttpClientResponse.schemaBodyJson(TokenAnswer)(response).pipe(
      Effect.mapError(unavailable("the OAuth code exchange"))
    )
    if ("error" in answer) {
      return yield* new SignInFailed({ message: answer.error_description ?? answer.error })
    }
    return Redacted.make(answer.access_token)
  })

  const user = Effect.fn("GitHubAccounts.user")(function*(token: Redacted.Redacted<string>) {
    return yield* get("/user", token, GitHubUser)
  })

  const pages = <A>(
    path: (page: number) => string,
    token: Redacted.Redacted<string>,
    schema: Schema.Decoder<A>,
    items: (a: A) => ReadonlyArray<unknown>
  ): Effect.Effect<ReadonlyArray<A>, TokenRefused | GitHubUnavailable> =>
    Effect.gen(function*() {
      const all: Array<A> = []
      for (let page = 1; page <= MAX_PAGES; page++) {
        const answer: A = yield* get(path(page), token, schema)
        all.push(answer)
        if (items(answer).length < PAGE) break
      }
      return all
    })

  const repositories = Effect.fn("GitHubAccounts.repositories")(function*(token: Redacted.Redacted<string>) {
    const installations = (yield* pages(
      (page) => `/user/installations?per_page=${PAGE}&page=${page}`,
      token,
      Installations,
      (a) => a.installations
    )).flatMap((a) => a.installations)
    const perInstallation = yield* Effect.forEach(installations, (installation) =>
      Effect.map(
        pages(
          (page) => `/user/installations/${installation.id}/repositories?per_page=${PAGE}&page=${page}`,
          token,
          Repositories,
          (a) => a.repositories
        ),
        (answers) =>
          answers.flatMap((a) => a.repositories).flatMap((repo): ReadonlyArray<RepoAccess> => {
            const permission = permissionOf(repo.permissions)
            return permission === undefined
              ? []
              : [{ fullName: repo.full_name, installationId: installation.id, permission, private: repo.private }]
          })
      ), { concurrency: 4 })
    return perInstallation.flat()
  })

  return GitHubAccounts.of({ exchange, user, repositories })
})

/** @category layers */
export const layer: Layer.Layer<GitHubAccounts, never, WebConfig | HttpClient.HttpClient> = Layer.effect(
  GitHubAccounts,
  make
)
