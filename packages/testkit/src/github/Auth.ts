/**
 * Credentials as GitHub checks them: user tokens (`ghp_…`), App JWTs (RS256, verified with the App's
 * public key, `exp` at most 10 minutes ahead), installation tokens (`ghs_…`, one hour, optionally
 * scoped to some repositories) — and what each may see and change on a repository.
 *
 * GitHub answers 404, not 403, for a private repository the caller cannot see; 403 when the caller
 * sees it but lacks the permission (installation tokens: "Resource not accessible by integration").
 */
import { Effect } from "effect"
import { verify } from "node:crypto"
import {
  ApiError,
  badCredentials,
  forbidden,
  notAccessibleByIntegration,
  notFound,
  requiresAuthentication
} from "./Http.ts"
import type { Level, Principal, Repo, RoleOrNone, Scope, State } from "./State.ts"
import { atLeast } from "./State.ts"

const jwtError = (message: string) =>
  new ApiError({ status: 401, message, documentationUrl: "https://docs.github.com/rest" })

/** GitHub tolerates a little clock drift on `iat`. */
const IAT_LEEWAY_S = 60
const MAX_JWT_LIFETIME_S = 600

const decodeSegment = (segment: string): unknown => {
  try {
    return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"))
  } catch {
    return undefined
  }
}

const isJwt = (token: string) => /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(token)

const verifyJwt = (state: State, token: string): Effect.Effect<Principal, ApiError> =>
  Effect.suspend(() => {
    const [header, payload, signature] = token.split(".") as [string, string, string]
    const head = decodeSegment(header)
    const claims = decodeSegment(payload)
    if (
      typeof head !== "object" || head === null || (head as { alg?: unknown }).alg !== "RS256" ||
      typeof claims !== "object" || claims === null
    ) return Effect.fail(jwtError("A JSON web token could not be decoded"))
    const valid = verify(
      "RSA-SHA256",
      Buffer.from(`${header}.${payload}`),
      state.app.publicKey,
      Buffer.from(signature, "base64url")
    )
    const { exp, iat, iss } = claims as { exp?: unknown; iat?: unknown; iss?: unknown }
    if (String(iss) !== String(state.app.id) && iss !== state.app.clientId) {
      return Effect.fail(jwtError("'Issuer' claim ('iss') must be an Integer"))
    }
    if (!valid) return Effect.fail(jwtError("A JSON web token could not be decoded"))
    const nowS = Math.floor(state.now() / 1000)
    if (typeof iat !== "number" || !Number.isInteger(iat) || iat > nowS + IAT_LEEWAY_S) {
      return Effect.fail(
        jwtError("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
      )
    }
    if (typeof exp !== "number" || exp <= nowS) {
      return Effect.fail(jwtError(
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the " +
          "assertion expires"
      ))
    }
    if (exp - nowS > MAX_JWT_LIFETIME_S || exp - iat > MAX_JWT_LIFETIME_S + IAT_LEEWAY_S) {
      return Effect.fail(jwtError("'Expiration time' claim ('exp') is too far in the future"))
    }
    return Effect.succeed<Principal>({ _tag: "App", app: state.app })
  })

/** The secret of an `Authorization` header: `token X`, `Bearer X`, or Basic with the token as password. */
export const credentialOf = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const match = /^(token|bearer|basic)\s+(\S+)\s*$/i.exec(header.trim())
  if (!match) return header.trim()
  if (match[1]!.toLowerCase() !== "basic") return match[2]!
  const decoded = Buffer.from(match[2]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon < 0 ? decoded : decoded.slice(colon + 1)
}

/** Who the token belongs to; a present but unknown or expired token is 401 `Bad credentials`. */
export const authenticate = (state: State, token: string | undefined): Effect.Effect<Principal, ApiError> => {
  if (token === undefined || token.length === 0) return Effect.succeed({ _tag: "Anonymous" })
  if (isJwt(token)) return verifyJwt(state, token)
  const user = state.userByToken(token)
  if (user) return Effect.succeed({ _tag: "User", account: user })
  const installation = state.installationToken(token)
  if (installation && installation.expiresAt > state.now()) {
    return Effect.succeed({ _tag: "Installation", token: installation, app: state.app })
  }
  return Effect.fail(badCredentials())
}

/** App endpoints: only an App JWT will do. */
export const requireApp = (principal: Principal) =>
  principal._tag === "App"
    ? Effect.succeed(principal.app)
    : Effect.fail(
      principal._tag === "Anonymous"
        ? requiresAuthentication()
        : jwtError("A JSON web token could not be decoded")
    )

export interface Need {
  /** The role a user needs (`read` to see; public repositories are readable by everyone). */
  readonly role: RoleOrNone
  /** The installation permission an installation token needs (any of several). */
  readonly scope: Scope | ReadonlyArray<Scope>
  readonly level: Level
}

export const READ_METADATA: Need = { role: "read", scope: "metadata", level: "read" }

const levelAllows = (granted: Level | undefined, needed: Level) =>
  granted === "write" || (granted === "read" && needed === "read")

/** The role a principal holds on a repository (`none` when it cannot see it). */
export const roleOf = (state: State, principal: Principal, repo: Repo): RoleOrNone => {
  switch (principal._tag) {
    case "User":
      return state.roleOf(principal.account, repo)
    case "Installation":
      if (state.installationCovers(principal.token, repo)) {
        return principal.token.permissions["contents"] === "write" ? "write" : "read"
      }
      return repo.private ? "none" : "read"
    default:
      return repo.private ? "none" : "read"
  }
}

/** Fails like GitHub when the principal may not do what `need` describes on `repo`. */
export const authorize = (
  state: State,
  principal: Principal,
  repo: Repo,
  need: Need
): Effect.Effect<void, ApiError> => {
  switch (principal._tag) {
    case "Anonymous":
      if (repo.private) return Effect.fail(notFound())
      return need.role === "read" && need.level === "read" ? Effect.void : Effect.fail(requiresAuthentication())
    case "App":
      return Effect.fail(repo.private ? notFound() : notAccessibleByIntegration())
    case "User": {
      const role = state.roleOf(principal.account, repo)
      if (role === "none") return Effect.fail(notFound())
      if (atLeast(role, need.role)) return Effect.void
      return Effect.fail(
        need.role === "admin"
          ? forbidden("Must have admin rights to Repository.")
          : forbidden(`Must have ${need.role} access to repository.`)
      )
    }
    case "Installation": {
      const covered = state.installationCovers(principal.token, repo)
      if (!covered) {
        if (repo.private) return Effect.fail(notFound())
        return need.level === "read" && need.role === "read" ? Effect.void : Effect.fail(notAccessibleByIntegration())
      }
      const scopes: ReadonlyArray<Scope> = typeof need.scope === "string" ? [need.scope] : need.scope
      // Every installation can read metadata of the repositories it covers.
      if (
        scopes.some((scope) => scope === "metadata" || levelAllows(principal.token.permissions[scope], need.level))
      ) return Effect.void
      return Effect.fail(notAccessibleByIntegration())
    }
  }
}
