/**
 * Issues (pull requests are issues too), issue comments, reactions and an issue's labels — with the webhooks
 * GitHub sends for them (`issues.*`, `issue_comment.*`, and `pull_request.*` when the issue is a PR).
 *
 * Permissions like GitHub's: anyone who can see a repository may open issues, comment and react;
 * editing someone else's issue or comment needs triage (issues) or write (comments); labels need
 * triage. Labels named on issue creation by someone without triage are dropped silently, as on GitHub. The
 * repository's own labels are `Labels.ts`'.
 */
import { Effect, Schema } from "effect"
import type { Need } from "../Auth.ts"
import { authorize } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import { ApiError, decodeBody, forbidden, json, jsonPage, noContent, notFound, validationFailed } from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"
import type { Account, Issue, IssueComment, Label, Repo } from "../State.ts"
import { reactionRoutes } from "./Reactions.ts"

const LabelName = Schema.Union([Schema.String, Schema.Struct({ name: Schema.String })])
const LabelNames = Schema.Array(LabelName)
const LabelsBody = Schema.Union([
  LabelNames,
  Schema.Struct({ labels: LabelNames })
])

const CreateIssueBody = Schema.Struct({
  title: Schema.Union([Schema.String, Schema.Number]),
  body: Schema.optional(Schema.NullOr(Schema.String)),
  labels: Schema.optional(LabelNames)
})

const UpdateIssueBody = Schema.Struct({
  title: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Number]))),
  body: Schema.optional(Schema.NullOr(Schema.String)),
  state: Schema.optional(Schema.Literals(["open", "closed"])),
  state_reason: Schema.optional(Schema.NullOr(Schema.Literals(["completed", "not_planned", "reopened", "duplicate"]))),
  labels: Schema.optional(LabelNames)
})

const CommentBody = Schema.Struct({ body: Schema.String })

const nameOf = (label: typeof LabelName.Type) => (typeof label === "string" ? label : label.name)
const namesOf = (body: typeof LabelsBody.Type) => ("labels" in body ? body.labels : body).map(nameOf)

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { events, payloads, state } = context
  const helpers = makeHelpers(context)

  const scopeOf = (issue?: Issue) => (issue?.pull ? ["issues", "pull_requests"] as const : "issues" as const)
  const readIssues = (issue?: Issue): Need => ({ role: "read", scope: scopeOf(issue), level: "read" })
  const participate = (issue?: Issue): Need => ({ role: "read", scope: scopeOf(issue), level: "write" })
  const triage = (issue?: Issue): Need => ({ role: "triage", scope: scopeOf(issue), level: "write" })

  /** Authors may change their own things; others need `need`. */
  const authorOr = (request: ApiRequest, repo: Repo, author: Account, need: Need) =>
    Effect.gen(function*() {
      yield* authorize(state, request.principal, repo, participate())
      if (request.principal._tag === "User" && request.principal.account.id === author.id) return
      yield* authorize(state, request.principal, repo, need)
    })

  /** `issues.*` for an issue, `pull_request.*` for a pull request. */
  const issueEvent = (
    action: "opened" | "closed" | "reopened" | "edited" | "labeled" | "unlabeled",
    issue: Issue,
    sender: Account,
    extra: { readonly changes?: Record<string, { readonly from: string }>; readonly label?: Label } = {}
  ) =>
    issue.pull
      ? Effect.flatMap(helpers.pullJson(issue), (full) => events.pullRequest(action, issue, full, sender, extra))
      : events.issues(action, issue, sender, extra)

  const issueFor = (request: ApiRequest, need: (issue?: Issue) => Need) =>
    Effect.gen(function*() {
      const repo = yield* helpers.repoFor(request, readIssues())
      const issue = yield* helpers.issueIn(repo, request.params["issue_number"])
      yield* authorize(state, request.principal, repo, need(issue))
      return issue
    })

  const commentFor = (request: ApiRequest) =>
    Effect.gen(function*() {
      const repo = yield* helpers.repoFor(request, readIssues())
      const comment = state.comment(Number(request.params["comment_id"]))
      if (!comment || comment.issue.repo !== repo) return yield* notFound()
      return comment
    })

  const sortedComments = (list: ReadonlyArray<IssueComment>, request: ApiRequest) => {
    const since = request.query.get("since")
    const sinceMs = since ? Date.parse(since) : Number.NaN
    // `since`: comments updated at or after the time, like GitHub.
    const filtered = Number.isFinite(sinceMs) ? list.filter((comment) => comment.updatedAt >= sinceMs - 999) : list
    const sort = request.query.get("sort") === "updated" ? "updatedAt" : "createdAt"
    const direction = request.query.get("direction") === "desc" ? -1 : 1
    return [...filtered].sort((a, b) => direction * (a[sort] - b[sort] || a.id - b.id))
  }

  const setLabels = (issue: Issue, sender: Account, names: ReadonlyArray<string>, mode: "add" | "set") =>
    Effect.gen(function*() {
      const before = new Set(issue.labels.map((label) => label.id))
      const wanted = names.map((name) => state.labelFor(issue.repo, name))
      const next = mode === "add" ? [...issue.labels] : []
      for (const label of wanted) if (!next.some((existing) => existing.id === label.id)) next.push(label)
      const removed = issue.labels.filter((label) => !next.some((kept) => kept.id === label.id))
      issue.labels = next
      issue.updatedAt = state.now()
      for (const label of next) if (!before.has(label.id)) yield* issueEvent("labeled", issue, sender, { label })
      for (const label of removed) yield* issueEvent("unlabeled", issue, sender, { label })
    })

  const labelsJson = (issue: Issue) => json(issue.labels.map((label) => payloads.label(issue.repo, label)))

  return [
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/issues",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, participate())
          const body = yield* decodeBody(CreateIssueBody)(request.body)
          const title = String(body.title)
          if (title.trim().length === 0) {
            return yield* validationFailed({ resource: "Issue", code: "missing_field", field: "title" })
          }
          const actor = helpers.actor(request)
          const mayLabel = yield* Effect.isSuccess(authorize(state, request.principal, repo, triage()))
          const labels = mayLabel ? (body.labels ?? []).map((label) => state.labelFor(repo, nameOf(label))) : []
          const issue = state.addIssue({
            repo,
            title,
            body: body.body ?? null,
            author: actor.account,
            viaApp: actor.viaApp,
            labels
          })
          yield* events.issues("opened", issue, actor.account)
          return json(payloads.issue(issue, { closedBy: true }), 201)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/issues",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, readIssues())
          const wantedState = request.query.get("state") ?? "open"
          const labels = (request.query.get("labels") ?? "").split(",").map((name) => name.trim().toLowerCase())
            .filter((name) => name.length > 0)
          const creator = request.query.get("creator")?.toLowerCase()
          const since = Date.parse(request.query.get("since") ?? "")
          const sort = request.query.get("sort") === "updated" ? "updatedAt" : "createdAt"
          const direction = request.query.get("direction") === "asc" ? 1 : -1
          const list = state.issuesOf(repo).filter((issue) =>
            (wantedState === "all" || issue.state === wantedState) &&
            labels.every((name) => issue.labels.some((label) => label.name.toLowerCase() === name)) &&
            (creator === undefined || issue.author.login.toLowerCase() === creator) &&
            (!Number.isFinite(since) || issue.updatedAt >= since)
          ).sort((a, b) => direction * (a[sort] - b[sort] || a.number - b.number))
          return jsonPage(list.map((issue) => payloads.issue(issue)), request, context.baseUrl)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/issues/{issue_number}",
      handler: (request) =>
        Effect.map(issueFor(request, readIssues), (issue) => json(payloads.issue(issue, { closedBy: true })))
    },
    {
      method: "PATCH",
      path: "/repos/{owner}/{repo}/issues/{issue_number}",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, readIssues)
          const body = yield* decodeBody(UpdateIssueBody)(request.body)
          yield* authorOr(request, issue.repo, issue.author, triage(issue))
          const sender = helpers.actor(request).account
          const changes: Record<string, { readonly from: string }> = {}
          if (body.title !== undefined && body.title !== null && String(body.title) !== issue.title) {
            changes["title"] = { from: issue.title }
            issue.title = String(body.title)
          }
          if (body.body !== undefined && (body.body ?? null) !== issue.body) {
            changes["body"] = { from: issue.body ?? "" }
            issue.body = body.body ?? null
          }
          issue.updatedAt = state.now()
          if (Object.keys(changes).length > 0) yield* issueEvent("edited", issue, sender, { changes })
          if (body.labels !== undefined) {
            yield* authorize(state, request.principal, issue.repo, triage(issue))
            yield* setLabels(issue, sender, body.labels.map(nameOf), "set")
          }
          if (body.state === "closed" && issue.state === "open") {
            issue.state = "closed"
            issue.stateReason = body.state_reason === "not_planned" ? "not_planned" : "completed"
            issue.closedAt = state.now()
            issue.closedBy = sender
            if (issue.pull) issue.pull.headSha = (yield* helpers.pullGit(issue)).headSha
            yield* issueEvent("closed", issue, sender)
          } else if (body.state === "open" && issue.state === "closed") {
            issue.state = "open"
            issue.stateReason = "reopened"
            issue.closedAt = null
            issue.closedBy = null
            yield* issueEvent("reopened", issue, sender)
          }
          return json(payloads.issue(issue, { closedBy: true }))
        })
    },
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/comments",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, participate)
          const body = yield* decodeBody(CommentBody)(request.body)
          if (body.body.length === 0) {
            return yield* validationFailed({ resource: "IssueComment", code: "missing_field", field: "body" })
          }
          const actor = helpers.actor(request)
          const comment = state.addComment(issue, actor.account, actor.viaApp, body.body)
          yield* events.issueComment("created", comment, actor.account)
          return json(payloads.issueComment(comment), 201)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/comments",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, readIssues)
          return jsonPage(
            sortedComments(state.commentsOf(issue), request).map(payloads.issueComment),
            request,
            context.baseUrl
          )
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/issues/comments",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, readIssues())
          const list = state.comments().filter((comment) => comment.issue.repo === repo)
          return jsonPage(sortedComments(list, request).map(payloads.issueComment), request, context.baseUrl)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/issues/comments/{comment_id}",
      handler: (request) => Effect.map(commentFor(request), (comment) => json(payloads.issueComment(comment)))
    },
    {
      method: "PATCH",
      path: "/repos/{owner}/{repo}/issues/comments/{comment_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const comment = yield* commentFor(request)
          const body = yield* decodeBody(CommentBody)(request.body)
          yield* authorOr(request, comment.issue.repo, comment.author, {
            role: "write",
            scope: scopeOf(comment.issue),
            level: "write"
          })
          const from = comment.body
          comment.body = body.body
          comment.updatedAt = state.now()
          if (from !== body.body) {
            yield* events.issueComment("edited", comment, helpers.actor(request).account, { body: { from } })
          }
          return json(payloads.issueComment(comment))
        })
    },
    {
      method: "DELETE",
      path: "/repos/{owner}/{repo}/issues/comments/{comment_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const comment = yield* commentFor(request)
          yield* authorOr(request, comment.issue.repo, comment.author, {
            role: "write",
            scope: scopeOf(comment.issue),
            level: "write"
          })
          // The payload still describes the comment, as GitHub's `deleted` event does.
          yield* events.issueComment("deleted", comment, helpers.actor(request).account)
          state.deleteComment(comment.id)
          return noContent
        })
    },
    ...reactionRoutes(
      context,
      "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
      (request) =>
        Effect.map(commentFor(request), (comment) => ({
          repo: comment.issue.repo,
          issue: comment.issue,
          subject: { _tag: "IssueComment", id: comment.id }
        }))
    ),
    ...reactionRoutes(
      context,
      "/repos/{owner}/{repo}/issues/{issue_number}/reactions",
      (request) =>
        Effect.map(issueFor(request, readIssues), (issue) => ({
          repo: issue.repo,
          issue,
          subject: { _tag: "Issue", id: issue.id }
        }))
    ),
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/labels",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, readIssues)
          return jsonPage(issue.labels.map((label) => payloads.label(issue.repo, label)), request, context.baseUrl)
        })
    },
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/labels",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, triage)
          const body = yield* decodeBody(LabelsBody)(request.body)
          yield* setLabels(issue, helpers.actor(request).account, namesOf(body), "add")
          return labelsJson(issue)
        })
    },
    {
      method: "PUT",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/labels",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, triage)
          const body = yield* decodeBody(LabelsBody)(request.body)
          yield* setLabels(issue, helpers.actor(request).account, namesOf(body), "set")
          return labelsJson(issue)
        })
    },
    {
      method: "DELETE",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/labels",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, triage)
          yield* setLabels(issue, helpers.actor(request).account, [], "set")
          return noContent
        })
    },
    {
      method: "DELETE",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}",
      handler: (request) =>
        Effect.gen(function*() {
          const issue = yield* issueFor(request, triage)
          const name = request.params["name"]!.toLowerCase()
          const label = issue.labels.find((candidate) => candidate.name.toLowerCase() === name)
          if (!label) {
            return yield* new ApiError({
              status: 404,
              message: "Label does not exist",
              documentationUrl: "https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue"
            })
          }
          issue.labels = issue.labels.filter((candidate) => candidate !== label)
          issue.updatedAt = state.now()
          yield* issueEvent("unlabeled", issue, helpers.actor(request).account, { label })
          return labelsJson(issue)
        })
    }
  ]
}
