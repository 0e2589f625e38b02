// Real git against the emulator's smart HTTP (git http-backend): clone and push with tokens, partial
// clone, access rules — and pull requests over the pushed branches, read back through the REST API.
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { writeFile } from "node:fs/promises"
import * as path from "node:path"
import {
  call,
  cloneUrl,
  Emu,
  EmuLayer,
  git,
  gitOk,
  installationToken,
  octokit,
  statusOf,
  tempDir
} from "./githubSupport.ts"

/** Clones `fullName` into `dir/name`, commits `files` on a new `branch`, pushes it; returns the commit. */
const pushBranch = (
  url: string,
  dir: string,
  branch: string,
  files: Readonly<Record<string, string>>,
  message = `Change on ${branch}`
) =>
  Effect.gen(function*() {
    const work = path.join(dir, `work-${branch.replace(/\W/g, "-")}`)
    yield* gitOk(dir, "clone", "--quiet", url, work)
    yield* gitOk(work, "checkout", "--quiet", "-b", branch)
    for (const [file, content] of Object.entries(files)) {
      yield* Effect.promise(() => writeFile(path.join(work, file), content))
    }
    yield* gitOk(work, "add", "--all")
    yield* gitOk(work, "commit", "--quiet", "-m", message)
    yield* gitOk(work, "push", "--quiet", "origin", branch)
    return (yield* gitOk(work, "rev-parse", "HEAD")).trim()
  })

layer(EmuLayer(), { excludeTestServices: true })("GitHub emulator git smart HTTP", (it) => {
  it.effect("clones with a token, pushes a branch, and the REST API sees it at once", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "pushme", auto_init: true }))
      const url = cloneUrl(emu, `${emu.admin.login}/pushme`, emu.admin.token, emu.admin.login)
      const sha = yield* pushBranch(url, dir, "feature/one", { "hello.txt": "hello\n" })

      const branch = yield* call(() =>
        admin.rest.repos.getBranch({ owner: emu.admin.login, repo: "pushme", branch: "feature/one" })
      )
      assert.strictEqual(branch.data.commit.sha, sha)
      assert.strictEqual(branch.data.commit.commit.message, "Change on feature/one")
      const commit = yield* call(() => admin.rest.repos.getCommit({ owner: emu.admin.login, repo: "pushme", ref: sha }))
      assert.deepStrictEqual(commit.data.files?.map((file) => [file.filename, file.status, file.additions]), [[
        "hello.txt",
        "added",
        1
      ]])
      assert.strictEqual(commit.data.parents.length, 1)
      const branches = yield* call(() => admin.rest.repos.listBranches({ owner: emu.admin.login, repo: "pushme" }))
      assert.deepStrictEqual(branches.data.map((entry) => entry.name).sort(), ["feature/one", "main"])
      const repo = yield* call(() => admin.rest.repos.get({ owner: emu.admin.login, repo: "pushme" }))
      assert.isString(repo.data.pushed_at)
      // Like GitHub, the clone URL works without `.git` too.
      const bare = cloneUrl(emu, `${emu.admin.login}/pushme`, emu.admin.token).replace(/\.git$/, "")
      yield* gitOk(dir, "clone", "--quiet", "--branch", "feature/one", bare, "no-suffix")
      assert.strictEqual((yield* gitOk(path.join(dir, "no-suffix"), "rev-parse", "HEAD")).trim(), sha)
    })))

  it.effect("bad tokens get 401 with WWW-Authenticate, so git fails cleanly without prompting", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const admin = octokit(emu, emu.admin.token)
      yield* call(() =>
        admin.rest.repos.createForAuthenticatedUser({ name: "guarded", private: true, auto_init: true })
      )
      const refs = yield* call(() =>
        fetch(`${emu.url}/${emu.admin.login}/guarded.git/info/refs?service=git-upload-pack`, {
          headers: { authorization: `Basic ${Buffer.from("x-access-token:ghp_wrong").toString("base64")}` }
        })
      )
      assert.strictEqual(refs.status, 401)
      assert.match(refs.headers.get("www-authenticate") ?? "", /^Basic/)
      const anonymous = yield* call(() =>
        fetch(`${emu.url}/${emu.admin.login}/guarded.git/info/refs?service=git-upload-pack`)
      )
      assert.strictEqual(anonymous.status, 401)

      const clone = yield* git(dir, "clone", cloneUrl(emu, `${emu.admin.login}/guarded`, "ghp_wrong"), "x")
      assert.notStrictEqual(clone.code, 0)
      assert.match(clone.stderr, /Authentication failed|could not read Username|401/)
      const good = yield* git(
        dir,
        "clone",
        "--quiet",
        cloneUrl(emu, `${emu.admin.login}/guarded`, emu.admin.token),
        "y"
      )
      assert.strictEqual(good.code, 0, good.stderr)
    })))

  it.effect("read access clones but cannot push (403); strangers do not see private repositories (404)", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const admin = octokit(emu, emu.admin.token)
      yield* call(() =>
        admin.rest.repos.createForAuthenticatedUser({ name: "readonly", private: true, auto_init: true })
      )
      const reader = yield* call(() => emu.createUser("reader"))
      const stranger = yield* call(() => emu.createUser("stranger"))
      yield* call(() =>
        admin.rest.repos.addCollaborator({
          owner: emu.admin.login,
          repo: "readonly",
          username: "reader",
          permission: "pull"
        })
      )
      const full = `${emu.admin.login}/readonly`
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, full, reader.token), "r")
      yield* Effect.promise(() => writeFile(path.join(dir, "r", "x.txt"), "x"))
      yield* gitOk(path.join(dir, "r"), "add", "x.txt")
      yield* gitOk(path.join(dir, "r"), "commit", "--quiet", "-m", "x")
      const push = yield* git(path.join(dir, "r"), "push", "origin", "HEAD:refs/heads/sneaky")
      assert.notStrictEqual(push.code, 0)
      assert.match(push.stderr, /403|denied/)

      const hidden = yield* git(dir, "clone", cloneUrl(emu, full, stranger.token), "s")
      assert.notStrictEqual(hidden.code, 0)
      assert.match(hidden.stderr, /not found|404/i)
      const branches = yield* call(() => admin.rest.repos.listBranches({ owner: emu.admin.login, repo: "readonly" }))
      assert.deepStrictEqual(branches.data.map((branch) => branch.name), ["main"])
    })))

  it.effect("an installation token (x-access-token) pushes to its repository only", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const admin = octokit(emu, emu.admin.token)
      yield* call(() =>
        admin.rest.repos.createForAuthenticatedUser({ name: "botrepo", private: true, auto_init: true })
      )
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "elsewhere", auto_init: true }))
      const token = yield* installationToken(emu, emu.admin.login, ["botrepo"])
      yield* pushBranch(cloneUrl(emu, `${emu.admin.login}/botrepo`, token), dir, "porter/task-1", { "a.txt": "a\n" })
      const pushed = yield* call(() =>
        admin.rest.repos.getBranch({ owner: emu.admin.login, repo: "botrepo", branch: "porter/task-1" })
      )
      assert.strictEqual(pushed.data.commit.commit.author?.name, "Test")

      // Public, so it can be cloned, but the token is not scoped to it: no push.
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, `${emu.admin.login}/elsewhere`, token), "e")
      yield* gitOk(path.join(dir, "e"), "commit", "--quiet", "--allow-empty", "-m", "nope")
      const refused = yield* git(path.join(dir, "e"), "push", "origin", "HEAD:refs/heads/nope")
      assert.notStrictEqual(refused.code, 0)
      assert.match(refused.stderr, /403|denied/)
    })))

  it.effect("partial clone (--filter=blob:none) fetches blobs lazily", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "partial", auto_init: true }))
      const url = cloneUrl(emu, `${emu.admin.login}/partial`, emu.admin.token)
      yield* pushBranch(url, dir, "big", { "data.txt": "x".repeat(10_000) })
      yield* gitOk(dir, "clone", "--quiet", "--filter=blob:none", "--no-checkout", url, "p")
      const work = path.join(dir, "p")
      assert.strictEqual((yield* gitOk(work, "config", "remote.origin.partialclonefilter")).trim(), "blob:none")
      const missing = yield* gitOk(work, "rev-list", "--objects", "--missing=print", "origin/big")
      assert.isTrue(missing.split("\n").some((line) => line.startsWith("?")), "blobs are missing before checkout")
      yield* gitOk(work, "checkout", "--quiet", "big")
      assert.strictEqual((yield* gitOk(work, "show", "HEAD:data.txt")).length, 10_000)
    })))

  it.effect("the first branch pushed to an empty repository becomes its default", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "empty" }))
      const work = path.join(dir, "fresh")
      yield* gitOk(dir, "init", "--quiet", "--initial-branch=trunk", work)
      yield* gitOk(work, "commit", "--quiet", "--allow-empty", "-m", "first")
      yield* gitOk(work, "push", "--quiet", cloneUrl(emu, `${emu.admin.login}/empty`, emu.admin.token), "trunk")
      const repo = yield* call(() => admin.rest.repos.get({ owner: emu.admin.login, repo: "empty" }))
      assert.strictEqual(repo.data.default_branch, "trunk")
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, `${emu.admin.login}/empty`, emu.admin.token), "again")
      assert.strictEqual((yield* gitOk(path.join(dir, "again"), "branch", "--show-current")).trim(), "trunk")
    })))

  it.effect("pull requests: open from a pushed branch, find by head, read the diff, comment on a line, close", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "prs", auto_init: true }))
      const url = cloneUrl(emu, `${owner}/prs`, emu.admin.token)
      const head = yield* pushBranch(url, dir, "porter/fix-1", { "fix.txt": "one\ntwo\nthree\n" }, "Fix the thing")
      const token = yield* installationToken(emu, owner, ["prs"])
      const bot = octokit(emu, token)

      const created = yield* call(() =>
        bot.rest.pulls.create({
          owner,
          repo: "prs",
          head: "porter/fix-1",
          base: "main",
          title: "Fix",
          body: "Closes #1"
        })
      )
      assert.strictEqual(created.status, 201)
      assert.strictEqual(created.data.user.login, emu.app.botLogin)
      const ends = [created.data.head.ref, created.data.head.sha, created.data.base.ref]
      assert.deepStrictEqual(ends, ["porter/fix-1", head, "main"])
      assert.deepStrictEqual([created.data.commits, created.data.additions, created.data.changed_files], [1, 3, 1])
      assert.strictEqual(created.data.html_url, `${emu.url}/${owner}/prs/pull/${created.data.number}`)

      const byHead = yield* call(() => admin.rest.pulls.list({ owner, repo: "prs", head: `${owner}:porter/fix-1` }))
      assert.deepStrictEqual(byHead.data.map((pr) => pr.number), [created.data.number])
      const otherHead = yield* call(() => admin.rest.pulls.list({ owner, repo: "prs", head: `${owner}:nope` }))
      assert.deepStrictEqual(otherHead.data, [])
      const byBase = yield* call(() => admin.rest.pulls.list({ owner, repo: "prs", base: "main", state: "all" }))
      assert.strictEqual(byBase.data.length, 1)
      const duplicate = yield* statusOf(() =>
        bot.rest.pulls.create({ owner, repo: "prs", head: "porter/fix-1", base: "main", title: "Again" })
      )
      assert.strictEqual(duplicate.status, 422)
      const noCommits = yield* statusOf(() =>
        bot.rest.pulls.create({ owner, repo: "prs", head: "main", base: "main", title: "Nothing" })
      )
      assert.strictEqual(noCommits.status, 422)
      const noBranch = yield* statusOf(() =>
        bot.rest.pulls.create({ owner, repo: "prs", head: "missing", base: "main", title: "Nothing" })
      )
      assert.strictEqual(noBranch.status, 422)

      const diff = yield* call(() =>
        admin.rest.pulls.get({ owner, repo: "prs", pull_number: created.data.number, mediaType: { format: "diff" } })
      )
      const diffText = diff.data as unknown as string
      assert.match(diffText, /^diff --git a\/fix.txt b\/fix.txt/)
      assert.match(diffText, /\+two\n/)
      const webDiff = yield* call(() => fetch(`${created.data.diff_url}`).then((response) => response.text()))
      assert.strictEqual(webDiff, diffText)
      const patch = yield* call(() =>
        admin.rest.pulls.get({ owner, repo: "prs", pull_number: created.data.number, mediaType: { format: "patch" } })
      )
      assert.match(patch.data as unknown as string, /Subject: \[PATCH\] Fix the thing/)

      const files = yield* call(() =>
        admin.rest.pulls.listFiles({ owner, repo: "prs", pull_number: created.data.number })
      )
      assert.deepStrictEqual(files.data.map((file) => [file.filename, file.status, file.additions]), [[
        "fix.txt",
        "added",
        3
      ]])
      assert.strictEqual(files.data[0]!.patch, "@@ -0,0 +1,3 @@\n+one\n+two\n+three")

      // As an issue, the pull request carries `pull_request`.
      const asIssue = yield* call(() =>
        admin.rest.issues.get({ owner, repo: "prs", issue_number: created.data.number })
      )
      assert.strictEqual(asIssue.data.pull_request?.url, created.data.url)

      const review = yield* call(() =>
        admin.rest.pulls.createReviewComment({
          owner,
          repo: "prs",
          pull_number: created.data.number,
          body: "@porter claude handle two",
          commit_id: head,
          path: "fix.txt",
          line: 2,
          side: "RIGHT"
        })
      )
      assert.strictEqual(review.status, 201)
      assert.strictEqual(review.data.diff_hunk, "@@ -0,0 +1,3 @@\n+one\n+two")
      const reply = yield* call(() =>
        bot.rest.pulls.createReplyForReviewComment({
          owner,
          repo: "prs",
          pull_number: created.data.number,
          comment_id: review.data.id,
          body: "On it"
        })
      )
      assert.strictEqual(reply.data.in_reply_to_id, review.data.id)
      const outside = yield* statusOf(() =>
        admin.rest.pulls.createReviewComment({
          owner,
          repo: "prs",
          pull_number: created.data.number,
          body: "not in the diff",
          commit_id: head,
          path: "README.md",
          line: 1
        })
      )
      assert.strictEqual(outside.status, 422)
      const comments = yield* call(() =>
        admin.rest.pulls.listReviewComments({ owner, repo: "prs", pull_number: created.data.number })
      )
      assert.deepStrictEqual(comments.data.map((comment) => comment.body), ["@porter claude handle two", "On it"])
      const one = yield* call(() =>
        admin.rest.pulls.getReviewComment({ owner, repo: "prs", comment_id: review.data.id })
      )
      assert.strictEqual(one.data.path, "fix.txt")
      const eyes = yield* call(() =>
        bot.rest.reactions.createForPullRequestReviewComment({
          owner,
          repo: "prs",
          comment_id: review.data.id,
          content: "eyes"
        })
      )
      assert.strictEqual(eyes.status, 201)
      const reactions = yield* call(() =>
        admin.rest.reactions.listForPullRequestReviewComment({ owner, repo: "prs", comment_id: review.data.id })
      )
      assert.deepStrictEqual(reactions.data.map((reaction) => reaction.user?.login), [emu.app.botLogin])

      // A later push to the branch moves the pull request's head.
      const work = path.join(dir, "work-porter-fix-1")
      yield* Effect.promise(() => writeFile(path.join(work, "more.txt"), "more\n"))
      yield* gitOk(work, "add", "more.txt")
      yield* gitOk(work, "commit", "--quiet", "-m", "More")
      yield* gitOk(work, "push", "--quiet", "origin", "porter/fix-1")
      const moved = yield* call(() => admin.rest.pulls.get({ owner, repo: "prs", pull_number: created.data.number }))
      assert.strictEqual(moved.data.head.sha, (yield* gitOk(work, "rev-parse", "HEAD")).trim())
      assert.strictEqual(moved.data.commits, 2)

      const closed = yield* call(() =>
        admin.rest.pulls.update({
          owner,
          repo: "prs",
          pull_number: created.data.number,
          state: "closed",
          title: "Fix (done)"
        })
      )
      assert.deepStrictEqual([closed.data.state, closed.data.title, closed.data.merged], [
        "closed",
        "Fix (done)",
        false
      ])
      const open = yield* call(() => admin.rest.pulls.list({ owner, repo: "prs" }))
      assert.deepStrictEqual(open.data, [])
    })))
})
