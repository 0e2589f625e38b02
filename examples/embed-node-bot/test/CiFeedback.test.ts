// CI feedback in a Node host (SQLite storage, local process machines, the GitHub emulator): with `autofixCi: 1` in
// the repository's `.github/porter.yml`, a failing check suite on the bot's pull request gets a comment and a fix task
// that pushes a second commit to the same pull request (the `script` agent writes what it was asked).
import { assert, layer } from "@effect/vitest"
import { Messages } from "@porter/core"
import { Effect, Option } from "effect"
import * as Support from "./support.ts"
import { Stack } from "./support.ts"

/** Commits `files` on `main` through the Git Data API, as the repository's owner. */
const commitOnMain = (files: Record<string, string>) =>
  Effect.gen(function*() {
    const { owner, repo } = yield* Stack
    const ref = yield* Support.rest<{ object: { sha: string } }>(
      owner.token,
      "GET",
      `/repos/${repo}/git/ref/heads/main`
    )
    const parent = yield* Support.rest<{ tree: { sha: string } }>(
      owner.token,
      "GET",
      `/repos/${repo}/git/commits/${ref.object.sha}`
    )
    const tree = yield* Support.rest<{ sha: string }>(owner.token, "POST", `/repos/${repo}/git/trees`, {
      base_tree: parent.tree.sha,
      tree: Object.entries(files).map(([path, content]) => ({ path, mode: "100644", type: "blob", content }))
    })
    const commit = yield* Support.rest<{ sha: string }>(owner.token, "POST", `/repos/${repo}/git/commits`, {
      message: "Porter's configuration",
      tree: tree.sha,
      parents: [ref.object.sha]
    })
    yield* Support.rest(owner.token, "PATCH", `/repos/${repo}/git/refs/heads/main`, { sha: commit.sha })
  })

/** Porter's status comments of `issue`, once `count` of them have ended. */
const ended = (issue: number, count: number) =>
  Support.eventually(
    `${count} ended task(s) on #${issue}`,
    Effect.map(Support.porterComments(issue), (comments) => {
      const done = comments.filter((c) =>
        ["succeeded", "failed", "timed_out", "cancelled"].includes(Messages.parseMarker(c.body)?.state ?? "")
      )
      return done.length >= count ? Option.some(done) : Option.none()
    }),
    "60 seconds"
  )

layer(Support.layer, { excludeTestServices: true })("CI feedback in a Node host", (it) => {
  it.effect(
    "a failing check on the bot's pull request: a comment, and a fix pushed to the same pull request",
    () =>
      Effect.gen(function*() {
        const { github, owner, repo, writer } = yield* Stack
        yield* commitOnMain({ ".github/porter.yml": "autofixCi: 1\n" })
        const issue = yield* Support.rest<{ number: number }>(owner.token, "POST", `/repos/${repo}/issues`, {
          title: "Add a line",
          body: ""
        })
        yield* Support.rest(writer.token, "POST", `/repos/${repo}/issues/${issue.number}/comments`, {
          body: "@porter script add a line"
        })
        const [made] = yield* ended(issue.number, 1)
        assert.strictEqual(Messages.parseMarker(made!.body)?.state, "succeeded", made!.body)
        const pr = Number(new RegExp(`${github.url}/${repo}/pull/(\\d+)`).exec(made!.body)![1])
        const pull = yield* Support.rest<{ head: { ref: string } }>(owner.token, "GET", `/repos/${repo}/pulls/${pr}`)

        const [ownerLogin, name] = repo.split("/")
        yield* Effect.promise(() =>
          github.completeCheckSuite(ownerLogin!, name!, {
            branch: pull.head.ref,
            runs: [{ name: "test", conclusion: "failure", log: "FAIL test/line.test.js\nexpected two lines\n" }]
          })
        )
        const [fix] = yield* ended(pr, 1)
        assert.strictEqual(Messages.parseMarker(fix!.body)?.state, "succeeded", fix!.body)
        assert.include(fix!.body, "A fix for this pull request's failing checks (`fix-ci`)")
        const said = (yield* Support.porterComments(pr)).filter((c) => c.body.includes("CI failed"))
        assert.strictEqual(said.length, 1)
        assert.include(said[0]!.body, "automatic fix 1 of 1")

        const commits = yield* Effect.promise(() => github.pullRequestCommits(ownerLogin!, name!, pr))
        assert.strictEqual(commits.length, 2, "the fix is a second commit on the pull request's branch")
        const diff = yield* Support.call(`${github.url}/repos/${repo}/pulls/${pr}`, {
          headers: { authorization: `Bearer ${owner.token}`, accept: "application/vnd.github.diff" }
        })
        assert.include(diff.text, "Make the failing CI checks of this pull request pass.")
      }),
    120_000
  )
})
