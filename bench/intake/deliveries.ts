/**
 * Signed `issue_comment.created` deliveries, as GitHub sends them: the payload fields GitHub includes (URLs Porter
 * never reads trimmed), a unique `X-GitHub-Delivery` per delivery, `X-Hub-Signature-256` over the exact body. Every
 * target of a benchmark gets the same deliveries; they are signed before any clock starts.
 */
import { createHmac, randomUUID } from "node:crypto"

export interface Signed {
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
}

/** An `issue_comment.created` payload. */
export const payload = (commentId: number, body: string) => ({
  action: "created",
  issue: {
    number: 7,
    title: "The parser rejects ISO weeks",
    body: "Parsing 2026-W05 fails with an error; it should give the Monday of that week.",
    state: "open",
    user: { login: "octocat", id: 1, type: "User" },
    labels: [],
    comments: 3,
    created_at: "2026-11-20T10:00:00Z",
    updated_at: "2026-11-20T10:00:00Z",
    author_association: "OWNER"
  },
  comment: {
    id: commentId,
    body,
    user: { login: "reader", id: 7001, type: "User" },
    created_at: "2026-11-20T10:05:00Z",
    updated_at: "2026-11-20T10:05:00Z",
    author_association: "CONTRIBUTOR"
  },
  repository: {
    id: 1296269,
    name: "parser",
    full_name: "octo-org/parser",
    private: false,
    owner: { login: "octo-org", id: 9001, type: "Organization" },
    default_branch: "main"
  },
  sender: { login: "reader", id: 7001, type: "User" },
  installation: { id: 31 }
})

export const signature = (secret: string, text: string): string =>
  `sha256=${createHmac("sha256", secret).update(text).digest("hex")}`

export const sign = (secret: string, text: string, deliveryId: string = randomUUID()): Signed => ({
  body: text,
  headers: {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/bench",
    "x-github-event": "issue_comment",
    "x-github-delivery": deliveryId,
    "x-hub-signature-256": signature(secret, text)
  }
})

/** The comment every accepted delivery carries: a command Porter accepts (the `script` agent needs no secret). */
export const COMMAND = "@porter script make the parser accept ISO weeks"

let commentIds = 1_000_000

/** `count` signed deliveries of `body`, each with its own delivery id and comment id. */
export const pool = (secret: string, count: number, body: string = COMMAND): ReadonlyArray<Signed> =>
  Array.from({ length: count }, () => sign(secret, JSON.stringify(payload(++commentIds, body))))
