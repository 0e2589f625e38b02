// Every REST route the emulator serves is an operation of GitHub's published OpenAPI description
// (@octokit/openapi), and a tour calls each one through an Octokit that validates every answer —
// successes and errors — against the operation's response schema. The webhooks the tour causes are
// validated against GitHub's webhook schemas.
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { writeFile } from "node:fs/promises"
import * as path from "node:path"
import {
  appJwt,
  call,
  cloneUrl,
  Emu,
  EmuLayer,
  gitOk,
  octokit,
  openApi,
  statusOf,
  tempDir,
  userAccessToken
} from "./githubSupport.ts"

interface RouteInfo {
  readonly method: string
  readonly path: string
}

/** Emulator-only paths: the test extras, the web-style diff URLs and the OAuth web flow (not part of the REST API). */
const isRest = (route: RouteInfo) =>
  !route.path.startsWith("/_emulator/") && !route.path.startsWith("/{owner}/") && !route.path.startsWith("/login/")

layer(EmuLayer(), { excludeTestServices: true })("GitHub emulator vs GitHub's OpenAPI description", (it) => {
  it.effect("the validator rejects what GitHub would not send", () =>
    Effect.sync(() => {
      const spec = openApi()
      assert.isString(spec.response("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}", 200, { id: 1 }))
      assert.isString(spec.response("GET", "/nope", 200, {}))
      assert.isString(spec.webhook("issue_comment", "created", { action: "created" }))
      assert.isUndefined(
        spec.response("GET", "/repos/{owner}/{repo}", 404, { message: "Not Found", documentation_url: "https://docs" })
      )
    }))

  it.effect(
    "every REST route of the emulator is an operation of GitHub's description, and each answers valid JSON",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const emu = yield* Emu
        const dir = yield* tempDir
        const spec = openApi()
        const routes = (yield* call(() =>
          fetch(`${emu.url}/_emulator/routes`).then((response) =>
            response.json()
          )
        )) as ReadonlyArray<RouteInfo>
        const rest = routes.filter(isRest)
        assert.isAbove(rest.length, 60)
        for (const route of rest) {
          assert.isTrue(
            spec.hasOperation(route.method, route.path),
            `${route.method} ${route.path} is not a GitHub operation`
          )
        }

        // The tour: each route at least once, answers validated by the Octokit hooks.
        const admin = octokit(emu, emu.admin.token)
        const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
        const user = yield* call(() => emu.createUser("tourist"))
        const asUser = octokit(emu, user.token)
        const owner = emu.admin.login
        const repo = "tour"
        const r = { owner, repo }

        yield* call(() => admin.request("GET /user"))
        yield* call(() => admin.request("GET /users/{username}", { username: "tourist" }))
        yield* call(() => admin.request("POST /user/repos", { name: repo, auto_init: true }))
        yield* call(() =>
          admin.request("POST /orgs/{org}/repos", { org: "tour-org", name: "org-repo", auto_init: true })
        )
        yield* call(() => admin.request("GET /user/repos"))
        yield* call(() => asUser.request("GET /repos/{owner}/{repo}", r))
        yield* statusOf(() => asUser.request("GET /repos/{owner}/{repo}", { owner, repo: "missing" }))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/branches", r))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/branches/{branch}", { ...r, branch: "main" }))
        yield* statusOf(() => admin.request("GET /repos/{owner}/{repo}/branches/{branch}", { ...r, branch: "nope" }))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/commits/{ref}", { ...r, ref: "main" }))
        yield* statusOf(() => admin.request("GET /repos/{owner}/{repo}/commits/{ref}", { ...r, ref: "nope" }))

        yield* call(() =>
          admin.request("PUT /repos/{owner}/{repo}/collaborators/{username}", {
            ...r,
            username: "tourist",
            permission: "push"
          })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/collaborators", r))
        yield* call(() =>
          admin.request("GET /repos/{owner}/{repo}/collaborators/{username}", { ...r, username: "tourist" })
        )
        yield* call(() =>
          admin.request("GET /repos/{owner}/{repo}/collaborators/{username}/permission", { ...r, username: "tourist" })
        )

        yield* call(() => app.request("GET /app"))
        yield* call(() => app.request("GET /app/installations"))
        const installation = yield* call(() => app.request("GET /repos/{owner}/{repo}/installation", r))
        yield* call(() => app.request("GET /users/{username}/installation", { username: owner }))
        yield* call(() => app.request("GET /orgs/{org}/installation", { org: "tour-org" }))
        yield* call(() =>
          app.request("GET /app/installations/{installation_id}", { installation_id: installation.data.id })
        )
        const minted = yield* call(() =>
          app.request("POST /app/installations/{installation_id}/access_tokens", {
            installation_id: installation.data.id,
            repositories: [repo]
          })
        )
        yield* statusOf(() =>
          app.request("POST /app/installations/{installation_id}/access_tokens", {
            installation_id: installation.data.id,
            repositories: ["does-not-exist"]
          })
        )
        const bot = octokit(emu, minted.data.token)
        yield* call(() => bot.request("GET /installation/repositories"))

        const issue = yield* call(() =>
          admin.request("POST /repos/{owner}/{repo}/issues", { ...r, title: "Tour", labels: ["bug"] })
        )
        const n = { ...r, issue_number: issue.data.number }
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/issues", r))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/issues/{issue_number}", n))
        yield* call(() => admin.request("PATCH /repos/{owner}/{repo}/issues/{issue_number}", { ...n, body: "edited" }))
        const comment = yield* call(() =>
          asUser.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
            ...n,
            body: "@porter claude go"
          })
        )
        const c = { ...r, comment_id: comment.data.id }
        const status = yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...n, body: "⏳ queued" })
        )
        yield* call(() =>
          bot.request("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", {
            ...r,
            comment_id: status.data.id,
            body: "✅ done"
          })
        )
        yield* call(() =>
          admin.request("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...n, per_page: 1 })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/issues/comments", r))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/issues/comments/{comment_id}", c))
        const eyes = yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", { ...c, content: "eyes" })
        )
        yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", { ...c, content: "eyes" })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", c))
        yield* call(() =>
          bot.request("DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}", {
            ...c,
            reaction_id: eyes.data.id
          })
        )
        const plusOne = yield* call(() =>
          admin.request("POST /repos/{owner}/{repo}/issues/{issue_number}/reactions", { ...n, content: "+1" })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/issues/{issue_number}/reactions", n))
        yield* call(() =>
          admin.request("DELETE /repos/{owner}/{repo}/issues/{issue_number}/reactions/{reaction_id}", {
            ...n,
            reaction_id: plusOne.data.id
          })
        )
        yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/issues/{issue_number}/labels", { ...n, labels: ["porter:running"] })
        )
        yield* call(() =>
          bot.request("PUT /repos/{owner}/{repo}/issues/{issue_number}/labels", { ...n, labels: ["porter:done"] })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/issues/{issue_number}/labels", n))
        yield* call(() =>
          bot.request("DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", { ...n, name: "porter:done" })
        )
        yield* statusOf(() =>
          bot.request("DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", { ...n, name: "porter:done" })
        )
        yield* call(() => admin.request("DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels", n))
        yield* call(() =>
          admin.request("POST /repos/{owner}/{repo}/labels", { ...r, name: "porter:failed", color: "d73a4a" })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/labels", r))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/labels/{name}", { ...r, name: "porter:failed" }))
        yield* statusOf(() => asUser.request("POST /repos/{owner}/{repo}/issues", { ...r, title: "" }))
        yield* call(() => asUser.request("DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}", c))

        // A branch to open a pull request from, pushed with the installation token.
        const work = path.join(dir, "tour")
        yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, `${owner}/${repo}`, minted.data.token), work)
        yield* gitOk(work, "checkout", "--quiet", "-b", "porter/tour")
        yield* Effect.promise(() => writeFile(path.join(work, "tour.md"), "# Tour\n\nstep one\n"))
        yield* gitOk(work, "add", "tour.md")
        yield* gitOk(work, "commit", "--quiet", "-m", "Tour")
        yield* gitOk(work, "push", "--quiet", "origin", "porter/tour")
        const head = (yield* gitOk(work, "rev-parse", "HEAD")).trim()

        const pr = yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/pulls", {
            ...r,
            head: "porter/tour",
            base: "main",
            title: "Tour",
            body: "Fixes #1"
          })
        )
        const p = { ...r, pull_number: pr.data.number }
        yield* statusOf(() =>
          bot.request("POST /repos/{owner}/{repo}/pulls", { ...r, head: "porter/tour", base: "main", title: "Again" })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/pulls", { ...r, head: `${owner}:porter/tour` }))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/pulls/{pull_number}", p))
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/pulls/{pull_number}/files", p))
        yield* call(() =>
          bot.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", { ...p, body: "Fixes #1, really" })
        )
        const review = yield* call(() =>
          admin.request("POST /repos/{owner}/{repo}/pulls/{pull_number}/comments", {
            ...p,
            body: "@porter claude expand",
            commit_id: head,
            path: "tour.md",
            line: 3
          })
        )
        yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies", {
            ...p,
            comment_id: review.data.id,
            body: "On it"
          })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/pulls/{pull_number}/comments", p))
        const rc = { ...r, comment_id: review.data.id }
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/pulls/comments/{comment_id}", rc))
        const reaction = yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions", { ...rc, content: "eyes" })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions", rc))
        yield* call(() =>
          bot.request("DELETE /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions/{reaction_id}", {
            ...rc,
            reaction_id: reaction.data.id
          })
        )
        yield* call(() => admin.request("GET /repos/{owner}/{repo}/pulls/{pull_number}/commits", p))

        // The Git Data API: a commit made through it on a new branch, then moved and deleted.
        const blob = yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/git/blobs", { ...r, content: "# Data\n" })
        )
        yield* call(() =>
          admin.request("GET /repos/{owner}/{repo}/git/blobs/{file_sha}", { ...r, file_sha: blob.data.sha })
        )
        const mainRef = yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/git/ref/{ref}", { ...r, ref: "heads/main" })
        )
        yield* statusOf(() => bot.request("GET /repos/{owner}/{repo}/git/ref/{ref}", { ...r, ref: "heads/nope" }))
        yield* call(() => bot.request("GET /repos/{owner}/{repo}/git/matching-refs/{ref}", { ...r, ref: "heads/" }))
        const baseCommit = yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/git/commits/{commit_sha}", {
            ...r,
            commit_sha: mainRef.data.object.sha
          })
        )
        const tree = yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/git/trees", {
            ...r,
            base_tree: baseCommit.data.tree.sha,
            tree: [
              { path: "docs/data.md", mode: "100644", type: "blob", sha: blob.data.sha },
              { path: "docs/inline.md", mode: "100644", type: "blob", content: "inline\n" }
            ]
          })
        )
        yield* statusOf(() =>
          bot.request("POST /repos/{owner}/{repo}/git/trees", {
            ...r,
            tree: [{ path: "x", mode: "100644", type: "blob", sha: tree.data.sha }]
          })
        )
        yield* call(() =>
          admin.request("GET /repos/{owner}/{repo}/git/trees/{tree_sha}", {
            ...r,
            tree_sha: tree.data.sha,
            recursive: "1"
          })
        )
        const dataCommit = yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/git/commits", {
            ...r,
            message: "Data",
            tree: tree.data.sha,
            parents: [mainRef.data.object.sha]
          })
        )
        yield* call(() =>
          bot.request("POST /repos/{owner}/{repo}/git/refs", {
            ...r,
            ref: "refs/heads/porter/data",
            sha: mainRef.data.object.sha
          })
        )
        yield* statusOf(() =>
          bot.request("POST /repos/{owner}/{repo}/git/refs", {
            ...r,
            ref: "refs/heads/porter/data",
            sha: dataCommit.data.sha
          })
        )
        yield* call(() =>
          bot.request("PATCH /repos/{owner}/{repo}/git/refs/{ref}", {
            ...r,
            ref: "heads/porter/data",
            sha: dataCommit.data.sha
          })
        )
        yield* statusOf(() =>
          bot.request("PATCH /repos/{owner}/{repo}/git/refs/{ref}", {
            ...r,
            ref: "heads/porter/data",
            sha: mainRef.data.object.sha
          })
        )
        yield* call(() =>
          bot.request("DELETE /repos/{owner}/{repo}/git/refs/{ref}", { ...r, ref: "heads/porter/data" })
        )
        yield* statusOf(() =>
          bot.request("DELETE /repos/{owner}/{repo}/git/refs/{ref}", { ...r, ref: "heads/porter/data" })
        )
        yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/contents/{path}", { ...r, path: "tour.md", ref: "porter/tour" })
        )
        yield* call(() => bot.request("GET /repos/{owner}/{repo}/contents/{path}", { ...r, path: "" }))
        yield* statusOf(() => bot.request("GET /repos/{owner}/{repo}/contents/{path}", { ...r, path: "missing.md" }))
        yield* call(() => admin.request("POST /user/repos", { name: "tour-empty" }))
        yield* statusOf(() =>
          admin.request("POST /repos/{owner}/{repo}/git/blobs", { owner, repo: "tour-empty", content: "x" })
        )

        // Checks and Actions: a failed suite on the pull request's branch, read as Porter reads it.
        const ci = yield* call(() =>
          emu.completeCheckSuite(owner, repo, {
            branch: "porter/tour",
            runs: [{ name: "test", conclusion: "failure", log: "FAIL tour\n" }]
          })
        )
        const s = { ...r, check_suite_id: ci.checkSuiteId }
        const job = { ...r, job_id: ci.checkRunIds[0]! }
        yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", { ...r, ref: "porter/tour" })
        )
        yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/commits/{ref}/check-suites", { ...r, ref: ci.headSha })
        )
        yield* call(() => bot.request("GET /repos/{owner}/{repo}/check-suites/{check_suite_id}", s))
        yield* statusOf(() =>
          bot.request("GET /repos/{owner}/{repo}/check-suites/{check_suite_id}", { ...s, check_suite_id: 1 })
        )
        yield* call(() => bot.request("GET /repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs", s))
        yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/check-runs/{check_run_id}", { ...r, check_run_id: job.job_id })
        )
        yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}", { ...r, run_id: ci.workflowRunId! })
        )
        yield* call(() =>
          bot.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs", { ...r, run_id: ci.workflowRunId! })
        )
        yield* call(() => bot.request("GET /repos/{owner}/{repo}/actions/jobs/{job_id}", job))
        yield* call(() => bot.request("GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs", job))

        yield* call(() => admin.request("PATCH /repos/{owner}/{repo}/issues/{issue_number}", { ...n, state: "closed" }))
        yield* call(() => admin.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", { ...p, state: "closed" }))

        const deliveries = yield* call(() => emu.deliveries())
        yield* call(() => app.request("GET /app/hook/deliveries"))
        const listed = yield* call(() => app.request("GET /app/hook/deliveries", { per_page: 1 }))
        const deliveryId = Number(listed.data[0]!.id)
        yield* call(() => app.request("GET /app/hook/deliveries/{delivery_id}", { delivery_id: deliveryId }))
        yield* call(() => app.request("POST /app/hook/deliveries/{delivery_id}/attempts", { delivery_id: deliveryId }))

        yield* call(() =>
          admin.request("DELETE /repos/{owner}/{repo}/collaborators/{username}", { ...r, username: "tourist" })
        )
        yield* call(() => bot.request("DELETE /installation/token"))

        // A user-to-server token from the OAuth web flow: the App's installations the user can reach.
        const asTourist = octokit(emu, yield* call(() => userAccessToken(emu, "tourist")))
        const installations = yield* call(() => asTourist.request("GET /user/installations"))
        yield* call(() =>
          asTourist.request("GET /user/installations/{installation_id}/repositories", {
            installation_id: installations.data.installations[0]!.id
          })
        )
        yield* statusOf(() => asUser.request("GET /user/installations"))

        // Gists (Porter's artifact mirror): a user's secret gist, listed, read, a file replaced and one removed, deleted.
        const gist = yield* call(() =>
          asUser.request("POST /gists", {
            description: "Porter task",
            public: false,
            files: { "transcript.md": { content: "# Transcript\n" }, "porter.json": { content: "{}" } }
          })
        )
        yield* call(() => asUser.request("GET /gists", { per_page: 10 }))
        yield* call(() => asUser.request("GET /gists/{gist_id}", { gist_id: gist.data.id! }))
        yield* call(() =>
          asUser.request("PATCH /gists/{gist_id}", {
            gist_id: gist.data.id!,
            files: { "transcript.md": { content: "# Transcript, again\n" }, "porter.json": null as never }
          })
        )
        yield* call(() => asUser.request("DELETE /gists/{gist_id}", { gist_id: gist.data.id! }))

        const missing = rest.map((route) => `${route.method} ${route.path}`).filter((key) => !spec.called.has(key))
        assert.deepStrictEqual(missing, [], "routes the tour did not call")
        assert.isAbove(spec.validated.size, 50)

        // The webhooks the tour caused match GitHub's webhook schemas.
        assert.isAbove(deliveries.length, 10)
        for (const delivery of deliveries) {
          const problem = spec.webhook(delivery.event, delivery.action, delivery.payload)
          assert.isUndefined(problem, `${delivery.event}.${delivery.action}`)
        }
        assert.includeMembers(deliveries.map((delivery) => `${delivery.event}.${delivery.action}`), [
          "issues.opened",
          "issues.edited",
          "issues.labeled",
          "issues.unlabeled",
          "issues.closed",
          "issue_comment.created",
          "issue_comment.edited",
          "issue_comment.deleted",
          "pull_request.opened",
          "pull_request.edited",
          "pull_request.closed",
          "pull_request_review_comment.created"
        ])
      })),
    120_000
  ) // some 90 calls, git included: well past the default 30 s on a loaded machine
})
