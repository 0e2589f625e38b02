/**
 * The happy path from a real GitHub payload: an `issue_comment.created` example from
 * `@octokit/webhooks-examples`, signed, verified and decoded by `@porter/github`'s intake, through
 * Porter on in-memory layers, to a succeeded task with the PR link on the issue.
 */
import { assert, describe, it } from "@effect/vitest"
import { sign } from "@octokit/webhooks-methods"
import { ChangeSets, Porter, SecretStore } from "@porter/core"
import { GitHubWebhooks } from "@porter/github"
import { Fixtures, GitHubRecorder, Machines, Repositories, TestPorter } from "@porter/testing"
import { Effect, Redacted } from "effect"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

const SECRET = "It's a Secret to Everybody"
const examplesRoot = dirname(createRequire(import.meta.url).resolve("@octokit/webhooks-examples/package.json"))
const examples = JSON.parse(readFileSync(join(examplesRoot, "api.github.com", "index.json"), "utf8")) as ReadonlyArray<{
  name: string
  examples: ReadonlyArray<Record<string, any>>
}>
/** The App-delivered example (it carries `installation`). */
const example = examples.find((e) => e.name === "issue_comment")!.examples.find((p) =>
  p.action === "created" && p.installation
)!

describe("a real issue_comment.created payload", () => {
  it.effect("signed, verified, decoded and run to ✅", () =>
    Effect.gen(function*() {
      const payload = structuredClone(example)
      payload.comment.body = "@porter claude make the date parser accept ISO weeks"
      const body = JSON.stringify(payload)
      const headers = {
        "x-github-event": "issue_comment",
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "x-hub-signature-256": yield* Effect.promise(() => sign(SECRET, body)),
        "content-type": "application/json"
      }
      const intake = yield* GitHubWebhooks.make({ secret: Redacted.make(SECRET) })
      const event = yield* intake.parse({ headers, body })
      assert.strictEqual(event._tag, "CommentCreated")
      if (event._tag !== "CommentCreated") return
      assert.strictEqual(event.repo.fullName, payload.repository.full_name)
      assert.strictEqual(event.installationId, payload.installation.id)

      const porter = yield* Porter.Porter
      assert.strictEqual((yield* porter.handle(event))._tag, "Accepted")
      const [machine] = yield* (yield* Machines).created
      assert.strictEqual(machine!.spec.env["REPO_FULL_NAME"], payload.repository.full_name)
      assert.strictEqual(machine!.spec.env["ISSUE_NUMBER"], String(payload.issue.number))
      const taskId = machine!.spec.taskId
      yield* porter.callback(taskId, { type: "started" })
      // The machine proposes; Porter commits and opens the pull request.
      const base = yield* (yield* Repositories).seed(event.repo, {
        defaultBranch: payload.repository.default_branch,
        files: [{ path: "README.md", content: "# hi\n" }]
      })
      const published = yield* (yield* ChangeSets.ChangeSets).publish(
        taskId,
        Fixtures.changeSet(base, [{ path: "src/date.ts", content: "export const isoWeek = 1\n" }])
      )
      const prUrl = published.pullRequest.url
      yield* porter.callback(taskId, { type: "completed", outcome: "pushed", summary: "Done." })

      const issue = `${payload.repository.full_name}#${payload.issue.number}`
      const comments = yield* (yield* GitHubRecorder).comments(issue)
      assert.strictEqual(comments.length, 1)
      assert.include(comments[0]!.body, "✅")
      assert.include(comments[0]!.body, prUrl)
      const reactions = yield* (yield* GitHubRecorder).reactions(issue)
      assert.deepStrictEqual(reactions.map((r) => [r.reaction, r.target.commentId]), [["eyes", payload.comment.id]])

      // The same bytes with a signature from another secret are refused before anything is decoded.
      const forged = { ...headers, "x-hub-signature-256": yield* Effect.promise(() => sign("not the secret", body)) }
      const refused = yield* Effect.flip(intake.parse({ headers: forged, body }))
      assert.strictEqual(refused._tag, "WebhookUnauthorized")
    }).pipe(Effect.provide(TestPorter.layer({
      secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-test" }]
    }))))
})
