/**
 * GitHubAuthorizer: core's `Authorizer` from the commenter's permission on the repository
 * (`GET /repos/{owner}/{repo}/collaborators/{username}/permission`): admin, maintain and write may
 * run; triage, read and none are refused with a reason ("@mallory has read access"). A user GitHub
 * does not know as a collaborator (404) has `none`.
 *
 * On top, an optional deny list and allow list (logins, case-insensitive; `PORTER_DENIED_USERS`,
 * `PORTER_ALLOWED_USERS`, comma-separated). The deny list wins; a non-empty allow list refuses
 * everyone not on it. The lists only ever take rights away: an allowed login still needs write
 * access. Answers are cached for a short while (60 s by default) so that a burst of comments makes
 * one call; a failed check is not cached.
 *
 * @since 0.1.0
 */
import { Authorizer, Errors, Repo } from "@porter/core"
import { Cache, Config, Duration, Effect, Exit, Layer, Schema } from "effect"
import type { InvalidPrivateKey } from "./AppJwt.ts"
import * as GitHubAuth from "./GitHubAuth.ts"
import type { GitHubClient } from "./GitHubClient.ts"

/** @category models */
export interface AuthorizerOptions {
  readonly allowedUsers?: ReadonlyArray<string>
  readonly deniedUsers?: ReadonlyArray<string>
  /** How long a permission is remembered (default 60 s; 0 turns the cache off). */
  readonly cacheTtlMs?: number
}

const PermissionLevel = Schema.Struct({
  permission: Schema.String,
  /** Finer than `permission` (which folds maintain into write and triage into read). */
  role_name: Schema.optional(Schema.NullOr(Schema.String))
})

interface PermissionKey {
  readonly owner: string
  readonly name: string
  readonly login: string
  readonly installationId?: number
}

const KNOWN: ReadonlyArray<Authorizer.Permission> = ["admin", "maintain", "write", "triage", "read", "none"]

const asPermission = (value: string | null | undefined): Authorizer.Permission | undefined =>
  KNOWN.find((p) => p === value)

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: AuthorizerOptions = {}) {
  const request = yield* GitHubAuth.repoRequest
  const denied = new Set((options.deniedUsers ?? []).map((u) => u.trim().toLowerCase()).filter((u) => u.length > 0))
  const allowed = new Set((options.allowedUsers ?? []).map((u) => u.trim().toLowerCase()).filter((u) => u.length > 0))
  const ttl = Duration.millis(options.cacheTtlMs ?? 60_000)

  const permissions = yield* Cache.makeWith(
    (key: PermissionKey) =>
      Effect.gen(function*() {
        const repo = new Repo.RepoRef({ owner: key.owner, name: key.name })
        const response = yield* request<typeof PermissionLevel.Type>(
          repo,
          key.installationId,
          "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
          { params: { username: key.login }, schema: PermissionLevel }
        )
        return asPermission(response.data.role_name) ?? asPermission(response.data.permission) ?? "none"
      }).pipe(
        Effect.catchIf((error) => error.status === 404, () => Effect.succeed<Authorizer.Permission>("none"))
      ),
    { capacity: 10_000, timeToLive: (exit) => (Exit.isSuccess(exit) ? ttl : Duration.zero) }
  )

  const authorize = Effect.fn("GitHubAuthorizer.authorize")(function*(
    repo: Repo.RepoRef,
    actor: Repo.Actor,
    installationId?: number
  ) {
    const login = actor.login.toLowerCase()
    if (denied.has(login)) {
      return { allowed: false, permission: "none", reason: `@${actor.login} is on Porter's deny list` } as const
    }
    if (allowed.size > 0 && !allowed.has(login)) {
      return { allowed: false, permission: "none", reason: `@${actor.login} is not on Porter's allow list` } as const
    }
    const permission = yield* Cache.get(permissions, {
      owner: repo.owner,
      name: repo.name,
      login,
      ...(installationId !== undefined ? { installationId } : {})
    }).pipe(
      Effect.mapError((error) => new Errors.AuthorizationError({ message: error.message }))
    )
    const decision: Authorizer.Decision = Authorizer.mayRun(permission)
      ? { allowed: true, permission }
      : { allowed: false, permission, reason: `@${actor.login} has ${permission} access` }
    return decision
  })

  return Authorizer.Authorizer.of({ authorize })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: GitHubAuth.ConnectionOptions & AuthorizerOptions
): Layer.Layer<Authorizer.Authorizer, InvalidPrivateKey> =>
  Layer.effect(Authorizer.Authorizer, make(options)).pipe(Layer.provide(GitHubAuth.layerConnection(options)))

/**
 * @category layers
 * @since 0.1.0
 */
export const layerWithConnection = (
  options: AuthorizerOptions = {}
): Layer.Layer<Authorizer.Authorizer, never, GitHubAuth.GitHubAuth | GitHubClient> =>
  Layer.effect(Authorizer.Authorizer, make(options))

const loginList = (name: string) =>
  Config.String(name).pipe(
    Config.map((text) => text.split(",").map((s) => s.trim().replace(/^@/, "")).filter((s) => s.length > 0)),
    Config.withDefault<ReadonlyArray<string>>([])
  )

/**
 * `PORTER_ALLOWED_USERS`, `PORTER_DENIED_USERS` (comma-separated logins, optional).
 *
 * @category config
 * @since 0.1.0
 */
export const optionsConfig: Config.Config<AuthorizerOptions> = Config.all({
  allowedUsers: loginList("PORTER_ALLOWED_USERS"),
  deniedUsers: loginList("PORTER_DENIED_USERS")
})

/**
 * Lists from `optionsConfig`, over an existing connection.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfigWithConnection: Layer.Layer<
  Authorizer.Authorizer,
  Config.ConfigError,
  GitHubAuth.GitHubAuth | GitHubClient
> = Layer.effect(Authorizer.Authorizer, Effect.flatMap(optionsConfig, (options) => make(options)))

/**
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<Authorizer.Authorizer, Config.ConfigError | InvalidPrivateKey> =
  layerConfigWithConnection.pipe(Layer.provide(GitHubAuth.layerConnectionConfig()))
