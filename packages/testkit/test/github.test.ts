// The GitHub emulator's REST API through Octokit: repositories, issues, comments, reactions, labels,
// collaborators and GitHub's errors. Every answer is also checked against GitHub's OpenAPI description.
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { call, Emu, EmuLayer, octokit, statusOf } from "./githubSupport.ts"

layer(EmuLayer(), { excludeTestServices: true })("GitHub emulator REST", (it) => {
  it.effect("creates repositories for a user (auto_init) and an organization, read back with branches and commits", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const created = yield* call(() =>
        admin.rest.repos.createForAuthenticatedUser({ name: "hello", auto_init: true, description: "a test repo" })
      )
      assert.strictEqual(created.status, 201)
      assert.strictEqual(created.data.full_name, `${emu.admin.login}/hello`)
      assert.strictEqual(created.data.default_branch, "main")
      assert.strictEqual(created.data.clone_url, `${emu.url}/${emu.admin.login}/hello.git`)

      const read = yield* call(() => admin.rest.repos.get({ owner: emu.admin.login, repo: "hello" }))
      assert.deepStrictEqual(read.data.permissions, {
        admin: true,
        maintain: true,
        push: true,
        triage: true,
        pull: true
      })

      const branch = yield* call(() =>
        admin.rest.repos.getBranch({ owner: emu.admin.login, repo: "hello", branch: "main" })
      )
      assert.strictEqual(branch.data.commit.commit.message, "Initial commit")
      const commit = yield* call(() =>
        admin.rest.repos.getCommit({ owner: emu.admin.login, repo: "hello", ref: "main" })
      )
      assert.strictEqual(commit.data.sha, branch.data.commit.sha)
      assert.deepStrictEqual(commit.data.files?.map((file) => [file.filename, file.status]), [["README.md", "added"]])
      const branches = yield* call(() => admin.rest.repos.listBranches({ owner: emu.admin.login, repo: "hello" }))
      assert.deepStrictEqual(branches.data.map((entry) => entry.name), ["main"])

      const orgRepo = yield* call(() => admin.rest.repos.createInOrg({ org: "acme", name: "widgets", private: true }))
      assert.strictEqual(orgRepo.data.owner.type, "Organization")
      assert.strictEqual(orgRepo.data.private, true)
      const empty = yield* statusOf(() => admin.rest.repos.getCommit({ owner: "acme", repo: "widgets", ref: "main" }))
      assert.strictEqual(empty.status, 409)

      const duplicate = yield* statusOf(() => admin.rest.repos.createForAuthenticatedUser({ name: "hello" }))
      assert.strictEqual(duplicate.status, 422)
    }))

  it.effect("issues: create, get, list by state, update and close (closed_by, state_reason)", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "issues", auto_init: true }))
      const first = yield* call(() => admin.rest.issues.create({ owner, repo: "issues", title: "First", body: "one" }))
      const second = yield* call(() => admin.rest.issues.create({ owner, repo: "issues", title: "Second" }))
      assert.deepStrictEqual([first.data.number, second.data.number], [1, 2])
      assert.strictEqual(first.data.state, "open")
      assert.strictEqual(first.data.user?.login, owner)

      const updated = yield* call(() =>
        admin.rest.issues.update({ owner, repo: "issues", issue_number: 1, title: "First (edited)", state: "closed" })
      )
      assert.strictEqual(updated.data.title, "First (edited)")
      assert.strictEqual(updated.data.state, "closed")
      assert.strictEqual(updated.data.state_reason, "completed")
      assert.strictEqual(updated.data.closed_by?.login, owner)
      assert.isString(updated.data.closed_at)

      const open = yield* call(() => admin.rest.issues.listForRepo({ owner, repo: "issues" }))
      assert.deepStrictEqual(open.data.map((issue) => issue.number), [2])
      const all = yield* call(() => admin.rest.issues.listForRepo({ owner, repo: "issues", state: "all" }))
      assert.deepStrictEqual(all.data.map((issue) => issue.number), [2, 1])
      const got = yield* call(() => admin.rest.issues.get({ owner, repo: "issues", issue_number: 1 }))
      assert.strictEqual(got.data.title, "First (edited)")
      const missing = yield* statusOf(() => admin.rest.issues.get({ owner, repo: "issues", issue_number: 99 }))
      assert.strictEqual(missing.status, 404)
      // A route typed as plain `string` takes untyped parameters: a body without the required title.
      const createIssue: string = "POST /repos/{owner}/{repo}/issues"
      const invalid = yield* statusOf(() => admin.request(createIssue, { owner, repo: "issues" }))
      assert.strictEqual(invalid.status, 422)
    }))

  it.effect("comments: create, paginate with Link headers, filter by since, get, update, delete", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "talk", auto_init: true }))
      yield* call(() => admin.rest.issues.create({ owner, repo: "talk", title: "Chatty" }))
      const ids: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const comment = yield* call(() =>
          admin.rest.issues.createComment({ owner, repo: "talk", issue_number: 1, body: `comment ${i}` })
        )
        assert.strictEqual(comment.status, 201)
        ids.push(comment.data.id)
      }
      const page = yield* call(() =>
        admin.rest.issues.listComments({ owner, repo: "talk", issue_number: 1, per_page: 2 })
      )
      assert.deepStrictEqual(page.data.map((comment) => comment.body), ["comment 0", "comment 1"])
      assert.match(page.headers.link ?? "", /page=2.*rel="next".*page=3.*rel="last"/)
      const everything = yield* call(() =>
        admin.paginate(admin.rest.issues.listComments, { owner, repo: "talk", issue_number: 1, per_page: 2 })
      )
      assert.deepStrictEqual(everything.map((comment) => comment.id), ids)

      const edited = yield* call(() =>
        admin.rest.issues.updateComment({ owner, repo: "talk", comment_id: ids[4]!, body: "edited" })
      )
      assert.strictEqual(edited.data.body, "edited")
      const since = yield* call(() =>
        admin.rest.issues.listComments({ owner, repo: "talk", issue_number: 1, since: "2999-01-01T00:00:00Z" })
      )
      assert.deepStrictEqual(since.data, [])
      const recent = yield* call(() =>
        admin.rest.issues.listComments({ owner, repo: "talk", issue_number: 1, since: edited.data.updated_at })
      )
      assert.isTrue(recent.data.some((comment) => comment.id === ids[4]))

      const got = yield* call(() => admin.rest.issues.getComment({ owner, repo: "talk", comment_id: ids[0]! }))
      assert.strictEqual(got.data.body, "comment 0")
      const deleted = yield* call(() => admin.rest.issues.deleteComment({ owner, repo: "talk", comment_id: ids[0]! }))
      assert.strictEqual(deleted.status, 204)
      const gone = yield* statusOf(() => admin.rest.issues.getComment({ owner, repo: "talk", comment_id: ids[0]! }))
      assert.strictEqual(gone.status, 404)
      const repoWide = yield* call(() => admin.rest.issues.listCommentsForRepo({ owner, repo: "talk" }))
      assert.strictEqual(repoWide.data.length, 4)
      const issue = yield* call(() => admin.rest.issues.get({ owner, repo: "talk", issue_number: 1 }))
      assert.strictEqual(issue.data.comments, 4)
    }))

  it.effect("reactions: 201 when new, 200 with the same reaction when repeated, listed and counted", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "react", auto_init: true }))
      yield* call(() => admin.rest.issues.create({ owner, repo: "react", title: "React to me" }))
      const comment = yield* call(() =>
        admin.rest.issues.createComment({ owner, repo: "react", issue_number: 1, body: "hi" })
      )
      const first = yield* call(() =>
        admin.rest.reactions.createForIssueComment({
          owner,
          repo: "react",
          comment_id: comment.data.id,
          content: "eyes"
        })
      )
      const again = yield* call(() =>
        admin.rest.reactions.createForIssueComment({
          owner,
          repo: "react",
          comment_id: comment.data.id,
          content: "eyes"
        })
      )
      assert.deepStrictEqual([first.status, again.status], [201, 200])
      assert.strictEqual(again.data.id, first.data.id)
      yield* call(() =>
        admin.rest.reactions.createForIssueComment({
          owner,
          repo: "react",
          comment_id: comment.data.id,
          content: "rocket"
        })
      )
      const list = yield* call(() =>
        admin.rest.reactions.listForIssueComment({ owner, repo: "react", comment_id: comment.data.id })
      )
      assert.deepStrictEqual(list.data.map((reaction) => reaction.content), ["eyes", "rocket"])
      const eyes = yield* call(() =>
        admin.rest.reactions.listForIssueComment({ owner, repo: "react", comment_id: comment.data.id, content: "eyes" })
      )
      assert.strictEqual(eyes.data.length, 1)
      const read = yield* call(() =>
        admin.rest.issues.getComment({ owner, repo: "react", comment_id: comment.data.id })
      )
      assert.strictEqual(read.data.reactions?.total_count, 2)
      assert.strictEqual(read.data.reactions?.eyes, 1)
      const removed = yield* call(() =>
        admin.rest.reactions.deleteForIssueComment({
          owner,
          repo: "react",
          comment_id: comment.data.id,
          reaction_id: first.data.id
        })
      )
      assert.strictEqual(removed.status, 204)
      const onIssue = yield* call(() =>
        admin.rest.reactions.createForIssue({ owner, repo: "react", issue_number: 1, content: "+1" })
      )
      assert.strictEqual(onIssue.status, 201)
      const issueReactions = yield* call(() =>
        admin.rest.reactions.listForIssue({ owner, repo: "react", issue_number: 1 })
      )
      assert.deepStrictEqual(issueReactions.data.map((reaction) => reaction.content), ["+1"])
      const createReaction: string = "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"
      const bad = yield* statusOf(() =>
        admin.request(createReaction, {
          owner,
          repo: "react",
          comment_id: comment.data.id,
          content: "thumbsup"
        })
      )
      assert.strictEqual(bad.status, 422)
    }))

  it.effect("labels: unknown labels are created on the fly, listed, one removed, an absent one is 404", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "labels", auto_init: true }))
      yield* call(() => admin.rest.issues.create({ owner, repo: "labels", title: "Label me", labels: ["bug"] }))
      const added = yield* call(() =>
        admin.rest.issues.addLabels({ owner, repo: "labels", issue_number: 1, labels: ["porter:running", "bug"] })
      )
      assert.deepStrictEqual(added.data.map((label) => label.name), ["bug", "porter:running"])
      const created = yield* call(() => admin.rest.issues.getLabel({ owner, repo: "labels", name: "porter:running" }))
      assert.strictEqual(created.data.color, "ededed")
      const afterRemove = yield* call(() =>
        admin.rest.issues.removeLabel({ owner, repo: "labels", issue_number: 1, name: "porter:running" })
      )
      assert.deepStrictEqual(afterRemove.data.map((label) => label.name), ["bug"])
      const absent = yield* statusOf(() =>
        admin.rest.issues.removeLabel({ owner, repo: "labels", issue_number: 1, name: "porter:running" })
      )
      assert.strictEqual(absent.status, 404)
      const set = yield* call(() =>
        admin.rest.issues.setLabels({ owner, repo: "labels", issue_number: 1, labels: ["enhancement"] })
      )
      assert.deepStrictEqual(set.data.map((label) => label.name), ["enhancement"])
      const listed = yield* call(() => admin.rest.issues.listLabelsOnIssue({ owner, repo: "labels", issue_number: 1 }))
      assert.deepStrictEqual(listed.data.map((label) => label.name), ["enhancement"])
      const repoLabel = yield* call(() =>
        admin.rest.issues.createLabel({ owner, repo: "labels", name: "porter:done", color: "0e8a16" })
      )
      assert.strictEqual(repoLabel.status, 201)
      const repoLabels = yield* call(() =>
        admin.rest.issues.listLabelsForRepo({ owner, repo: "labels", per_page: 100 })
      )
      assert.isTrue(repoLabels.data.some((label) => label.name === "porter:done"))
      const cleared = yield* call(() => admin.rest.issues.removeAllLabels({ owner, repo: "labels", issue_number: 1 }))
      assert.strictEqual(cleared.status, 204)
    }))

  it.effect("collaborators: PUT with a permission, then the permission level reports permission and role_name", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "team", auto_init: true }))
      const people = {
        maintainer: yield* call(() => emu.createUser("mia")),
        writer: yield* call(() => emu.createUser("wes")),
        reader: yield* call(() => emu.createUser("rea")),
        stranger: yield* call(() => emu.createUser("stan"))
      }
      const invited = yield* call(() =>
        admin.rest.repos.addCollaborator({ owner, repo: "team", username: "mia", permission: "maintain" })
      )
      assert.strictEqual(invited.status, 201)
      yield* call(() => admin.rest.repos.addCollaborator({ owner, repo: "team", username: "wes", permission: "push" }))
      yield* call(() => admin.rest.repos.addCollaborator({ owner, repo: "team", username: "rea", permission: "pull" }))
      const again = yield* call(() =>
        admin.rest.repos.addCollaborator({ owner, repo: "team", username: "rea", permission: "pull" })
      )
      assert.strictEqual(again.status, 204)

      const levels: Array<[string, string, string]> = []
      for (const login of [owner, "mia", "wes", "rea", "stan"]) {
        const level = yield* call(() =>
          admin.rest.repos.getCollaboratorPermissionLevel({ owner, repo: "team", username: login })
        )
        assert.strictEqual(level.data.user?.login, login)
        levels.push([login, level.data.permission, level.data.role_name])
      }
      assert.deepStrictEqual(levels, [
        [owner, "admin", "admin"],
        ["mia", "write", "maintain"],
        ["wes", "write", "write"],
        ["rea", "read", "read"],
        ["stan", "read", "read"]
      ])
      const nobody = yield* statusOf(() =>
        admin.rest.repos.getCollaboratorPermissionLevel({ owner, repo: "team", username: "nobody-here" })
      )
      assert.strictEqual(nobody.status, 404)
      const check = yield* call(() => admin.rest.repos.checkCollaborator({ owner, repo: "team", username: "wes" }))
      assert.strictEqual(check.status, 204)
      const notOne = yield* statusOf(() =>
        admin.rest.repos.checkCollaborator({ owner, repo: "team", username: "stan" })
      )
      assert.strictEqual(notOne.status, 404)
      const list = yield* call(() => admin.rest.repos.listCollaborators({ owner, repo: "team" }))
      assert.deepStrictEqual(list.data.map((person) => person.login).sort(), [owner, "mia", "rea", "wes"].sort())

      // Only admins manage collaborators; a writer gets 403.
      const byWriter = yield* statusOf(() =>
        octokit(emu, people.writer.token).rest.repos.addCollaborator({ owner, repo: "team", username: "stan" })
      )
      assert.strictEqual(byWriter.status, 403)
      assert.isString(people.maintainer.token)
      assert.isString(people.reader.token)
      assert.isString(people.stranger.token)
    }))

  it.effect("credentials: wrong tokens are 401, private repositories 404 to strangers, missing rights 403", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "secret", private: true, auto_init: true }))
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "open", auto_init: true }))
      yield* call(() => admin.rest.issues.create({ owner, repo: "open", title: "Public issue" }))
      const eve = yield* call(() => emu.createUser("eve"))
      const asEve = octokit(emu, eve.token)

      const wrong = yield* statusOf(() => octokit(emu, "ghp_not-a-real-token").rest.users.getAuthenticated())
      assert.deepStrictEqual(wrong, { status: 401, message: "Bad credentials" })
      const wrongOnRepo = yield* statusOf(() => octokit(emu, "ghp_nope").rest.repos.get({ owner, repo: "open" }))
      assert.strictEqual(wrongOnRepo.status, 401)
      const anonymousUser = yield* statusOf(() => octokit(emu).rest.users.getAuthenticated())
      assert.strictEqual(anonymousUser.status, 401)

      const me = yield* call(() => asEve.rest.users.getAuthenticated())
      assert.strictEqual(me.data.login, "eve")
      const hidden = yield* statusOf(() => asEve.rest.repos.get({ owner, repo: "secret" }))
      assert.strictEqual(hidden.status, 404)
      const anonymousHidden = yield* statusOf(() => octokit(emu).rest.repos.get({ owner, repo: "secret" }))
      assert.strictEqual(anonymousHidden.status, 404)
      const anonymousRead = yield* call(() => octokit(emu).rest.repos.get({ owner, repo: "open" }))
      assert.isUndefined(anonymousRead.data.permissions)

      // On a public repository anyone may comment, but labels need triage and closing others' issues too.
      const comment = yield* call(() =>
        asEve.rest.issues.createComment({ owner, repo: "open", issue_number: 1, body: "me too" })
      )
      assert.strictEqual(comment.data.author_association, "NONE")
      const label = yield* statusOf(() =>
        asEve.rest.issues.addLabels({ owner, repo: "open", issue_number: 1, labels: ["x"] })
      )
      assert.strictEqual(label.status, 403)
      const close = yield* statusOf(() =>
        asEve.rest.issues.update({ owner, repo: "open", issue_number: 1, state: "closed" })
      )
      assert.strictEqual(close.status, 403)
      const editOthers = yield* statusOf(() => {
        return admin.rest.issues.createComment({ owner, repo: "open", issue_number: 1, body: "owner says" }).then((
          created
        ) => asEve.rest.issues.updateComment({ owner, repo: "open", comment_id: created.data.id, body: "hijacked" }))
      })
      assert.strictEqual(editOthers.status, 403)
      const editOwn = yield* call(() =>
        asEve.rest.issues.updateComment({ owner, repo: "open", comment_id: comment.data.id, body: "me too!" })
      )
      assert.strictEqual(editOwn.data.body, "me too!")
    }))

  it.effect("test-only extras: users and organizations under /_emulator/, with working tokens", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const response = yield* call(() =>
        fetch(`${emu.url}/_emulator/users`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ login: "octo-dev" })
        })
      )
      assert.strictEqual(response.status, 201)
      const user = (yield* call(() => response.json())) as { login: string; id: number; token: string }
      assert.match(user.token, /^ghp_\w{36}$/)
      const me = yield* call(() => octokit(emu, user.token).rest.users.getAuthenticated())
      assert.deepStrictEqual([me.data.login, me.data.id], ["octo-dev", user.id])

      const org = yield* call(() =>
        fetch(`${emu.url}/_emulator/orgs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ login: "octo-org", owners: ["octo-dev"] })
        })
      )
      assert.strictEqual(org.status, 201)
      const repo = yield* call(() =>
        octokit(emu, user.token).rest.repos.createInOrg({ org: "octo-org", name: "tools" })
      )
      assert.strictEqual(repo.data.owner.login, "octo-org")
      const outsider = yield* call(() => emu.createUser("outsider"))
      const refused = yield* statusOf(() =>
        octokit(emu, outsider.token).rest.repos.createInOrg({ org: "octo-org", name: "nope" })
      )
      assert.strictEqual(refused.status, 403)
      const profile = yield* call(() => octokit(emu).rest.users.getByUsername({ username: "octo-dev" }))
      assert.strictEqual(profile.data.type, "User")
      const mine = yield* call(() => octokit(emu, user.token).rest.repos.listForAuthenticatedUser())
      assert.deepStrictEqual(mine.data.map((entry) => entry.full_name), ["octo-org/tools"])

      // Logins follow GitHub's rule (they also name directories of bare repositories).
      const invalid = yield* call(() =>
        fetch(`${emu.url}/_emulator/users`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ login: "../escape" })
        })
      )
      assert.strictEqual(invalid.status, 422)
      const refusedLogin = yield* call(() => emu.createUser("bad[bot]").then(() => "created", () => "refused"))
      assert.strictEqual(refusedLogin, "refused")
    }))
})
