/**
 * Who may do what in the web app, decided on the server for every request from what GitHub says about the user:
 *
 * | may                                             | needs                                           |
 * |-------------------------------------------------|-------------------------------------------------|
 * | see a repository's tasks, installations         | read access to the repository (any role)        |
 * | cancel and retry its tasks                      | write access (`write`, `maintain`, `admin`)     |
 * | change its settings                             | `admin`                                          |
 * | rotate the encryption keys, read the doctor     | being an operator (`PORTER_OPERATORS`)          |
 *
 * Anything else answers 404, like something that does not exist. The rules are plain functions of a `Viewer` (the
 * user, and their repositories with permissions); the `Access` service builds viewers from the user's GitHub token
 * (`GitHubAccounts.repositories`) and keeps each for `accessTtlMs` (per process or isolate), so a permission taken
 * away on GitHub stops counting within that time.
 */
import { Clock, Context, Effect, Layer } from "effect"
import {
  GitHubAccounts,
  type GitHubUnavailable,
  type Permission,
  type RepoAccess,
  type TokenRefused
} from "./GitHubAccounts.ts"
import type { Session } from "./Sessions.ts"
import { WebConfig } from "./WebConfig.ts"

/** The signed-in user as the web app sees them: their GitHub account, whether an operator, their role in each repository. */
export interface Viewer {
  readonly userId: number
  readonly login: string
  readonly operator: boolean
  /** By lower-cased `owner/name`. */
  readonly repos: ReadonlyMap<string, RepoAccess>
}

const RANK: Record<Permission | "none", number> = { none: 0, read: 1, triage: 2, write: 3, maintain: 4, admin: 5 }

/** The viewer's role on `repo` (`owner/name`, any case); `none` when they cannot see it. */
export const permissionIn = (viewer: Viewer, repo: string): Permission | "none" =>
  viewer.repos.get(repo.toLowerCase())?.permission ?? "none"

/** Whether `viewer` may see `repo`'s tasks (read access, any role). */
export const canRead = (viewer: Viewer, repo: string): boolean => RANK[permissionIn(viewer, repo)] >= RANK.read
/** Whether `viewer` may cancel and retry `repo`'s tasks (write access). */
export const canSteer = (viewer: Viewer, repo: string): boolean => RANK[permissionIn(viewer, repo)] >= RANK.write
/** Whether `viewer` may change `repo`'s settings (admin). */
export const canConfigure = (viewer: Viewer, repo: string): boolean => permissionIn(viewer, repo) === "admin"

/** Whether `login` is one of the operators (lower-cased logins). */
export const isOperator = (login: string, operators: ReadonlySet<string>): boolean => operators.has(login.toLowerCase())

/** A viewer from the user and their repositories. */
export const viewerOf = (
  user: { readonly id: number; readonly login: string },
  repos: ReadonlyArray<RepoAccess>,
  operators: ReadonlySet<string>
): Viewer => ({
  userId: user.id,
  login: user.login,
  operator: isOperator(user.login, operators),
  repos: new Map(repos.map((repo) => [repo.fullName.toLowerCase(), repo]))
})

/** The repositories a viewer can read, by name. */
export const readable = (viewer: Viewer): ReadonlyArray<RepoAccess> =>
  [...viewer.repos.values()].filter((repo) => RANK[repo.permission] >= RANK.read).sort((a, b) =>
    a.fullName.localeCompare(b.fullName)
  )

/** Who may do what: the viewer of a GitHub token, read from GitHub for each request. */
export class Access extends Context.Service<Access, {
  /** The signed-in user as the rules see them (cached briefly). */
  readonly viewer: (session: Session) => Effect.Effect<Viewer, TokenRefused | GitHubUnavailable>
  /** Drops what is known about a user (after signing in or out). */
  readonly forget: (userId: number) => Effect.Effect<void>
}>()("@porter/web/Access") {}

const CAPACITY = 1_000

/** `Access` on `GitHubAccounts`. */
export const make = Effect.gen(function*() {
  const config = yield* WebConfig
  const github = yield* GitHubAccounts
  const cache = new Map<number, { readonly viewer: Viewer; readonly until: number }>()

  const viewer = Effect.fn("Access.viewer")(function*(session: Session) {
    const now = yield* Clock.currentTimeMillis
    const known = cache.get(session.userId)
    if (known !== undefined && known.until > now) return known.viewer
    const repos = yield* github.repositories(session.token)
    const fresh = viewerOf({ id: session.userId, login: session.login }, repos, config.operators)
    cache.delete(session.userId)
    if (cache.size >= CAPACITY) cache.delete(cache.keys().next().value!)
    cache.set(session.userId, { viewer: fresh, until: now + config.accessTtlMs })
    return fresh
  })

  return Access.of({ viewer, forget: (userId) => Effect.sync(() => void cache.delete(userId)) })
})

/** @category layers */
export const layer: Layer.Layer<Access, never, WebConfig | GitHubAccounts> = Layer.effect(Access, make)
