/**
 * The records of the emulator's model of GitHub (`State.ts`): accounts, the App, installations and their tokens,
 * repositories, labels, issues and pull requests, comments, review comments and reactions, roles and permissions, who
 * a request acts as — with GitHub's rules that go with them (the login rule, the App's permissions and events, the
 * default label color) and its global node ids.
 */
import type { KeyObject } from "node:crypto"

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

/** GitHub's global node id of a record (`node_id`): base64 of `0<length>:<kind><id>`. */
export const nodeId = (kind: string, id: number) => Buffer.from(`0${kind.length}:${kind}${id}`).toString("base64")

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
