/**
 * An issue's thread and a pull request's diff as a user would read them on GitHub, rendered as plain text for
 * the terminal: the issue, every comment (with its reactions), hidden HTML comments (Porter's markers) removed.
 * Read through the REST API (`GitHubRest`), like any GitHub client would.
 */
import { Effect, Schema } from "effect"
import type { CliFailure } from "./CliFailure.ts"
import type { GitHubRest } from "./GitHubRest.ts"

const User = Schema.Struct({ login: Schema.String })

/** An issue as the CLI prints it. */
export const IssueView = Schema.Struct({
  number: Schema.Number,
  title: Schema.String,
  body: Schema.NullOr(Schema.String),
  state: Schema.String,
  html_url: Schema.String,
  user: User
})
/** An issue as the CLI prints it. */
export type IssueView = typeof IssueView.Type

/** A comment as the CLI prints it. */
export const CommentView = Schema.Struct({
  id: Schema.Number,
  body: Schema.String,
  user: User,
  created_at: Schema.String
})
/** A comment as the CLI prints it. */
export type CommentView = typeof CommentView.Type

/** A reaction as the CLI prints it. */
export const ReactionView = Schema.Struct({ content: Schema.String, user: User })
/** A reaction as the CLI prints it. */
export type ReactionView = typeof ReactionView.Type

/** A pull request as the CLI prints it. */
export const PullView = Schema.Struct({
  number: Schema.Number,
  title: Schema.String,
  body: Schema.NullOr(Schema.String),
  state: Schema.String,
  html_url: Schema.String,
  user: User,
  head: Schema.Struct({ ref: Schema.String, sha: Schema.String }),
  base: Schema.Struct({ ref: Schema.String })
})
/** A pull request as the CLI prints it. */
export type PullView = typeof PullView.Type

/** An issue's thread: the issue and its comments, each with its reactions. */
export interface Thread {
  readonly repo: string
  readonly issue: IssueView
  readonly comments: ReadonlyArray<{ readonly comment: CommentView; readonly reactions: ReadonlyArray<ReactionView> }>
}

/** Reads issue `number` of `repo` with its comments and their reactions. */
export const read = (github: GitHubRest, repo: string, number: number): Effect.Effect<Thread, CliFailure> =>
  Effect.gen(function*() {
    const issue = yield* github.json("GET", `/repos/${repo}/issues/${number}`, IssueView)
    const comments = yield* github.json(
      "GET",
      `/repos/${repo}/issues/${number}/comments?per_page=100`,
      Schema.Array(CommentView)
    )
    const withReactions = yield* Effect.forEach(comments, (comment) =>
      Effect.map(
        github.json("GET", `/repos/${repo}/issues/comments/${comment.id}/reactions`, Schema.Array(ReactionView)),
        (reactions) => ({ comment, reactions })
      ), { concurrency: 4 })
    return { repo, issue, comments: withReactions }
  })

/** The pull requests of `repo` (open and closed), newest first. */
export const pulls = (github: GitHubRest, repo: string) =>
  github.json("GET", `/repos/${repo}/pulls?state=all&per_page=100`, Schema.Array(PullView))

/** A pull request's diff, as `git diff` prints it. */
export const diff = (github: GitHubRest, repo: string, number: number) =>
  github.text(`/repos/${repo}/pulls/${number}`, "application/vnd.github.diff")

const EMOJI: Record<string, string> = {
  "+1": "👍",
  "-1": "👎",
  laugh: "😄",
  confused: "😕",
  heart: "❤️",
  hooray: "🎉",
  rocket: "🚀",
  eyes: "👀"
}

/** Markdown as GitHub shows it, near enough for a terminal: without hidden HTML comments. */
export const visible = (markdown: string): string =>
  markdown.replace(/<!--[\s\S]*?-->/g, "").replace(/\n{3,}/g, "\n\n").trim()

const indent = (text: string) => text.split("\n").map((line) => (line.length > 0 ? `    ${line}` : "")).join("\n")

const rule = (title: string) => `━━ ${title} ${"━".repeat(Math.max(3, 76 - title.length))}`

/** The thread, as text. */
export const render = (thread: Thread): string => {
  const lines: Array<string> = [
    rule(`${thread.repo}#${thread.issue.number} · ${thread.issue.title}`),
    thread.issue.html_url,
    "",
    `@${thread.issue.user.login} opened this issue`,
    indent(visible(thread.issue.body ?? "")),
    ""
  ]
  for (const { comment, reactions } of thread.comments) {
    const said = reactions.map((r) => `${EMOJI[r.content] ?? r.content} ${r.user.login}`).join(", ")
    lines.push(`@${comment.user.login} commented${said.length > 0 ? `   [${said}]` : ""}`)
    lines.push(indent(visible(comment.body)))
    lines.push("")
  }
  return lines.join("\n")
}

/** A pull request's header and its diff, as text. */
export const renderPull = (pull: PullView, diffText: string): string =>
  [
    rule(`Pull request #${pull.number} · ${pull.title}`),
    `${pull.html_url}   ${pull.head.ref} → ${pull.base.ref}   by @${pull.user.login}, ${pull.state}`,
    "",
    diffText.trimEnd(),
    ""
  ].join("\n")
