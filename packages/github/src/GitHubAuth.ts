/**
 * GitHubAuth: the credentials Porter talks to GitHub with.
 *
 * - **GitHub App** (`GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY`): an RS256 JWT signed with WebCrypto
 *   (see `AppJwt`) finds the installation of a repository (`GET /repos/{owner}/{repo}/installation`,
 *   remembered for an hour) and mints installation tokens, cached until 5 minutes before their
 *   `expires_at`. Tokens for machines are minted fresh for each task and scoped to the task's one
 *   repository (`repositories: [name]`); they are never cached, so never shared across repositories.
 * - **Personal access token** (`GITHUB_TOKEN`): single-user setups; every call, and every machine,
 *   uses that token (it cannot be narrowed to one repository).
 *
 * What it cannot do: OAuth user-to-server tokens, GitHub Enterprise Server's older JWT rules.
 *
 * @since 0.1.0
 */
import type { Repo } from "@porter/core"
import { Cache, Clock, Config, Context, Duration, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import * as AppJwt from "./AppJwt.ts"
import { type ClientOptions, GitHubClient, GitHubError, type RequestOptions, type Response } from "./GitHubClient.ts"
import * as GitHubClientModule from "./GitHubClient.ts"

/** @category models */
export type Credentials =
  | { readonly _tag: "App"; readonly appId: string; readonly privateKey: Redacted.Redacted<string> }
  | { readonly _tag: "Token"; readonly token: Redacted.Redacted<string> }

/** @category models */
export interface AuthOptions {
  readonly credentials: Credentials
  /** Installation tokens are renewed this long before they expire (default 5 minutes). */
  readonly refreshBeforeMs?: number
  /** How long a repository's installation id is remembered (default 1 hour). */
  readonly installationTtlMs?: number
  /**
   * Permissions asked for the git proxy's tokens (`machineToken`). Default: `contents` and `metadata` read — nothing
   * the installation could write with. `{}` asks for the installation's own.
   */
  readonly machinePermissions?: Readonly<Record<string, string>>
}

/**
 * What Porter's git proxy needs to serve a machine's clone: read the repository. (Machines never get this token;
 * Porter's own writes use the installation token.)
 */
export const defaultMachinePermissions: Readonly<Record<string, string>> = {
  contents: "read",
  metadata: "read"
}

/**
 * @category services
 * @since 0.1.0
 */
export class GitHubAuth extends Context.Service<GitHubAuth, {
  readonly mode: "app" | "token"
  /** The token for Porter's own calls on `repo`: the installation's (cached) or the personal token. */
  readonly token: (repo: Repo.RepoRef, installationId?: number) => Effect.Effect<Redacted.Redacted<string>, GitHubError>
  /** Forgets a cached installation token (after GitHub refused it). */
  readonly invalidate: (repo: Repo.RepoRef, installationId?: number) => Effect.Effect<void>
  /** A fresh token for a task's machine, scoped to `repo` alone (App); the personal token otherwise. */
  readonly machineToken: (
    repo: Repo.RepoRef,
    installationId?: number
  ) => Effect.Effect<Redacted.Redacted<string>, GitHubError>
  /** The installation that covers `repo` (App mode). */
  readonly installationId: (repo: Repo.RepoRef) => Effect.Effect<number, GitHubError>
  /** A JWT for the App itself (App mode). */
  readonly appJwt: Effect.Effect<Redacted.Redacted<string>, GitHubError>
}>()("@porter/github/GitHubAuth") {}

const Installation = Schema.Struct({ id: Schema.Int })
const AccessToken = Schema.Struct({ token: Schema.String, expires_at: Schema.String })

interface CachedToken {
  readonly token: Redacted.Redacted<string>
  readonly cacheForMs: number
}

const notApp = (what: string) =>
  Effect.fail(
    new GitHubError({ message: `${what} needs GitHub App credentials; Porter is using a personal access token` })
  )

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: AuthOptions) {
  const client = yield* GitHubClient
  const credentials = options.credentials

  if (credentials._tag === "Token") {
    const token = Effect.succeed(credentials.token)
    return GitHubAuth.of({
      mode: "token",
      token: () => token,
      invalidate: () => Effect.void,
      machineToken: () => token,
      installationId: () => notApp("looking up an installation"),
      appJwt: notApp("an App JWT")
    })
  }

  const refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000
  const key = yield* AppJwt.importPrivateKey(Redacted.value(credentials.privateKey))

  // Reused while it has more than a minute to live (signing costs CPU time on a Worker); concurrent callers share
  // one signing.
  const appJwt = yield* Effect.cachedWithTTL(
    Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => AppJwt.sign(key, credentials.appId, now)),
      Effect.map((jwt) => Redacted.make(jwt.token))
    ),
    Duration.seconds(AppJwt.LIFETIME_SECONDS - 60)
  )

  const installations = yield* Cache.makeWith(
    (repo: { readonly owner: string; readonly name: string }) =>
      Effect.flatMap(appJwt, (token) =>
        client.request("GET /repos/{owner}/{repo}/installation", {
          params: { owner: repo.owner, repo: repo.name },
          token,
          schema: Installation
        })).pipe(
          Effect.map((response) => response.data.id),
          Effect.mapError((error) =>
            error.status === 404
              ? new GitHubError({
                message: `the GitHub App is not installed on ${repo.owner}/${repo.name}`,
                status: 404
              })
              : error
          )
        ),
    {
      capacity: 10_000,
      timeToLive: (exit) =>
        Exit.isSuccess(exit) ? Duration.millis(options.installationTtlMs ?? 3_600_000) : Duration.zero
    }
  )

  const mint = (installationId: number, body: Readonly<Record<string, unknown>>) =>
    Effect.gen(function*() {
      const token = yield* appJwt
      const response = yield* client.request("POST /app/installations/{installation_id}/access_tokens", {
        params: { installation_id: installationId, ...body },
        token,
        schema: AccessToken
      })
      const expiresAt = Date.parse(response.data.expires_at)
      return { token: Redacted.make(response.data.token), expiresAt: Number.isFinite(expiresAt) ? expiresAt : 0 }
    })

  const installationTokens = yield* Cache.makeWith(
    (installationId: number) =>
      Effect.gen(function*() {
        const minted = yield* mint(installationId, {})
        const now = yield* Clock.currentTimeMillis
        const cacheForMs = Math.max(0, minted.expiresAt - refreshBeforeMs - now)
        return { token: minted.token, cacheForMs } satisfies CachedToken
      }),
    {
      capacity: 10_000,
      timeToLive: (exit) => (Exit.isSuccess(exit) ? Duration.millis(exit.value.cacheForMs) : Duration.zero)
    }
  )

  const installationId = (repo: Repo.RepoRef) => Cache.get(installations, { owner: repo.owner, name: repo.name })

  const resolve = (repo: Repo.RepoRef, id: number | undefined) =>
    id !== undefined ? Effect.succeed(id) : installationId(repo)

  const token = Effect.fn("GitHubAuth.token")(function*(repo: Repo.RepoRef, id?: number) {
    const installation = yield* resolve(repo, id)
    return (yield* Cache.get(installationTokens, installation)).token
  })

  const invalidate = (repo: Repo.RepoRef, id?: number) =>
    Effect.gen(function*() {
      if (id !== undefined) return yield* Cache.invalidate(installationTokens, id)
      const known = yield* Cache.getSuccess(installations, { owner: repo.owner, name: repo.name })
      if (Option.isSome(known)) yield* Cache.invalidate(installationTokens, known.value)
      yield* Cache.invalidate(installations, { owner: repo.owner, name: repo.name })
    })

  const machineToken = Effect.fn("GitHubAuth.machineToken")(function*(repo: Repo.RepoRef, id?: number) {
    const installation = yield* resolve(repo, id)
    const permissions = options.machinePermissions ?? defaultMachinePermissions
    const minted = yield* mint(installation, {
      repositories: [repo.name],
      ...(Object.keys(permissions).length > 0 ? { permissions } : {})
    })
    return minted.token
  })

  return GitHubAuth.of({ mode: "app", token, invalidate, machineToken, installationId, appJwt })
})

/**
 * Needs a `GitHubClient`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: AuthOptions): Layer.Layer<GitHubAuth, AppJwt.InvalidPrivateKey, GitHubClient> =>
  Layer.effect(GitHubAuth, make(options))

const secret = (name: string) =>
  Config.schema(Schema.RedactedFromValue(Schema.String.pipe(Schema.check(Schema.isPattern(/\S/)))), name)

/**
 * `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY` (App mode), or else `GITHUB_TOKEN` (personal token).
 * With `GITHUB_APP_ID` set, the private key is required: Porter never silently falls back.
 *
 * @category config
 * @since 0.1.0
 */
export const credentialsConfig: Config.Config<Credentials> = Config.option(Config.String("GITHUB_APP_ID")).pipe(
  Config.flatMap((appId): Config.Config<Credentials> =>
    Option.isSome(appId)
      ? Config.map(secret("GITHUB_APP_PRIVATE_KEY"), (privateKey) => ({ _tag: "App", appId: appId.value, privateKey }))
      : Config.map(secret("GITHUB_TOKEN"), (token) => ({ _tag: "Token", token }))
  )
)

/**
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: Omit<AuthOptions, "credentials"> = {}
): Layer.Layer<GitHubAuth, Config.ConfigError | AppJwt.InvalidPrivateKey, GitHubClient> =>
  Layer.effect(GitHubAuth, Effect.flatMap(credentialsConfig, (credentials) => make({ ...options, credentials })))

/** @category models */
export interface ConnectionOptions extends ClientOptions, AuthOptions {}

/**
 * A `GitHubClient` and a `GitHubAuth` over it: what every adapter of this package needs.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnection = (
  options: ConnectionOptions
): Layer.Layer<GitHubAuth | GitHubClient, AppJwt.InvalidPrivateKey> =>
  layer(options).pipe(Layer.provideMerge(GitHubClientModule.layer(options)))

/**
 * `layerConnection` from `GITHUB_API_URL`, `GITHUB_APP_ID`, `GITHUB_APP_PRIVATE_KEY`, `GITHUB_TOKEN`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnectionConfig = (
  options: Omit<ConnectionOptions, "credentials" | "apiUrl"> = {}
): Layer.Layer<GitHubAuth | GitHubClient, Config.ConfigError | AppJwt.InvalidPrivateKey> =>
  layerConfig(options).pipe(Layer.provideMerge(GitHubClientModule.layerConfig(options)))

/**
 * A REST call on a repository, authenticated for it. `owner` and `repo` are filled in.
 *
 * @category models
 */
export type RepoRequest = <A = unknown>(
  repo: Repo.RepoRef,
  installationId: number | undefined,
  route: string,
  options?: Omit<RequestOptions<A>, "token">
) => Effect.Effect<Response<A>, GitHubError>

/**
 * Builds a `RepoRequest` from the context. A refused installation token (401) is forgotten and
 * the call made once more with a fresh one (it may have been revoked before it expired).
 *
 * @category constructors
 * @since 0.1.0
 */
export const repoRequest: Effect.Effect<RepoRequest, never, GitHubAuth | GitHubClient> = Effect.gen(function*() {
  const client = yield* GitHubClient
  const auth = yield* GitHubAuth
  return <A = unknown>(
    repo: Repo.RepoRef,
    installationId: number | undefined,
    route: string,
    options: Omit<RequestOptions<A>, "token"> = {}
  ) => {
    const once = Effect.flatMap(auth.token(repo, installationId), (token) =>
      client.request<A>(route, {
        ...options,
        params: { owner: repo.owner, repo: repo.name, ...options.params },
        token
      }))
    return Effect.catchIf(
      once,
      (error) => error.status === 401 && auth.mode === "app",
      () => Effect.andThen(auth.invalidate(repo, installationId), once)
    )
  }
})
