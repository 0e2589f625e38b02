/**
 * GitHub webhook deliveries as GitHub sends them (`X-GitHub-Event`, `X-GitHub-Delivery`, `X-Hub-Signature-256` over
 * the exact body), for fuzzing the webhook endpoint and replaying deliveries. Payloads carry the fields Porter's
 * intake reads; GitHub's URLs and the rest are left out (the intake ignores them).
 */
import { createHmac, randomUUID } from "node:crypto"

export interface Delivery {
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
}

export interface CommentOptions {
  readonly body: string
  readonly commentId: number
  readonly issueNumber?: number | undefined
  readonly repo?: { readonly owner: string; readonly name: string } | undefined
  readonly author?:
    | { readonly login: string; readonly id: number; readonly type: "User" | "Bot" | "Organization" }
    | undefined
  readonly action?: string | undefined
  readonly installationId?: number | undefined
  /** A comment on a pull request's conversation. */
  readonly pullRequest?: boolean | undefined
}

export const signature = (secret: string, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`

/** An `issue_comment` payload. */
export const issueComment = (options: CommentOptions) => {
  const repo = options.repo ?? { owner: "octo-org", name: "parser" }
  const author = options.author ?? { login: "octocat", id: 583231, type: "User" as const }
  return {
    action: options.action ?? "created",
    issue: {
      number: options.issueNumber ?? 7,
      title: "The parser rejects ISO weeks",
      body: "Parsing 2026-W05 fails.",
      state: "open",
      user: { login: "octocat", id: 583231, type: "User" },
      labels: [],
      ...(options.pullRequest
        ? { pull_request: { url: `https://api.github.com/repos/${repo.owner}/${repo.name}/pulls/7` } }
        : {})
    },
    comment: {
      id: options.commentId,
      body: options.body,
      user: { login: author.login, id: author.id, type: author.type },
      created_at: "2026-11-20T10:05:00Z",
      updated_at: "2026-11-20T10:05:00Z"
    },
    repository: {
      id: 1296269,
      name: repo.name,
      full_name: `${repo.owner}/${repo.name}`,
      private: false,
      owner: { login: repo.owner, id: 9001, type: "Organization" },
      default_branch: "main"
    },
    sender: { login: author.login, id: author.id, type: author.type },
    ...(options.installationId !== undefined ? { installation: { id: options.installationId } } : {})
  }
}

/** A delivery of `body` (any text: fuzzers sign what they like), with its own delivery id unless given. */
export const signed = (
  secret: string,
  event: string,
  body: string,
  deliveryId: string = randomUUID()
): Delivery => ({
  body,
  headers: {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/reliability",
    "x-github-event": event,
    "x-github-delivery": deliveryId,
    "x-hub-signature-256": signature(secret, body)
  }
})
