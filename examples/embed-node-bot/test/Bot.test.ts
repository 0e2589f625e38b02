// The bot, for real, in Node: the GitHub emulator delivers signed webhooks to the bot's own HTTP server; the bot
// answers through the emulator's REST API as the App; each task's machine is a child process running the real
// Porter runner (the `script` agent, no model), which clones, commits, pushes and opens the pull request with the
// machine's token, and calls the bot back.
import { assert, layer } from "@effect/vitest"
import { Messages } from "@porter/core"
import { Effect, Option } from "effect"
import * as Support from "./support.ts"
import { Stack } from "./support.ts"

interface Reaction {
  readonly content: string
  readonly user: { readonly login: string }
}

interface PullRequest {
  readonly number: number
  readonly html_url: string
  readonly head: { readonly ref: string }
  readonly base: { readonly ref: string }
  readonly user: { readonly login: string }
}

interface StatusPage {
  readonly bot: string
  readonly webhookUrl: string
  readonly machines: string
  readonly liveMachines: number | null
  readonly activeTasks: number
  readonly recentTasks?: ReadonlyArray<{
    readonly id: string
    readonly state: string
    readonly issue: string
    readonly prUrl?: string
  }>
}

interface TaskView {
  readonly id: string
  readonly state: string
  readonly issueNumber: number
}

const openIssue = (title: string) =>
  Effect.gen(function*() {
    const { owner, repo } = yield* Stack
    const path = `/repos/${repo}/issues`
    return yield* Support.rest<{ readonly number: number }>(owner.token, "POST", path, { title, body: "" })
  })

const tasksOf = (issue: number) =>
  Effect.gen(function*() {
    const { repo } = yield* Stack
    const { tasks } = yield* Support.admin<{ readonly tasks: ReadonlyArray<TaskView> }>(
      `/admin/tasks?repo=${encodeURIComponent(repo)}&limit=500`
    )
    return tasks.filter((task) => task.issueNumber === issue)
  })

/** On a failure: what Porter recorded about the issue's tasks, and what it wrote. */
const diagnose = (issue: number) =>
  Effect.gen(function*() {
    for (const task of yield* tasksOf(issue)) {
      const detail = yield* Support.admin<{ readonly events: ReadonlyArray<unknown> }>(`/admin/tasks/${task.id}`)
      yield* Effect.logError("task", task, detail.events)
    }
    yield* Effect.logError("comments", (yield* Support.porterComments(issue)).map((c) => c.body))
  }).pipe(Effect.ignore)

layer(Support.layer, { excludeTestServices: true })("a Node bot embedding Porter, against the emulator", (it) => {
  it.effect("its own page answers, with where to point GitHub", () =>
    Effect.gen(function*() {
      const { bot } = yield* Stack
      const page = yield* Support.call(`${bot.url}/`)
      assert.strictEqual(page.status, 200)
      const body = page.body as StatusPage
      assert.strictEqual(body.bot, "embed-node-bot")
      assert.strictEqual(body.webhookUrl, `${bot.url}/webhooks/github`)
      assert.strictEqual(body.machines, "local")
      assert.strictEqual(body.recentTasks, undefined, "which repositories it works on is not public")
      // Porter's own routes are served by the same server.
      assert.deepStrictEqual((yield* Support.call(`${bot.url}/healthz`)).body, { ok: true })
      assert.strictEqual((yield* Support.call(`${bot.url}/admin/tasks`)).status, 401, "the admin API wants its token")
    }))

  it.effect("a delivery with a bad signature gets 401 and creates nothing; the genuine one is acted on", () =>
    Effect.gen(function*() {
      const { bot, github, repo, writer } = yield* Stack
      const issue = yield* openIssue("Signatures")
      // Hold deliveries back (recorded, not sent) to replay this one by hand.
      yield* Support.restAt(github.url, "", "PUT", "/_emulator/webhook", { url: null })
      const comment = yield* Support.rest<Support.Comment>(
        writer.token,
        "POST",
        `/repos/${repo}/issues/${issue.number}/comments`,
        { body: "@porter help" }
      )
      yield* Effect.promise(() => github.setWebhook(bot.webhookUrl))
      const delivery = (yield* Effect.promise(() => github.deliveries())).find((d) =>
        d.event === "issue_comment" && (d.payload as { comment?: { id?: number } }).comment?.id === comment.id
      )
      assert.isDefined(delivery, "the emulator recorded the comment's delivery")
      const body = JSON.stringify(delivery!.payload)
      const post = (signature: string, text: string) =>
        Effect.map(
          Support.call(bot.webhookUrl, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "x-github-event": "issue_comment",
              "x-github-delivery": delivery!.id,
              "x-hub-signature-256": signature
            },
            body: text
          }),
          (answer) => answer.status
        )

      const forged = Support.sign("not-the-webhook-secret", body)
      assert.strictEqual(yield* post(forged, body), 401, "signed with another secret")
      assert.strictEqual(
        yield* post(Support.sign(github.app.webhookSecret, body), body.replace("@porter help", "@porter script rm")),
        401,
        "body changed after signing"
      )
      assert.strictEqual(yield* post("", body), 401, "no signature")
      assert.deepStrictEqual(yield* Support.porterComments(issue.number), [], "Porter said nothing")
      const reactions = yield* Support.rest<ReadonlyArray<Reaction>>(
        github.admin.token,
        "GET",
        `/repos/${repo}/issues/comments/${comment.id}/reactions`
      )
      assert.deepStrictEqual(reactions, [], "and reacted to nothing")

      // The same delivery, as GitHub signed it, is acted on: the refusals above were the signature's doing.
      assert.strictEqual(yield* Effect.promise(() => github.redeliver(delivery!.id)), 202)
      const [help] = yield* Support.eventually(
        "Porter's help reply",
        Effect.map(Support.porterComments(issue.number), (list) => list.length > 0 ? Option.some(list) : Option.none()),
        "10 seconds"
      )
      assert.include(help!.body, "**Porter** runs a coding agent")
      assert.deepStrictEqual(yield* tasksOf(issue.number), [], "help creates no task")
    }))

  it.effect(
    "a writer's `@porter script add a line` becomes a pull request, and the issue says so",
    () =>
      Effect.gen(function*() {
        const { bot, github, owner, repo, writer } = yield* Stack
        const issue = yield* openIssue("Add a line")
        const trigger = yield* Support.rest<Support.Comment>(
          writer.token,
          "POST",
          `/repos/${repo}/issues/${issue.number}/comments`,
          { body: "@porter script add a line" }
        )
        const delivered = (yield* Effect.promise(() => github.deliveries())).filter((d) =>
          (d.payload as { comment?: { id?: number } }).comment?.id === trigger.id
        )
        assert.deepStrictEqual(delivered.map((d) => d.status), [202], "the webhook was answered 202 at once")

        // What the user sees: one status comment, edited in place until it ends.
        const status = yield* Support.eventually(
          "the status comment to end",
          Effect.map(Support.porterComments(issue.number), (list) => {
            const state = list[0] && Messages.parseMarker(list[0].body)?.state
            return state === "succeeded" || state === "failed" || state === "timed_out" || state === "cancelled"
              ? Option.some(list)
              : Option.none()
          }),
          "40 seconds"
        ).pipe(Effect.tapDefect(() => diagnose(issue.number)))
        assert.strictEqual(status.length, 1, "exactly one Porter comment")
        const text = status[0]!.body
        assert.strictEqual(Messages.parseMarker(text)?.state, "succeeded", text)
        assert.isTrue(text.startsWith("✅"), text)

        const reactions = yield* Support.rest<ReadonlyArray<Reaction>>(
          owner.token,
          "GET",
          `/repos/${repo}/issues/comments/${trigger.id}/reactions`
        )
        assert.deepStrictEqual(reactions.map((r) => [r.content, r.user.login]), [["eyes", github.app.botLogin]])

        // The pull request the comment links exists, was opened by the App from the task's branch, and has the line.
        const link = new RegExp(`${github.url}/${repo}/pull/(\\d+)`).exec(text)
        assert.isNotNull(link, `a pull request link in: ${text}`)
        const pull = yield* Support.rest<PullRequest>(owner.token, "GET", `/repos/${repo}/pulls/${link![1]}`)
        assert.strictEqual(pull.html_url, link![0])
        assert.strictEqual(pull.base.ref, "main")
        assert.match(pull.head.ref, new RegExp(`^porter/${issue.number}-`))
        assert.strictEqual(pull.user.login, github.app.botLogin)
        const diff = yield* Support.call(`${github.url}/repos/${repo}/pulls/${pull.number}`, {
          headers: { authorization: `Bearer ${owner.token}`, accept: "application/vnd.github.diff" }
        })
        assert.strictEqual(diff.status, 200)
        assert.include(diff.text, "+++ b/PORTER_SCRIPT.md")
        const added = diff.text.split("\n").filter((line) => line.startsWith("+") && !line.startsWith("+++"))
        assert.isTrue(added.some((line) => line.includes("add a line")), diff.text)

        // The bot's page shows the task done, and the machine is gone.
        const page = yield* Support.eventually(
          "the machine to be gone",
          Effect.map(Support.call(`${bot.url}/`, { headers: Support.adminHeaders }), (answer) => {
            const body = answer.body as StatusPage
            return body.liveMachines === 0 ? Option.some(body) : Option.none()
          }),
          "10 seconds"
        )
        const task = page.recentTasks?.find((t) => t.issue === `${repo}#${issue.number}`)
        assert.deepStrictEqual([task?.state, task?.prUrl], ["succeeded", pull.html_url])
        assert.strictEqual(page.activeTasks, 0)
      }),
    60_000
  )
})
