/**
 * The emulator's in-memory model of GitHub: accounts, the App and its installations, tokens,
 * repositories (their git data lives in bare repositories on disk), issues, pull requests,
 * comments, reactions and labels, plus who may see and change what.
 *
 * Plain mutable records on purpose: the server runs on one Node thread and every change is a
 * synchronous step, so a request never observes another one half-applied. The emulator keeps its
 * own wall clock (`now`), shiftable through `/_emulator/clock` to test expiry, independent of any
 * Effect `TestClock` a test may run under — like a remote server's clock.
 */
import { randomBytes } from "node:crypto"
import type { KeyObject } from "node:crypto"
import * as path from "node:path"

export type Role = "admin" | "maintain" | "write" | "triage" | "read"
export type RoleOrNone = Role | "none"
const ROLE_RANK: Record<RoleOrNone, number> = { none: 0, read: 1, triage: 2, write: 3, maintain: 4, admin: 5 }
export const atLeast = (role: RoleOrNone, needed: RoleOrNone): boolean => ROLE_RANK[role] >= ROLE_RANK[needed]

export type Scope = "contents" | "issues" | "pull_requests" | "metadata" | "administration" | "checks" | "actions"
export type Level = "read" | "write"
export type Permissions = Readonly<Partial<Record<string, Level>>>

export interface Account {
  readonly id: number
  readonly login: string
  readonly type: "User" | "Organization" | "Bot"
  readonly nodeId: string
  readonly createdAt: number
  readonly siteAdmin: boolean
}

export interface Org {
  readonly account: Account
  /** Organization owners: admin on every repository of the organization. */
  readonly owners: Set<number>
}

export interface App {
  readonly id: number
  readonly slug: string
  readonly name: string
  readonly clientId: string
  readonly nodeId: string
  readonly owner: Account
  readonly bot: Account
  readonly privateKeyPkcs1: string
  readonly publicKey: KeyObject
  readonly permissions: Permissions
  readonly events: ReadonlyArray<string>
  readonly createdAt: number
  readonly hookId: number
  webhookUrl: string | undefined
  webhookSecret: string
}

export interface Installation {
  readonly id: number
  readonly account: Account
  readonly createdAt: number
}

export interface InstallationToken {
  readonly token: string
  readonly installation: Installation
  readonly expiresAt: number
  readonly permissions: Permissions
  /** `undefined`: every repository of the installation's account. */
  readonly repositoryIds: ReadonlyArray<number> | undefined
}

export interface Label {
  readonly id: number
  readonly nodeId: string
  name: string
  color: string
  description: string | null
  readonly isDefault: boolean
}

export interface Repo {
  readonly id: number
  readonly nodeId: string
  readonly owner: Account
  readonly name: string
  description: string | null
  homepage: string | null
  readonly private: boolean
  readonly createdAt: number
  updatedAt: number
  pushedAt: number | null
  defaultBranch: string
  readonly collaborators: Map<number, Role>
  /** Issues and pull requests share one sequence, like on GitHub. */
  nextNumber: number
  /** By lower-cased name. */
  readonly labels: Map<string, Label>
  readonly gitDir: string
}

export interface Pull {
  readonly headRef: string
  readonly headRepo: Repo
  baseRef: string
  draft: boolean
  merged: boolean
  mergedAt: number | null
  maintainerCanModify: boolean
  /** Last head and base commits seen: what a closed pull request still shows once its branch is gone. */
  headSha: string
  baseSha: string
}

export interface Issue {
  readonly id: number
  readonly nodeId: string
  readonly repo: Repo
  readonly number: number
  title: string
  body: string | null
  readonly author: Account
  readonly viaApp: boolean
  state: "open" | "closed"
  stateReason: "completed" | "not_planned" | "reopened" | null
  labels: Array<Label>
  createdAt: number
  updatedAt: number
  closedAt: number | null
  closedBy: Account | null
  readonly locked: boolean
  readonly pull: Pull | undefined
  /** The pull request's own id (GitHub gives a PR an id distinct from its issue's). */
  readonly pullId: number
}

export interface IssueComment {
  readonly id: number
  readonly nodeId: string
  readonly issue: Issue
  readonly author: Account
  readonly viaApp: boolean
  body: string
  readonly createdAt: number
  updatedAt: number
}

export interface ReviewComment {
  readonly id: number
  readonly nodeId: string
  readonly reviewId: number
  readonly issue: Issue
  readonly author: Account
  readonly viaApp: boolean
  body: string
  readonly path: string
  readonly line: number | null
  readonly side: "LEFT" | "RIGHT"
  readonly startLine: number | null
  readonly startSide: "LEFT" | "RIGHT" | null
  readonly subjectType: "line" | "file"
  readonly commitId: string
  readonly diffHunk: string
  readonly inReplyToId: number | undefined
  readonly createdAt: number
  updatedAt: number
}

export type ReactionContent = "+1" | "-1" | "laugh" | "confused" | "heart" | "hooray" | "rocket" | "eyes"
export const REACTIONS: ReadonlyArray<ReactionContent> = [
  "+1",
  "-1",
  "laugh",
  "confused",
  "heart",
  "hooray",
  "rocket",
  "eyes"
]

export type ReactionSubject =
  | { readonly _tag: "Issue"; readonly id: number }
  | { readonly _tag: "IssueComment"; readonly id: number }
  | { readonly _tag: "ReviewComment"; readonly id: number }

export interface Reaction {
  readonly id: number
  readonly nodeId: string
  readonly user: Account
  readonly content: ReactionContent
  readonly createdAt: number
  readonly subject: ReactionSubject
}

/** Who a request acts as. */
export type Principal =
  | { readonly _tag: "Anonymous" }
  | { readonly _tag: "User"; readonly account: Account }
  | { readonly _tag: "App"; readonly app: App }
  | { readonly _tag: "Installation"; readonly token: InstallationToken; readonly app: App }

/** The account a principal's writes are authored by (`<slug>[bot]` for installation tokens). */
export const actorOf = (principal: Principal): Account | undefined =>
  principal._tag === "User"
    ? principal.account
    : principal._tag === "Installation"
    ? principal.app.bot
    : principal._tag === "App"
    ? principal.app.bot
    : undefined

/** GitHub's rule for logins: letters, digits and single inner hyphens, at most 39 characters. */
export const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/

const nodeId = (kind: string, id: number) => Buffer.from(`0${kind.length}:${kind}${id}`).toString("base64")

const randomToken = (prefix: string) => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  const bytes = randomBytes(36)
  let out = prefix
  for (const byte of bytes) out += alphabet[byte % alphabet.length]
  return out
}

export const INSTALLATION_PERMISSIONS: Permissions = {
  contents: "write",
  issues: "write",
  pull_requests: "write",
  metadata: "read",
  checks: "read",
  actions: "read"
}
export const APP_EVENTS: ReadonlyArray<string> = [
  "issues",
  "issue_comment",
  "pull_request",
  "pull_request_review_comment",
  "check_suite",
  "workflow_run"
]
export const DEFAULT_LABEL_COLOR = "ededed"

export interface StateOptions {
  readonly dataDir: string
  readonly adminLogin: string
  readonly appSlug: string
  readonly privateKeyPkcs1: string
  readonly publicKey: KeyObject
  readonly webhookUrl: string | undefined
  readonly webhookSecret: string
  /** Added to every kind's first id (`EmulatorOptions.idBase`). */
  readonly idBase?: number | undefined
}

export const makeState = (options: StateOptions) => {
  let clockOffsetMs = 0
  const now = () => Date.now() + clockOffsetMs
  const counters = new Map<string, number>()
  // Distinct ranges per kind, so an id read in a test says what it is.
  const BASES: Record<string, number> = {
    account: 1000,
    installation: 50_000,
    repo: 100_000,
    issue: 1_000_000,
    pull: 2_000_000,
    comment: 3_000_000,
    review: 4_000_000,
    reviewComment: 5_000_000,
    reaction: 6_000_000,
    label: 7_000_000,
    delivery: 8_000_000,
    invitation: 9_000_000,
    checkSuite: 10_000_000,
    checkRun: 11_000_000,
    workflowRun: 12_000_000,
    workflow: 13_000_000
  }
  const nextId = (kind: keyof typeof BASES) => {
    const next = (counters.get(kind) ?? (options.idBase ?? 0) + BASES[kind]!) + 1
    counters.set(kind, next)
    return next
  }

  const accounts = new Map<string, Account>() // lower-cased login
  const accountsById = new Map<number, Account>()
  const orgs = new Map<number, Org>()
  const userTokens = new Map<string, Account>()
  const installations = new Map<number, Installation>()
  const installationsByAccount = new Map<number, Installation>()
  const installationTokens = new Map<string, InstallationToken>()
  const repos = new Map<string, Repo>() // "owner/name" lower-cased
  const reposById = new Map<number, Repo>()
  const issues = new Map<number, Array<Issue>>() // repo id → issues by number order
  const comments = new Map<number, IssueComment>()
  const reviewComments = new Map<number, ReviewComment>()
  const reactions: Array<Reaction> = []

  const addAccount = (login: string, type: Account["type"], siteAdmin = false): Account => {
    const id = nextId("account")
    const account: Account = {
      id,
      login,
      type,
      nodeId: nodeId(type === "Organization" ? "Organization" : type, id),
      createdAt: now(),
      siteAdmin
    }
    accounts.set(login.toLowerCase(), account)
    accountsById.set(id, account)
    if (type !== "Bot") {
      // The App is installed on every account, one installation each, its id fixed for the account.
      const installation: Installation = { id: nextId("installation"), account, createdAt: now() }
      installations.set(installation.id, installation)
      installationsByAccount.set(account.id, installation)
    }
    return account
  }

  const issueToken = (account: Account, prefix = "ghp_") => {
    const token = randomToken(prefix)
    userTokens.set(token, account)
    return token
  }

  const admin = addAccount(options.adminLogin, "User", true)
  const adminToken = issueToken(admin)
  const bot = addAccount(`${options.appSlug}[bot]`, "Bot")
  const app: App = {
    id: 900_000 + admin.id,
    slug: options.appSlug,
    name: options.appSlug.charAt(0).toUpperCase() + options.appSlug.slice(1),
    clientId: `Iv23li${randomToken("").slice(0, 14)}`,
    nodeId: nodeId("Integration", 900_000 + admin.id),
    owner: admin,
    bot,
    privateKeyPkcs1: options.privateKeyPkcs1,
    publicKey: options.publicKey,
    permissions: INSTALLATION_PERMISSIONS,
    events: APP_EVENTS,
    createdAt: now(),
    hookId: 400_000 + admin.id,
    webhookUrl: options.webhookUrl,
    webhookSecret: options.webhookSecret
  }

  const account = (login: string) => accounts.get(login.toLowerCase())

  /** `undefined` for an invalid login, or one taken by an organization. */
  const createUser = (login: string) => {
    if (!LOGIN.test(login)) return undefined
    const existing = account(login)
    if (existing) return existing.type === "User" ? { account: existing, token: issueToken(existing) } : undefined
    const created = addAccount(login, "User")
    return { account: created, token: issueToken(created) }
  }

  const createOrg = (login: string, owners: ReadonlyArray<Account>) => {
    if (!LOGIN.test(login) || account(login)) return undefined
    const created = addAccount(login, "Organization")
    const org: Org = { account: created, owners: new Set(owners.map((owner) => owner.id)) }
    orgs.set(created.id, org)
    return org
  }

  const mintInstallationToken = (
    installation: Installation,
    permissions: Permissions,
    repositoryIds: ReadonlyArray<number> | undefined
  ): InstallationToken => {
    const token: InstallationToken = {
      token: randomToken("ghs_"),
      installation,
      expiresAt: now() + 60 * 60 * 1000,
      permissions,
      repositoryIds
    }
    installationTokens.set(token.token, token)
    return token
  }

  const repo = (owner: string, name: string) => repos.get(`${owner}/${name}`.toLowerCase())

  const createRepo = (input: {
    readonly owner: Account
    readonly name: string
    readonly description: string | null
    readonly homepage: string | null
    readonly private: boolean
  }): Repo => {
    const id = nextId("repo")
    const created: Repo = {
      id,
      nodeId: nodeId("Repository", id),
      owner: input.owner,
      name: input.name,
      description: input.description,
      homepage: input.homepage,
      private: input.private,
      createdAt: now(),
      updatedAt: now(),
      pushedAt: null,
      defaultBranch: "main",
      collaborators: new Map(),
      nextNumber: 1,
      labels: new Map(),
      gitDir: path.join(options.dataDir, input.owner.login, `${input.name}.git`)
    }
    for (
      const [name, color, description] of [
        ["bug", "d73a4a", "Something isn't working"],
        ["documentation", "0075ca", "Improvements or additions to documentation"],
        ["enhancement", "a2eeef", "New feature or request"],
        ["good first issue", "7057ff", "Good for newcomers"],
        ["help wanted", "008672", "Extra attention is needed"]
      ] as const
    ) addLabel(created, name, color, description, true)
    repos.set(`${input.owner.login}/${input.name}`.toLowerCase(), created)
    reposById.set(id, created)
    issues.set(id, [])
    return created
  }

  const addLabel = (
    target: Repo,
    name: string,
    color: string = DEFAULT_LABEL_COLOR,
    description: string | null = null,
    isDefault = false
  ): Label => {
    const id = nextId("label")
    const label: Label = { id, nodeId: nodeId("Label", id), name, color, description, isDefault }
    target.labels.set(name.toLowerCase(), label)
    return label
  }

  /** A label by name; like GitHub, naming an unknown label on an issue creates it. */
  const labelFor = (target: Repo, name: string) => target.labels.get(name.toLowerCase()) ?? addLabel(target, name)

  const roleOf = (who: Account, target: Repo): RoleOrNone => {
    if (who.siteAdmin || who.id === target.owner.id) return "admin"
    if (orgs.get(target.owner.id)?.owners.has(who.id)) return "admin"
    const collaborator = target.collaborators.get(who.id)
    if (collaborator) return collaborator
    return target.private ? "none" : "read"
  }

  const isCollaborator = (who: Account, target: Repo) =>
    who.siteAdmin || who.id === target.owner.id || orgs.get(target.owner.id)?.owners.has(who.id) === true ||
    target.collaborators.has(who.id)

  const installationCovers = (token: InstallationToken, target: Repo) =>
    token.installation.account.id === target.owner.id &&
    (token.repositoryIds === undefined || token.repositoryIds.includes(target.id))

  const addIssue = (input: {
    readonly repo: Repo
    readonly title: string
    readonly body: string | null
    readonly author: Account
    readonly viaApp: boolean
    readonly labels: ReadonlyArray<Label>
    readonly pull?: Pull
  }): Issue => {
    const id = nextId("issue")
    const created: Issue = {
      id,
      nodeId: nodeId(input.pull ? "PullRequest" : "Issue", id),
      repo: input.repo,
      number: input.repo.nextNumber++,
      title: input.title,
      body: input.body,
      author: input.author,
      viaApp: input.viaApp,
      state: "open",
      stateReason: null,
      labels: [...input.labels],
      createdAt: now(),
      updatedAt: now(),
      closedAt: null,
      closedBy: null,
      locked: false,
      pull: input.pull,
      pullId: input.pull ? nextId("pull") : 0
    }
    issues.get(input.repo.id)!.push(created)
    input.repo.updatedAt = now()
    return created
  }

  const issuesOf = (target: Repo): ReadonlyArray<Issue> => issues.get(target.id) ?? []
  const issue = (target: Repo, number: number) => issuesOf(target).find((candidate) => candidate.number === number)

  const addComment = (target: Issue, author: Account, viaApp: boolean, body: string): IssueComment => {
    const id = nextId("comment")
    const created: IssueComment = {
      id,
      nodeId: nodeId("IssueComment", id),
      issue: target,
      author,
      viaApp,
      body,
      createdAt: now(),
      updatedAt: now()
    }
    comments.set(id, created)
    target.updatedAt = now()
    return created
  }

  const commentsOf = (target: Issue) => [...comments.values()].filter((comment) => comment.issue === target)

  const addReviewComment = (input: Omit<ReviewComment, "id" | "nodeId" | "reviewId" | "createdAt" | "updatedAt">) => {
    const id = nextId("reviewComment")
    const created: ReviewComment = {
      ...input,
      id,
      nodeId: nodeId("PullRequestReviewComment", id),
      reviewId: nextId("review"),
      createdAt: now(),
      updatedAt: now()
    }
    reviewComments.set(id, created)
    input.issue.updatedAt = now()
    return created
  }

  const sameSubject = (a: ReactionSubject, b: ReactionSubject) => a._tag === b._tag && a.id === b.id

  /** Adds a reaction; an identical one (same user, content, subject) is returned instead, like GitHub. */
  const react = (subject: ReactionSubject, user: Account, content: ReactionContent) => {
    const existing = reactions.find((reaction) =>
      sameSubject(reaction.subject, subject) && reaction.user.id === user.id && reaction.content === content
    )
    if (existing) return { reaction: existing, created: false }
    const id = nextId("reaction")
    const reaction: Reaction = { id, nodeId: nodeId("Reaction", id), user, content, createdAt: now(), subject }
    reactions.push(reaction)
    return { reaction, created: true }
  }

  const reactionsOf = (subject: ReactionSubject) =>
    reactions.filter((reaction) => sameSubject(reaction.subject, subject))

  const removeReaction = (subject: ReactionSubject, id: number) => {
    const index = reactions.findIndex((reaction) => reaction.id === id && sameSubject(reaction.subject, subject))
    if (index < 0) return false
    reactions.splice(index, 1)
    return true
  }

  /** The repositories an installation token may use. */
  const reposOfInstallation = (installation: Installation, repositoryIds?: ReadonlyArray<number>) =>
    [...reposById.values()].filter((candidate) =>
      candidate.owner.id === installation.account.id &&
      (repositoryIds === undefined || repositoryIds.includes(candidate.id))
    )

  return {
    now,
    advanceClock: (ms: number) => {
      clockOffsetMs += ms
      return now()
    },
    nextId,
    admin,
    adminToken,
    app,
    account,
    accountById: (id: number) => accountsById.get(id),
    org: (id: number) => orgs.get(id),
    createUser,
    createOrg,
    userByToken: (token: string) => userTokens.get(token),
    /** A new token of `account` (`ghu_` for the OAuth web flow's user-to-server tokens). */
    issueUserToken: (account: Account, prefix: "ghp_" | "ghu_" = "ghp_") => issueToken(account, prefix),
    installation: (id: number) => installations.get(id),
    installations: () => [...installations.values()],
    installationOf: (owner: Account) => installationsByAccount.get(owner.id),
    installationToken: (token: string) => installationTokens.get(token),
    revokeInstallationToken: (token: string) => installationTokens.delete(token),
    mintInstallationToken,
    repo,
    repoById: (id: number) => reposById.get(id),
    repos: () => [...reposById.values()],
    reposOfInstallation,
    createRepo,
    labelFor,
    addLabel,
    roleOf,
    isCollaborator,
    installationCovers,
    addIssue,
    issuesOf,
    issue,
    issueById: (id: number) => {
      for (const list of issues.values()) {
        const found = list.find((candidate) => candidate.id === id)
        if (found) return found
      }
      return undefined
    },
    addComment,
    comment: (id: number) => comments.get(id),
    comments: () => [...comments.values()],
    commentsOf,
    deleteComment: (id: number) => comments.delete(id),
    addReviewComment,
    reviewComment: (id: number) => reviewComments.get(id),
    reviewComments: () => [...reviewComments.values()],
    react,
    reactionsOf,
    removeReaction
  }
}

export type State = ReturnType<typeof makeState>
