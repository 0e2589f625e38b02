/**
 * Pull requests between branches of one repository (forks are not emulated): create, get (JSON, or
 * the diff / patch for `Accept: application/vnd.github.diff` / `.patch`), list (by `state`,
 * `head=owner:branch`, `base`), update, changed files; review comments on diff lines, with
 * `pull_request_review_comment.created` (`ReviewComments.ts`). Head and base commits are read from git at each request,
 * so a push shows at once. The web-style `…/pull/{n}.diff` and `.patch` URLs are served too.
 */
import { Effect, Schema } from "effect"
import { authorize } from "../Auth.ts"
import type { Need } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import * as Git from "../Git.ts"
import { decodeBody, json, jsonPage, text, validationFailed } from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"
import type { Issue, Repo } from "../State.ts"
import { reviewCommentRoutes } from "./ReviewComments.ts"

const CreatePullBody = Schema.Struct({
  title: Schema.optional(Schema.String),
  head: Schema.String,
  base: Schema.String,
  body: Schema.optional(Schema.NullOr(Schema.String)),
  draft: Schema.optional(Schema.Boolean),
  maintainer_can_modify: Schema.optional(Schema.Boolean)
})

const UpdatePullBody = Schema.Struct({
  title: Schema.optional(Schema.String),
  body: Schema.optional(Schema.NullOr(Schema.String)),
  state: Schema.optional(Schema.Literals(["open", "closed"])),
  base: Schema.optional(Schema.String),
  maintainer_can_modify: Schema.optional(Schema.Boolean)
})

const READ: Need = { role: "read", scope: "pull_requests", level: "read" }
const PARTICIPATE: Need = { role: "read", scope: "pull_requests", level: "write" }
const WRITE: Need = { role: "write", scope: "pull_requests", level: "write" }

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { events, payloads, state } = context
  const helpers = makeHelpers(context)

  const pullFor = (request: ApiRequest, need: Need = READ) =>
    Effect.gen(function*() {
      const repo = yield* helpers.repoFor(request, READ)
      const pr = yield* helpers.pullIn(repo, request.params["pull_number"])
      yield* authorize(state, request.principal, repo, need)
      return pr
    })

  /** Refreshes the shas of a repository's open pull requests with one read of its branches. */
  const refresh = (repo: Repo, list: ReadonlyArray<Issue>) =>
    Effect.gen(function*() {
      const branches = new Map((yield* Git.branches(repo.gitDir)).map((branch) => [branch.name, branch.sha]))
      for (const pr of list) {
        if (pr.state !== "open") continue
        pr.pull!.headSha = branches.get(pr.pull!.headRef) ?? pr.pull!.headSha
        pr.pull!.baseSha = branches.get(pr.pull!.baseRef) ?? pr.pull!.baseSha
      }
    })

  const diffOf = (pr: Issue, format: "diff" | "patch") =>
    Effect.gen(function*() {
      const git = yield* helpers.pullGit(pr)
      const body = format === "diff"
        ? yield* Git.diff(pr.repo.gitDir, git.baseSha, git.headSha)
        : yield* Git.patch(pr.repo.gitDir, git.baseSha, git.headSha)
      return text(body, format === "diff" ? "text/x-diff; charset=utf-8" : "text/x-patch; charset=utf-8")
    })

  return [
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/pulls",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, PARTICIPATE)
          const body = yield* decodeBody(CreatePullBody)(request.body)
          const [headOwner, headRef] = body.head.includes(":")
            ? [body.head.slice(0, body.head.indexOf(":")), body.head.slice(body.head.indexOf(":") + 1)]
            : [repo.owner.login, body.head]
          if (headOwner.toLowerCase() !== repo.owner.login.toLowerCase()) {
            return yield* validationFailed({ resource: "PullRequest", field: "head", code: "invalid" })
          }
          const headSha = yield* Git.resolve(repo.gitDir, `refs/heads/${headRef}`)
          if (!headSha) return yield* validationFailed({ resource: "PullRequest", field: "head", code: "invalid" })
          const baseSha = yield* Git.resolve(repo.gitDir, `refs/heads/${body.base}`)
          if (!baseSha) return yield* validationFailed({ resource: "PullRequest", field: "base", code: "invalid" })
          const existing = state.issuesOf(repo).find((issue) =>
            issue.pull && issue.state === "open" && issue.pull.headRef === headRef && issue.pull.baseRef === body.base
          )
          if (existing) {
            return yield* validationFailed({
              resource: "PullRequest",
              code: "custom",
              message: `A pull request already exists for ${repo.owner.login}:${headRef}.`
            })
          }
          const mergeBase = yield* Git.mergeBase(repo.gitDir, baseSha, headSha)
          const ahead = mergeBase ? yield* Git.countCommits(repo.gitDir, `${mergeBase}..${headSha}`) : 1
          if (ahead === 0) {
            return yield* validationFailed({
              resource: "PullRequest",
              code: "custom",
              message: `No commits between ${body.base} and ${headRef}`
            })
          }
          if (body.title === undefined || body.title.trim().length === 0) {
            return yield* validationFailed({ resource: "PullRequest", field: "title", code: "missing_field" })
          }
          const actor = helpers.actor(request)
          const pr = state.addIssue({
            repo,
            title: body.title,
            body: body.body ?? null,
            author: actor.account,
            viaApp: actor.viaApp,
            labels: [],
            pull: {
              headRef,
              headRepo: repo,
              baseRef: body.base,
              draft: body.draft ?? false,
              merged: false,
              mergedAt: null,
              maintainerCanModify: body.maintainer_can_modify ?? true,
              headSha,
              baseSha
            }
          })
          const full = yield* helpers.pullJson(pr)
          yield* events.pullRequest("opened", pr, full, actor.account)
          return json(full, 201)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/pulls",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, READ)
          const wanted = request.query.get("state") ?? "open"
          const head = request.query.get("head")
          const base = request.query.get("base")
          const [headOwner, headRef] = head === null
            ? [undefined, undefined]
            : head.includes(":")
            ? [head.slice(0, head.indexOf(":")).toLowerCase(), head.slice(head.indexOf(":") + 1)]
            : [head.toLowerCase(), undefined]
          const sort = request.query.get("sort") === "updated" ? "updatedAt" : "createdAt"
          const direction = request.query.get("direction") === "asc" ? 1 : -1
          const list = state.issuesOf(repo).filter((issue) =>
            issue.pull !== undefined &&
            (wanted === "all" || issue.state === wanted) &&
            (headOwner === undefined || issue.pull.headRepo.owner.login.toLowerCase() === headOwner) &&
            (headRef === undefined || issue.pull.headRef === headRef) &&
            (base === null || issue.pull.baseRef === base)
          ).sort((a, b) => direction * (a[sort] - b[sort] || a.number - b.number))
          yield* refresh(repo, list)
          return jsonPage(list.map(payloads.pullSimple), request, context.baseUrl)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/pulls/{pull_number}",
      handler: (request) =>
        Effect.gen(function*() {
          const pr = yield* pullFor(request)
          const accept = String(request.headers["accept"] ?? "")
          if (/application\/vnd\.github(\.v3)?\.diff/.test(accept)) return yield* diffOf(pr, "diff")
          if (/application\/vnd\.github(\.v3)?\.patch/.test(accept)) return yield* diffOf(pr, "patch")
          return json(yield* helpers.pullJson(pr))
        })
    },
    {
      method: "PATCH",
      path: "/repos/{owner}/{repo}/pulls/{pull_number}",
      handler: (request) =>
        Effect.gen(function*() {
          const pr = yield* pullFor(request, PARTICIPATE)
          const body = yield* decodeBody(UpdatePullBody)(request.body)
          const sender = helpers.actor(request).account
          if (!(request.principal._tag === "User" && request.principal.account.id === pr.author.id)) {
            yield* authorize(state, request.principal, pr.repo, WRITE)
          }
          const changes: Record<string, { readonly from: string }> = {}
          if (body.title !== undefined && body.title !== pr.title) {
            changes["title"] = { from: pr.title }
            pr.title = body.title
          }
          if (body.body !== undefined && (body.body ?? null) !== pr.body) {
            changes["body"] = { from: pr.body ?? "" }
            pr.body = body.body ?? null
          }
          if (body.base !== undefined && body.base !== pr.pull!.baseRef) {
            if (!(yield* Git.resolve(pr.repo.gitDir, `refs/heads/${body.base}`))) {
              return yield* validationFailed({ resource: "PullRequest", field: "base", code: "invalid" })
            }
            changes["base"] = { from: pr.pull!.baseRef }
            pr.pull!.baseRef = body.base
          }
          if (body.maintainer_can_modify !== undefined) pr.pull!.maintainerCanModify = body.maintainer_can_modify
          pr.updatedAt = state.now()
          if (Object.keys(changes).length > 0) {
            const { base: baseChange, ...rest } = changes
            const webhookChanges = baseChange ? { ...rest, base: { ref: baseChange } } : rest
            yield* events.pullRequest("edited", pr, yield* helpers.pullJson(pr), sender, {
              changes: webhookChanges as Record<string, { readonly from: string }>
            })
          }
          if (body.state === "closed" && pr.state === "open") {
            yield* helpers.pullGit(pr)
            pr.state = "closed"
            pr.closedAt = state.now()
            pr.closedBy = sender
            yield* events.pullRequest("closed", pr, yield* helpers.pullJson(pr), sender)
          } else if (body.state === "open" && pr.state === "closed") {
            pr.state = "open"
            pr.closedAt = null
            pr.closedBy = null
            yield* events.pullRequest("reopened", pr, yield* helpers.pullJson(pr), sender)
          }
          return json(yield* helpers.pullJson(pr))
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/pulls/{pull_number}/files",
      handler: (request) =>
        Effect.gen(function*() {
          const pr = yield* pullFor(request)
          const git = yield* helpers.pullGit(pr)
          const mergeBase = (yield* Git.mergeBase(pr.repo.gitDir, git.baseSha, git.headSha)) ?? git.baseSha
          const files = yield* Git.changes(pr.repo.gitDir, mergeBase, git.headSha)
          const entries = []
          for (const file of files) {
            const fileDiff = yield* Git.fileDiff(pr.repo.gitDir, git.baseSha, git.headSha, file.filename)
            const hunks = fileDiff.indexOf("\n@@")
            const patch = hunks < 0 ? undefined : fileDiff.slice(hunks + 1)
            entries.push(payloads.diffEntry(pr.repo, git.headSha, file, patch))
          }
          return jsonPage(entries, request, context.baseUrl)
        })
    },
    ...reviewCommentRoutes(context, pullFor),
    {
      method: "GET",
      path: "/{owner}/{repo}/pull/{pull_number}.diff",
      handler: (request) => Effect.flatMap(pullFor(request), (pr) => diffOf(pr, "diff"))
    },
    {
      method: "GET",
      path: "/{owner}/{repo}/pull/{pull_number}.patch",
      handler: (request) => Effect.flatMap(pullFor(request), (pr) => diffOf(pr, "patch"))
    }
  ]
}
