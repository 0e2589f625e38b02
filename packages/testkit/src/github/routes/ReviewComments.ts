/**
 * Review comments on a pull request's diff lines: create (on a line or a file of the diff, `diff_hunk` computed from
 * git; 422 when the path or line is not in the diff), reply (`in_reply_to` or `…/comments/{id}/replies`), list, get,
 * and their reactions — with `pull_request_review_comment.created`. Part of the pull request routes (`Pulls.ts`),
 * which find the pull request and check the caller's rights.
 */
import { Effect, Schema } from "effect"
import type { Need } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import * as Git from "../Git.ts"
import { ApiError, decodeBody, json, jsonPage, notFound, validationFailed } from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"
import type { Issue } from "../State.ts"
import { reactionRoutes } from "./Reactions.ts"

const Side = Schema.Literals(["LEFT", "RIGHT"])
const ReviewCommentBody = Schema.Struct({
  body: Schema.String,
  commit_id: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String),
  line: Schema.optional(Schema.Int),
  side: Schema.optional(Side),
  start_line: Schema.optional(Schema.Int),
  start_side: Schema.optional(Side),
  subject_type: Schema.optional(Schema.Literals(["line", "file"])),
  in_reply_to: Schema.optional(Schema.Int)
})

const READ: Need = { role: "read", scope: "pull_requests", level: "read" }
const PARTICIPATE: Need = { role: "read", scope: "pull_requests", level: "write" }

/** The part of a file's diff GitHub shows above a review comment: its hunk, up to the line. */
const diffHunkAt = (fileDiff: string, line: number | undefined, side: "LEFT" | "RIGHT") => {
  const lines = fileDiff.split("\n")
  let hunk: Array<string> = []
  let oldLine = 0
  let newLine = 0
  let first: string | undefined
  for (const entry of lines) {
    const header = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(entry)
    if (header) {
      hunk = [entry]
      first ??= entry
      oldLine = Number(header[1])
      newLine = Number(header[2])
      continue
    }
    if (hunk.length === 0 || entry.startsWith("\\")) continue
    hunk.push(entry)
    const kind = entry.charAt(0)
    const here = side === "LEFT" ? (kind === "+" ? undefined : oldLine) : (kind === "-" ? undefined : newLine)
    if (line !== undefined && here === line) return hunk.join("\n")
    if (kind !== "+") oldLine++
    if (kind !== "-") newLine++
  }
  return line === undefined ? first : undefined
}

/**
 * The review comment routes; `pullFor` finds the pull request of a request and checks the caller may do what `need`
 * says (`Pulls.ts`).
 */
export const reviewCommentRoutes = (
  context: RouteContext,
  pullFor: (request: ApiRequest, need?: Need) => Effect.Effect<Issue, ApiError>
): ReadonlyArray<Route> => {
  const { events, payloads, state } = context
  const helpers = makeHelpers(context)

  const reviewCommentFor = (request: ApiRequest) =>
    Effect.gen(function*() {
      const repo = yield* helpers.repoFor(request, READ)
      const comment = state.reviewComment(Number(request.params["comment_id"]))
      if (!comment || comment.issue.repo !== repo) return yield* notFound()
      return comment
    })

  /** A reply joins the thread of the comment it answers (same file, line and commit). */
  const reply = (request: ApiRequest, pr: Issue, to: number, text: string) =>
    Effect.gen(function*() {
      const parent = state.reviewComment(to)
      if (!parent || parent.issue !== pr) return yield* notFound()
      const actor = helpers.actor(request)
      const created = state.addReviewComment({
        ...parent,
        author: actor.account,
        viaApp: actor.viaApp,
        body: text,
        inReplyToId: parent.inReplyToId ?? parent.id
      })
      yield* events.reviewComment("created", created, actor.account)
      return json(payloads.reviewComment(created), 201)
    })

  return [
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/pulls/{pull_number}/comments",
      handler: (request) =>
        Effect.gen(function*() {
          const pr = yield* pullFor(request, PARTICIPATE)
          const body = yield* decodeBody(ReviewCommentBody)(request.body)
          const actor = helpers.actor(request)
          const git = yield* helpers.pullGit(pr)
          if (body.in_reply_to !== undefined) return yield* reply(request, pr, body.in_reply_to, body.body)
          if (body.commit_id === undefined || body.path === undefined) {
            return yield* validationFailed({
              resource: "PullRequestReviewComment",
              code: "missing_field",
              field: body.commit_id === undefined ? "commit_id" : "path"
            })
          }
          const commitId = yield* Git.resolve(pr.repo.gitDir, body.commit_id)
          if (!commitId) {
            return yield* validationFailed({
              resource: "PullRequestReviewComment",
              code: "invalid",
              field: "commit_id"
            })
          }
          const subjectType = body.subject_type ?? (body.line === undefined ? "file" : "line")
          const side = body.side ?? "RIGHT"
          const fileDiff = yield* Git.fileDiff(pr.repo.gitDir, git.baseSha, git.headSha, body.path)
          if (fileDiff.length === 0) {
            return yield* new ApiError({
              status: 422,
              message: "Validation Failed",
              errors: ["pull_request_review_thread.path could not be resolved"]
            })
          }
          const hunk = diffHunkAt(fileDiff, subjectType === "line" ? body.line : undefined, side)
          if (hunk === undefined) {
            return yield* new ApiError({
              status: 422,
              message: "Validation Failed",
              errors: ["pull_request_review_thread.line must be part of the diff"]
            })
          }
          const comment = state.addReviewComment({
            issue: pr,
            author: actor.account,
            viaApp: actor.viaApp,
            body: body.body,
            path: body.path,
            line: subjectType === "line" ? body.line ?? null : null,
            side,
            startLine: body.start_line ?? null,
            startSide: body.start_line === undefined ? null : body.start_side ?? side,
            subjectType,
            commitId,
            diffHunk: hunk,
            inReplyToId: undefined
          })
          yield* events.reviewComment("created", comment, actor.account)
          return json(payloads.reviewComment(comment), 201)
        })
    },
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies",
      handler: (request) =>
        Effect.gen(function*() {
          const pr = yield* pullFor(request, PARTICIPATE)
          const body = yield* decodeBody(Schema.Struct({ body: Schema.String }))(request.body)
          return yield* reply(request, pr, Number(request.params["comment_id"]), body.body)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/pulls/{pull_number}/comments",
      handler: (request) =>
        Effect.gen(function*() {
          const pr = yield* pullFor(request)
          const since = Date.parse(request.query.get("since") ?? "")
          const direction = request.query.get("direction") === "desc" ? -1 : 1
          const list = state.reviewComments().filter((comment) =>
            comment.issue === pr && (!Number.isFinite(since) || comment.updatedAt >= since - 999)
          ).sort((a, b) => direction * (a.createdAt - b.createdAt || a.id - b.id))
          return jsonPage(list.map(payloads.reviewComment), request, context.baseUrl)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/pulls/comments/{comment_id}",
      handler: (request) => Effect.map(reviewCommentFor(request), (comment) => json(payloads.reviewComment(comment)))
    },
    ...reactionRoutes(
      context,
      "/repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions",
      (request) =>
        Effect.map(reviewCommentFor(request), (comment) => ({
          repo: comment.issue.repo,
          issue: comment.issue,
          subject: { _tag: "ReviewComment", id: comment.id }
        }))
    )
  ]
}
