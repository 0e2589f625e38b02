/**
 * The emulator's in-memory model of GitHub: accounts, the App and its installations, tokens,
 * repositories (their git data lives in bare repositories on disk), issues, pull requests,
 * comments, reactions and labels, plus who may see and change what.
 *
 * Plain mutable records on purpose: the server runs on one Node thread and every change is a
 * synchronous step, so a request never observes another one half-applied. The emulator keeps its
 * own wall clock (`now`), shiftable through `/_emulator/clock` to test expiry, independent of any
 * Effect `TestClock` a test may run under — like a remote server's clock.
 *
 * The records' types and GitHub's rules for them are in `Records.ts` (re-exported here), comments and reactions in
 * `Conversation.ts`; this module holds the state and hands out ids.
 */
import { randomBytes } from "node:crypto"
import type { KeyObject } from "node:crypto"
import * as path from "node:path"
import { makeConversation } from "./Conversation.ts"
import type {
  Account,
  App,
  Installation,
  InstallationToken,
  Issue,
  Label,
  Org,
  Permissions,
  Pull,
  Repo,
  RoleOrNone
} from "./Records.ts"
import { APP_EVENTS, DEFAULT_LABEL_COLOR, INSTALLATION_PERMISSIONS, LOGIN, nodeId } from "./Records.ts"

export type {
  Account,
  App,
  Installation,
  InstallationToken,
  Issue,
  IssueComment,
  Label,
  Level,
  Org,
  Permissions,
  Principal,
  Pull,
  Reaction,
  ReactionContent,
  ReactionSubject,
  Repo,
  ReviewComment,
  Role,
  RoleOrNone,
  Scope
} from "./Records.ts"
export {
  actorOf,
  APP_EVENTS,
  atLeast,
  DEFAULT_LABEL_COLOR,
  INSTALLATION_PERMISSIONS,
  LOGIN,
  REACTIONS
} from "./Records.ts"

const randomToken = (prefix: string) => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  const bytes = randomBytes(36)
  let out = prefix
  for (const byte of bytes) out += alphabet[byte % alphabet.length]
  return out
}

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

  /** The repositories an installation token may use. */
  const reposOfInstallation = (installation: Installation, repositoryIds?: ReadonlyArray<number>) =>
    [...reposById.values()].filter((candidate) =>
      candidate.owner.id === installation.account.id &&
      (repositoryIds === undefined || repositoryIds.includes(candidate.id))
    )

  const conversation = makeConversation(nextId, now)

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
    ...conversation
  }
}

export type State = ReturnType<typeof makeState>
