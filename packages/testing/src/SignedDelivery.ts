/**
 * Signed GitHub webhook deliveries for tests: a payload made from a few fields (the fields Porter reads, plus the
 * ones GitHub always sends that a host might log: `sender`, `repository.full_name`, `html_url`s) and the headers
 * GitHub adds — `X-GitHub-Event`, `X-GitHub-Delivery`, `X-Hub-Signature-256` (HMAC-SHA256 of the exact body with the
 * webhook secret) and `Content-Type`. Post it to a host's `/webhooks/github` (`toRequest`, or `headers` + `body` with
 * any client) or hand it to `Intake.answer` directly.
 *
 * The signature is WebCrypto's (`crypto.subtle`), so this runs wherever a test does: Node, workerd, a browser.
 *
 * Cannot: reproduce every field of GitHub's payloads (`@porter/testkit`'s GitHub emulator sends complete ones).
 */
import { Effect } from "effect"

/** A delivery as GitHub sends it: the exact body and the headers that go with it. */
export interface Delivery {
  readonly event: string
  readonly deliveryId: string
  /** The JSON text that was signed: send these bytes unchanged. */
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
}

/** Who wrote a comment or acted: `login` and `id` as GitHub's `user` objects carry them. */
export interface Sender {
  readonly login: string
  readonly id: number
  readonly type?: "User" | "Bot" | "Organization"
}

/** The fields of an `issue_comment` delivery; only `secret` and `body` are required. */
export interface CommentOptions {
  /** The webhook secret the host verifies with. */
  readonly secret: string
  /** The comment's text, e.g. `"@porter claude fix the parser"`. */
  readonly body: string
  /** `owner/name`; default `octo-org/hello-world`. */
  readonly repo?: string
  /** Default 1. */
  readonly issueNumber?: number
  /** Default octocat (id 583231). */
  readonly sender?: Sender
  /** The GitHub App installation the delivery is for; default 1. `null`: none (a repository webhook). */
  readonly installationId?: number | null
  /** Default a new number per delivery. */
  readonly commentId?: number
  readonly title?: string
  readonly issueBody?: string
  /** A comment on a pull request's conversation (an issue with `pull_request`). */
  readonly isPullRequest?: boolean
  /** Default `main`. */
  readonly defaultBranch?: string
  /** Default a new GUID. */
  readonly deliveryId?: string
}

let counter = 0

const hex = (bytes: ArrayBuffer): string =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("")

/** `sha256=<hex>`: the `X-Hub-Signature-256` of `body` under `secret`. */
export const sign = (secret: string, body: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    const encoder = new TextEncoder()
    const key = await crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"]
    )
    return `sha256=${hex(await crypto.subtle.sign("HMAC", key, encoder.encode(body)))}`
  })

/** Any event: `payload` serialized once, signed, with GitHub's headers. */
export const make = (options: {
  readonly secret: string
  readonly event: string
  readonly payload: unknown
  readonly deliveryId?: string
}): Effect.Effect<Delivery> =>
  Effect.gen(function*() {
    const body = JSON.stringify(options.payload)
    const deliveryId = options.deliveryId ?? crypto.randomUUID()
    const signature = yield* sign(options.secret, body)
    return {
      event: options.event,
      deliveryId,
      body,
      headers: {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/porter-testing",
        "x-github-event": options.event,
        "x-github-delivery": deliveryId,
        "x-hub-signature-256": signature
      }
    }
  })

const user = (sender: Sender) => ({ login: sender.login, id: sender.id, type: sender.type ?? "User" })

const repository = (fullName: string, defaultBranch: string) => {
  const [owner = "octo-org", name = "hello-world"] = fullName.split("/")
  return {
    id: 1_296_269,
    name,
    full_name: `${owner}/${name}`,
    private: false,
    owner: { login: owner, id: 9_919, type: "Organization" },
    default_branch: defaultBranch
  }
}

/** The `issue_comment` payload (`action: "created"`) for `options`, unsigned. */
export const issueCommentPayload = (options: Omit<CommentOptions, "secret" | "deliveryId">) => {
  const repo = options.repo ?? "octo-org/hello-world"
  const number = options.issueNumber ?? 1
  const sender = user(options.sender ?? { login: "octocat", id: 583_231 })
  const commentId = options.commentId ?? 2_000_000 + ++counter
  const installationId = options.installationId === undefined ? 1 : options.installationId
  const html = `https://github.com/${repo}/${options.isPullRequest === true ? "pull" : "issues"}/${number}`
  return {
    action: "created",
    issue: {
      number,
      title: options.title ?? "Date parser rejects ISO weeks",
      body: options.issueBody ?? "Parsing `2026-W05` fails.",
      state: "open",
      html_url: html,
      user: sender,
      ...(options.isPullRequest === true ? { pull_request: { html_url: html } } : {})
    },
    comment: {
      id: commentId,
      body: options.body,
      user: sender,
      html_url: `${html}#issuecomment-${commentId}`,
      created_at: new Date(0).toISOString()
    },
    repository: repository(repo, options.defaultBranch ?? "main"),
    sender,
    ...(installationId === null ? {} : { installation: { id: installationId } })
  }
}

/** A signed `issue_comment` delivery: someone commented `options.body` on an issue (or a pull request). */
export const issueComment = (options: CommentOptions): Effect.Effect<Delivery> =>
  make({
    secret: options.secret,
    event: "issue_comment",
    payload: issueCommentPayload(options),
    ...(options.deliveryId !== undefined ? { deliveryId: options.deliveryId } : {})
  })

/** A signed `issues` delivery with `action: "closed"`. */
export const issueClosed = (options: {
  readonly secret: string
  readonly repo?: string
  readonly issueNumber?: number
  readonly sender?: Sender
  readonly installationId?: number | null
  readonly deliveryId?: string
}): Effect.Effect<Delivery> => {
  const sender = user(options.sender ?? { login: "octocat", id: 583_231 })
  const installationId = options.installationId === undefined ? 1 : options.installationId
  return make({
    secret: options.secret,
    event: "issues",
    payload: {
      action: "closed",
      issue: { number: options.issueNumber ?? 1, title: "closed", state: "closed", user: sender },
      repository: repository(options.repo ?? "octo-org/hello-world", "main"),
      sender,
      ...(installationId === null ? {} : { installation: { id: installationId } })
    },
    ...(options.deliveryId !== undefined ? { deliveryId: options.deliveryId } : {})
  })
}

/** A `POST` of the delivery to `url` (a host's `/webhooks/github`), for `fetch` or a `Request`-taking handler. */
export const toRequest = (delivery: Delivery, url: string): Request =>
  new Request(url, { method: "POST", headers: { ...delivery.headers }, body: delivery.body })
