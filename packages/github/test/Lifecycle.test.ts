// A task's whole life against the GitHub emulator: Porter (core, in-memory stores and machines) with
// this package's WebhookIntake, Reporter, IssueReader, Authorizer, RepoTokens and RepoWriter pointed at the
// emulator, served over HTTP. People act through the emulator's REST API; the emulator delivers
// signed webhooks to Porter; the test plays the runner (a clone through Porter's git proxy with the task
// token, a change set Porter commits and opens the pull request for, then callbacks).
import { assert, describe, it } from "@effect/vitest"
import { Diagnostics, HttpApp, Messages, Porter, SecretStore, Settings, TaskStore } from "@porter/core"
import { GitHub } from "@porter/github"
import { GitHubRecorder, Machines, TestPorter } from "@porter/testing"
import { GitHubEmulator } from "@porter/testkit"
import { Effect, Layer, Redacted } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeBridge from "./utils/NodeBridge.ts"
import * as Rest from "./utils/Rest.ts"

interface Comment {
  readonly id: number
  readonly body: string
  readonly created_at: string
  readonly updated_at: string
  readonly user: { readonly login: string }
}

/** Porter on in-memory stores and machines, with this package's adapters talking to `emulator`. */
const porterOn = (emulator: GitHubEmulator.Emulator, publicUrl: string) => {
  const github = GitHub.layer({
    apiUrl: emulator.url,
    credentials: {
      _tag: "App",
      appId: String(emulator.app.id),
      privateKey: Redacted.make(emulator.app.privateKeyPkcs1)
    },
    webhook: { secret: Redacted.make(emulator.app.webhookSecret) },
    retry: { baseDelayMs: 10 }
  })
  const services = Layer.mergeAll(
    TestPorter.services({
      config: { publicUrl, githubApiUrl: emulator.url, gitBaseUrl: emulator.url },
      settings: new Settings.RepoSettings({ ...Settings.defaults, stateLabels: true }),
      secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-test" }]
    }),
    // Later layers win: these replace the in-memory Reporter, IssueReader, Authorizer, RepoTokens.
    github
  )
  return Layer.merge(Porter.layer, Diagnostics.layerBasic).pipe(Layer.provideMerge(services))
}

/** Serves core's HTTP app for the services in context on the bridge. */
const serve = (bridge: NodeBridge.Bridge) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<
      TestPorter.Services | Porter.Services | Diagnostics.Diagnostics | GitHub.Services
    >()
    const app = HttpApp.routes.pipe(
      Layer.provide(Layer.mergeAll(Layer.succeedContext(context), HttpServer.layerServices))
    )
    const { dispose, handler } = HttpRouter.toWebHandler(app, { disableLogger: true })
    yield* Effect.addFinalizer(() => Effect.promise(dispose))
    bridge.setHandler(handler)
  })

// Asynchronous: the emulator serving git runs in this very process.
const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.promise(() =>
    new Promise<string>((resolve, reject) =>
      execFile(
        "git",
        ["-c", "user.name=Porter Runner", "-c", "user.email=runner@porter.test", ...args],
        { cwd, encoding: "utf8", timeout: 30_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))
      )
    )
  )

describe("a task's whole life against the GitHub emulator", () => {
  it.live(
    "comment → 👀 + one status comment edited in place → machine → PR → final text with the PR link",
    () =>
      Effect.gen(function*() {
        const emulator = yield* GitHubEmulator.start()
        const bridge = yield* NodeBridge.start
        const admin = emulator.admin
        const rest = <A = unknown>(token: string, method: string, path: string, body?: unknown) =>
          Rest.ok<A>(emulator.url, token, method, path, body)

        yield* Effect.gen(function*() {
          yield* serve(bridge)
          const recorder = yield* GitHubRecorder
          const machines = yield* Machines
          const store = yield* TaskStore.TaskStore
          yield* Effect.promise(() => emulator.setWebhook(`${bridge.url}/webhooks/github`))

          // The scenario, set up with GitHub's own endpoints.
          yield* rest(admin.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
          yield* rest(admin.token, "POST", "/user/repos", { name: "gadgets", auto_init: true })
          const wendy = yield* Effect.promise(() => emulator.createUser("wendy"))
          const rita = yield* Effect.promise(() => emulator.createUser("rita"))
          yield* rest(admin.token, "PUT", `/repos/${admin.login}/widgets/collaborators/wendy`, { permission: "push" })
          yield* rest(admin.token, "PUT", `/repos/${admin.login}/widgets/collaborators/rita`, { permission: "pull" })
          const repo = `${admin.login}/widgets`
          const issue = yield* rest<{ number: number }>(admin.token, "POST", `/repos/${repo}/issues`, {
            title: "Typo in README",
            body: "It says 'widgits'."
          })
          const other = yield* rest<{ number: number }>(admin.token, "POST", `/repos/${repo}/issues`, {
            title: "Another one"
          })

          // Someone with read access is refused, politely, and nothing runs.
          yield* rest(rita.token, "POST", `/repos/${repo}/issues/${other.number}/comments`, {
            body: "@porter claude do it"
          })
          yield* Effect.promise(() => emulator.deliveries())
          const refusal = yield* rest<Array<Comment>>(
            admin.token,
            "GET",
            `/repos/${repo}/issues/${other.number}/comments`
          )
          assert.strictEqual(refusal.length, 2)
          assert.strictEqual(refusal[1]!.user.login, emulator.app.botLogin)
          assert.include(refusal[1]!.body, "@rita has read access")
          assert.strictEqual((yield* machines.created).length, 0)

          // A writer asks; the emulator delivers the signed webhook; Porter acknowledges and dispatches.
          const trigger = yield* rest<Comment>(wendy.token, "POST", `/repos/${repo}/issues/${issue.number}/comments`, {
            body: "@porter claude fix the typo in the README"
          })
          yield* Effect.promise(() => emulator.deliveries())
          const [machine] = yield* machines.created
          assert.isDefined(machine, "a machine was started")
          const spec = machine!.spec
          assert.strictEqual(spec.env["REPO_FULL_NAME"], repo)
          assert.strictEqual(spec.env["ISSUE_NUMBER"], String(issue.number))

          const porterComments = (number: number) =>
            Effect.map(
              rest<Array<Comment>>(admin.token, "GET", `/repos/${repo}/issues/${number}/comments?per_page=100`),
              (list) => list.filter((c) => c.user.login === emulator.app.botLogin)
            )
          const acknowledged = yield* porterComments(issue.number)
          assert.strictEqual(acknowledged.length, 1, "one status comment")
          const statusId = acknowledged[0]!.id
          assert.strictEqual(Messages.parseMarker(acknowledged[0]!.body)?.state, "provisioning")

          // The runner holds no GitHub token: it clones through Porter's read-only git proxy with its task token…
          assert.isUndefined(spec.secretEnv["GITHUB_TOKEN"])
          const taskId = spec.taskId
          const callbackToken = Redacted.value(spec.secretEnv["CALLBACK_TOKEN"]!)
          const branch = spec.env["BRANCH"]!
          const cloneUrl = spec.env["REPO_CLONE_URL"]!
          assert.strictEqual(cloneUrl, `${bridge.url}/git/tasks/${taskId}`)
          const bearer = `http.extraHeader=Authorization: Bearer ${callbackToken}`
          const work = mkdtempSync(join(tmpdir(), "porter-runner-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(work, { recursive: true, force: true })))
          yield* git(work, "-c", bearer, "clone", "--quiet", cloneUrl, "repo")
          const checkout = join(work, "repo")
          const base = yield* git(checkout, "rev-parse", "HEAD")
          const before = readFileSync(join(checkout, "README.md"))
          // …and cannot push through it.
          yield* git(checkout, "commit", "--quiet", "--allow-empty", "-m", "nope")
          const pushed = yield* Effect.exit(git(checkout, "-c", bearer, "push", "--quiet", "origin", `HEAD:${branch}`))
          assert.strictEqual(pushed._tag, "Failure", "no push through the git proxy")

          // …and sends its work as a change set, which Porter commits through the Git Data API.
          const fixed = "# widgets\n\nWidgets, spelled right.\n"
          const author = { name: "Porter Runner", email: "runner@porter.test", date: "2026-12-01T10:00:00+01:00" }
          const changes = yield* Effect.promise(async () => {
            const response = await fetch(`${bridge.url}/callbacks/tasks/${taskId}/changes`, {
              method: "POST",
              headers: { authorization: `Bearer ${callbackToken}`, "content-type": "application/json" },
              body: JSON.stringify({
                base,
                commits: [{
                  message: "Fix the typo in the README",
                  author,
                  changes: [{
                    _tag: "write",
                    path: "README.md",
                    mode: "100644",
                    content: Buffer.from(fixed).toString("base64")
                  }]
                }],
                bases: { "README.md": before.toString("base64") },
                summary: "Fixed 'widgits' in the README."
              })
            })
            return { status: response.status, body: await response.json() }
          })
          assert.strictEqual(changes.status, 200, JSON.stringify(changes.body))
          const published = changes.body as {
            branch: string
            commits: Array<string>
            pullRequest: { number: number; url: string }
          }
          assert.strictEqual(published.branch, branch)
          assert.strictEqual(published.commits.length, 1)
          const pr = yield* rest<{ number: number; html_url: string; head: { ref: string }; base: { ref: string } }>(
            admin.token,
            "GET",
            `/repos/${repo}/pulls/${published.pullRequest.number}`
          )
          assert.deepStrictEqual([pr.html_url, pr.head.ref, pr.base.ref], [published.pullRequest.url, branch, "main"])
          const prCommits = yield* Effect.promise(() =>
            emulator.pullRequestCommits(admin.login, "widgets", published.pullRequest.number)
          )
          assert.deepStrictEqual(
            prCommits.map((c) => [c.sha, c.viaGitDataApi, c.verified]),
            [[published.commits[0], true, true]],
            "made through the Git Data API by the App: Verified"
          )
          assert.include(prCommits[0]!.message, `Porter-Task: ${taskId}`)
          assert.strictEqual(prCommits[0]!.author.name, "Porter Runner")
          const readme = yield* rest<{ content: string }>(
            admin.token,
            "GET",
            `/repos/${repo}/contents/README.md?ref=${encodeURIComponent(branch)}`
          )
          assert.strictEqual(Buffer.from(readme.content, "base64").toString("utf8"), fixed)

          // Callbacks, authenticated with the task token.
          const callback = (body: unknown) =>
            Effect.promise(async () => {
              const response = await fetch(`${bridge.url}/callbacks/tasks/${taskId}`, {
                method: "POST",
                headers: { authorization: `Bearer ${callbackToken}`, "content-type": "application/json" },
                body: JSON.stringify(body)
              })
              return response.status
            })
          assert.strictEqual(yield* callback({ type: "started", machineId: machine!.machine.id }), 200)
          const running = yield* porterComments(issue.number)
          assert.deepStrictEqual(running.map((c) => c.id), [statusId])
          assert.strictEqual(Messages.parseMarker(running[0]!.body)?.state, "running")

          assert.strictEqual(
            yield* callback({
              type: "completed",
              outcome: "pushed",
              summary: "Fixed 'widgits' in the README.",
              usage: { inputTokens: 1200, outputTokens: 340, costUsd: 0.0123 }
            }),
            200
          )
          yield* Effect.promise(() => emulator.deliveries())

          // What the issue shows at the end.
          const final = yield* porterComments(issue.number)
          assert.strictEqual(final.length, 1, "exactly one Porter comment on the issue")
          const status = final[0]!
          assert.strictEqual(status.id, statusId, "the status comment was edited in place")
          assert.strictEqual(Messages.parseMarker(status.body)?.id, taskId)
          assert.strictEqual(Messages.parseMarker(status.body)?.state, "succeeded")
          assert.include(status.body, "✅")
          assert.include(status.body, pr.html_url)
          assert.include(status.body, "Fixed 'widgits' in the README.")

          const reactions = yield* rest<Array<{ content: string; user: { login: string } }>>(
            admin.token,
            "GET",
            `/repos/${repo}/issues/comments/${trigger.id}/reactions`
          )
          assert.deepStrictEqual(reactions.map((r) => [r.content, r.user.login]), [["eyes", emulator.app.botLogin]])
          const labels = yield* rest<Array<{ name: string }>>(
            admin.token,
            "GET",
            `/repos/${repo}/issues/${issue.number}/labels`
          )
          assert.deepStrictEqual(labels.map((l) => l.name), ["porter:succeeded"])

          const task = yield* store.get(taskId)
          assert.strictEqual(task.state, "succeeded")
          assert.deepStrictEqual([task.prUrl, task.branch, task.commitSha], [pr.html_url, branch, published.commits[0]])
          assert.deepStrictEqual(yield* recorder.allText, [], "the in-memory reporter was replaced")

          // Every delivery verified and answered: 202 for the two requests, 200 for everything else
          // (Porter's own comments among them).
          const deliveries = yield* Effect.promise(() => emulator.deliveries())
          assert.isTrue(
            deliveries.every((d) => d.status === 200 || d.status === 202),
            JSON.stringify(deliveries.map((d) => [d.event, d.action, d.status]))
          )
          assert.strictEqual(deliveries.filter((d) => d.status === 202).length, 2)
          const fromPorter = deliveries.filter((d) =>
            d.event === "issue_comment" &&
            (d.payload as { sender?: { login?: string } }).sender?.login === emulator.app.botLogin
          )
          assert.isAbove(fromPorter.length, 0)
          assert.isTrue(fromPorter.every((d) => d.status === 200), "Porter's own comments are ignored")

          // A redelivery of the request is a duplicate: no second task, no second comment.
          const request = deliveries.find((d) =>
            d.event === "issue_comment" && d.status === 202 &&
            (d.payload as { comment?: { id?: number } }).comment?.id === trigger.id
          )!
          assert.strictEqual(yield* Effect.promise(() => emulator.redeliver(request.id)), 200)
          assert.strictEqual((yield* machines.created).length, 1)
          assert.strictEqual((yield* porterComments(issue.number)).length, 1)
        }).pipe(Effect.provide(porterOn(emulator, bridge.url)))
      }),
    { timeout: 60_000 }
  )

  it.live(
    "a review comment on a PR line works on the PR's branch; closing the issue cancels its task",
    () =>
      Effect.gen(function*() {
        const emulator = yield* GitHubEmulator.start()
        const bridge = yield* NodeBridge.start
        const admin = emulator.admin
        const rest = <A = unknown>(token: string, method: string, path: string, body?: unknown) =>
          Rest.ok<A>(emulator.url, token, method, path, body)

        yield* Effect.gen(function*() {
          yield* serve(bridge)
          const machines = yield* Machines
          const store = yield* TaskStore.TaskStore
          yield* Effect.promise(() => emulator.setWebhook(`${bridge.url}/webhooks/github`))
          yield* rest(admin.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
          const wendy = yield* Effect.promise(() => emulator.createUser("wendy"))
          yield* rest(admin.token, "PUT", `/repos/${admin.login}/widgets/collaborators/wendy`, { permission: "push" })
          const repo = `${admin.login}/widgets`

          // A pull request on branch `feature`, pushed by the owner.
          const work = mkdtempSync(join(tmpdir(), "porter-pr-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(work, { recursive: true, force: true })))
          const ownerUrl = `${emulator.url.replace("http://", `http://x-access-token:${admin.token}@`)}/${repo}.git`
          yield* git(work, "clone", "--quiet", ownerUrl, "repo")
          const checkout = join(work, "repo")
          yield* git(checkout, "checkout", "--quiet", "-b", "feature")
          writeFileSync(join(checkout, "README.md"), "# widgets\n\nA first draft.\n")
          yield* git(checkout, "commit", "--quiet", "-am", "Draft")
          const headSha = yield* git(checkout, "rev-parse", "HEAD")
          yield* git(checkout, "push", "--quiet", "origin", "feature")
          const pr = yield* rest<{ number: number }>(admin.token, "POST", `/repos/${repo}/pulls`, {
            title: "Draft",
            head: "feature",
            base: "main"
          })

          const review = yield* rest<{ id: number }>(
            wendy.token,
            "POST",
            `/repos/${repo}/pulls/${pr.number}/comments`,
            {
              body: "@porter claude reword this line",
              commit_id: headSha,
              path: "README.md",
              line: 3,
              side: "RIGHT"
            }
          )
          yield* Effect.promise(() => emulator.deliveries())
          const [machine] = yield* machines.created
          assert.isDefined(machine, "the review comment started a machine")
          assert.strictEqual(machine!.spec.env["HEAD_BRANCH"], "feature")
          assert.strictEqual(machine!.spec.env["BRANCH"], "feature", "work continues on the PR's branch")
          assert.strictEqual(machine!.spec.env["ISSUE_NUMBER"], String(pr.number))
          const reactions = yield* rest<Array<{ content: string; user: { login: string } }>>(
            admin.token,
            "GET",
            `/repos/${repo}/pulls/comments/${review.id}/reactions`
          )
          assert.deepStrictEqual(reactions.map((r) => [r.content, r.user.login]), [["eyes", emulator.app.botLogin]])
          const onPr = yield* rest<Array<Comment>>(admin.token, "GET", `/repos/${repo}/issues/${pr.number}/comments`)
          assert.strictEqual(onPr.filter((c) => Messages.parseMarker(c.body) !== undefined).length, 1)

          // The machine's change set on the PR's head: Porter fast-forwards `feature` and links the open PR.
          const callbackToken = Redacted.value(machine!.spec.secretEnv["CALLBACK_TOKEN"]!)
          const publish = (base: string, text: string) =>
            Effect.promise(async () => {
              const response = await fetch(`${bridge.url}/callbacks/tasks/${machine!.spec.taskId}/changes`, {
                method: "POST",
                headers: { authorization: `Bearer ${callbackToken}`, "content-type": "application/json" },
                body: JSON.stringify({
                  base,
                  commits: [{
                    message: "Reword the line",
                    author: { name: "Porter Runner", email: "runner@porter.test", date: "2026-12-01T10:00:00Z" },
                    changes: [{
                      _tag: "write",
                      path: "README.md",
                      mode: "100644",
                      content: Buffer.from(text).toString("base64")
                    }]
                  }]
                })
              })
              return { status: response.status, body: await response.json() as Record<string, unknown> }
            })
          const followUp = yield* publish(headSha, "# widgets\n\nA better draft.\n")
          assert.strictEqual(followUp.status, 200, JSON.stringify(followUp.body))
          const published = followUp.body as { commits: Array<string>; pullRequest: { number: number } }
          assert.strictEqual(published.pullRequest.number, pr.number, "the open pull request, not a new one")
          const feature = yield* rest<{ object: { sha: string } }>(
            admin.token,
            "GET",
            `/repos/${repo}/git/ref/heads/feature`
          )
          assert.strictEqual(feature.object.sha, published.commits[0])
          const tip = yield* rest<{ parents: Array<{ sha: string }> }>(
            admin.token,
            "GET",
            `/repos/${repo}/git/commits/${published.commits[0]}`
          )
          assert.deepStrictEqual(tip.parents.map((p) => p.sha), [headSha])

          // Closing (the PR is an issue) cancels the active task and says so in the same comment.
          yield* rest(admin.token, "PATCH", `/repos/${repo}/pulls/${pr.number}`, { state: "closed" })
          yield* Effect.promise(() => emulator.deliveries())
          const task = yield* store.get(machine!.spec.taskId)
          assert.strictEqual(task.state, "cancelled")
          const after = yield* rest<Array<Comment>>(admin.token, "GET", `/repos/${repo}/issues/${pr.number}/comments`)
          const statuses = after.filter((c) => Messages.parseMarker(c.body) !== undefined)
          assert.strictEqual(statuses.length, 1)
          assert.strictEqual(Messages.parseMarker(statuses[0]!.body)?.state, "cancelled")
          assert.include(statuses[0]!.body, "⏹")

          // An issue closed while its task runs: same thing, through `issues.closed`.
          const issue = yield* rest<{ number: number }>(admin.token, "POST", `/repos/${repo}/issues`, {
            title: "Another"
          })
          yield* rest(wendy.token, "POST", `/repos/${repo}/issues/${issue.number}/comments`, {
            body: "@porter claude go"
          })
          yield* Effect.promise(() => emulator.deliveries())
          const second = (yield* machines.created)[1]
          assert.isDefined(second)
          yield* rest(admin.token, "PATCH", `/repos/${repo}/issues/${issue.number}`, { state: "closed" })
          yield* Effect.promise(() => emulator.deliveries())
          assert.strictEqual((yield* store.get(second!.spec.taskId)).state, "cancelled")
        }).pipe(Effect.provide(porterOn(emulator, bridge.url)))
      }),
    { timeout: 60_000 }
  )
})
