// The web app in real Chromium against the Worker in workerd (local D1), the GitHub emulator and machines running the
// real runner with the `script` agent: people sign in through GitHub's (the emulator's) OAuth pages and use the app
// as they would. Every page is checked with axe-core (no serious or critical violation). With PORTER_SCREENSHOTS set
// to a directory, the accessibility test also saves a screenshot of each page there (docs/screenshots).
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { mkdirSync } from "node:fs"
import * as path from "node:path"
import type { Page } from "playwright-core"
import {
  accessibilityProblems,
  comment,
  eventually,
  openIssue,
  signIn,
  Stack,
  taskOf,
  tasksOf
} from "./support/Chromium.ts"
import * as Chromium from "./support/Chromium.ts"

const busy = "@porter script keep busy\n\n```porter-script\nsleep 120\n```"
const slowChange =
  "@porter script add a changelog line\n\n```porter-script\nsleep 4\nappend CHANGELOG.md One more line\nprint added a line\n```"

/** The state the task page shows now. */
const shownState = (page: Page) =>
  Effect.promise(async () => ((await page.locator("[role=status] .state").first().textContent()) ?? "").trim())

/** Waits (without reloading) until the page shows `state`. */
const untilShown = (page: Page, state: string) =>
  eventually(
    `the page to show ${state}`,
    Effect.map(shownState(page), (shown) => shown.endsWith(state) ? Option.some(shown) : Option.none())
  )

/** A POST from the page's own script (a forged form: the browser sends the session cookie). */
const postFrom = (page: Page, target: string, withCsrf: boolean) =>
  Effect.promise(() =>
    page.evaluate(async ({ target, withCsrf }) => {
      const doc = (globalThis as unknown as { document: { querySelector: (s: string) => { value: string } | null } })
        .document
      const csrf = doc.querySelector("input[name=_csrf]")?.value ?? ""
      const response = await fetch(target, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: withCsrf ? `_csrf=${encodeURIComponent(csrf)}` : ""
      })
      return response.status
    }, { target, withCsrf })
  )

const terminal = (issue: number) =>
  eventually(
    `the task on #${issue} to end`,
    Effect.map(tasksOf(issue), (tasks) =>
      Option.fromNullishOr(tasks.find((t) =>
        ["succeeded", "failed", "cancelled", "timed_out"].includes(t.state)
      )))
  )

layer(Chromium.layer, { timeout: "180 seconds", excludeTestServices: true })("the web app in Chromium", (it) => {
  it.effect(
    "a writer signs in, sees the task a comment made and watches it go running → succeeded without reloading",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { writer } = yield* Stack
        const { page } = yield* signIn(writer)
        const issue = yield* openIssue("Add a changelog")
        yield* comment(writer, issue.number, slowChange)
        const task = yield* taskOf(issue.number)

        yield* Effect.promise(() => page.goto("/app/tasks"))
        const link = page.getByRole("link", { name: task.id.slice(-8) })
        yield* Effect.promise(() => link.click())
        yield* Effect.promise(() => page.waitForURL(`**/app/tasks/${task.id}`))
        let navigations = 0
        page.on("framenavigated", (frame) => {
          if (frame === page.mainFrame()) navigations++
        })
        const seen = new Set<string>()
        yield* eventually(
          "the page to show succeeded",
          Effect.map(shownState(page), (shown) => {
            seen.add(shown.replace(/^\W+\s*/, ""))
            return shown.endsWith("succeeded") ? Option.some(shown) : Option.none()
          }),
          "90 seconds"
        )
        assert.include([...seen], "running", `states seen: ${[...seen].join(", ")}`)
        assert.strictEqual(navigations, 0, "the page was not reloaded")
        const pull = yield* Effect.promise(() => page.locator("dd a[href*='/pull/']").count())
        assert.strictEqual(pull, 1, "the pull request link")
        const timeline = yield* Effect.promise(() => page.locator("table").last().textContent())
        for (const step of ["queued", "provisioning", "running", "succeeded"]) assert.include(timeline, step)
      })),
    120_000
  )

  it.effect(
    "a writer cancels a running task and retries the ended one; a POST without the CSRF token is refused",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { writer } = yield* Stack
        const { page } = yield* signIn(writer)
        const issue = yield* openIssue("Keep a machine busy")
        yield* comment(writer, issue.number, busy)
        const task = yield* taskOf(issue.number)
        yield* Effect.promise(() => page.goto(`/app/tasks/${task.id}`))
        yield* untilShown(page, "running")

        assert.strictEqual(yield* postFrom(page, `/app/tasks/${task.id}/cancel`, false), 403)
        assert.strictEqual((yield* tasksOf(issue.number))[0]!.state, "running", "nothing happened")

        yield* Effect.promise(() => page.getByRole("button", { name: "Cancel task" }).click())
        // Its machine hands over the work so far first (a checkpoint), then the task ends cancelled.
        yield* Effect.promise(() => page.waitForURL(/done=(cancelled|stopping)/))
        assert.match(
          (yield* Effect.promise(() => page.textContent("main"))) ?? "",
          /The task was cancelled\.|The task is stopping/
        )
        yield* untilShown(page, "cancelled")
        assert.strictEqual(yield* shownState(page), "■ cancelled")

        yield* Effect.promise(() => page.getByRole("button", { name: "Retry task" }).click())
        yield* Effect.promise(() => page.waitForURL(/done=retried/))
        const retryId = /\/app\/tasks\/(task_\w+)/.exec(page.url())![1]!
        assert.notStrictEqual(retryId, task.id)
        assert.strictEqual((yield* tasksOf(issue.number)).length, 2)
        // The retry runs the same request again: stop it too.
        yield* untilShown(page, "running")
        yield* Effect.promise(() => page.getByRole("button", { name: "Cancel task" }).click())
        yield* Effect.promise(() => page.waitForURL(/done=(cancelled|stopping)/))
        yield* untilShown(page, "cancelled")
      })),
    120_000
  )

  it.effect(
    "a reader sees tasks but no buttons, and a forged POST is refused; an outsider sees nothing, also by URL",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { reader, outsider, repo, writer } = yield* Stack
        const issue = yield* openIssue("Read only")
        yield* comment(writer, issue.number, "@porter script note it")
        const task = yield* terminal(issue.number)

        const { page } = yield* signIn(reader)
        yield* Effect.promise(() => page.goto(`/app/tasks?repo=${encodeURIComponent(repo)}`))
        assert.strictEqual(yield* Effect.promise(() => page.getByRole("link", { name: task.id.slice(-8) }).count()), 1)
        yield* Effect.promise(() => page.goto(`/app/tasks/${task.id}`))
        assert.strictEqual(
          yield* Effect.promise(() => page.getByRole("button", { name: /Cancel task|Retry task/ }).count()),
          0
        )
        assert.strictEqual(yield* postFrom(page, `/app/tasks/${task.id}/retry`, true), 404)
        assert.strictEqual((yield* tasksOf(issue.number)).length, 1, "no retry was made")

        const other = yield* signIn(outsider)
        yield* Effect.promise(() => other.page.goto(`/app/tasks?repo=${encodeURIComponent(repo)}`))
        assert.strictEqual(
          yield* Effect.promise(() => other.page.getByRole("link", { name: task.id.slice(-8) }).count()),
          0
        )
        const direct = yield* Effect.promise(() => other.page.goto(`/app/tasks/${task.id}`))
        assert.strictEqual(direct?.status(), 404)
        const installations = yield* Effect.promise(() => other.page.goto("/app/installations"))
        assert.notInclude(yield* Effect.promise(() => installations!.text()), repo)
      })),
    120_000
  )

  it.effect(
    "a user sets a key, a run uses it (the task shows the key's scope), and the value is in no page or response",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { github, repo, writer } = yield* Stack
        const value = `sk-ant-browser-${createHash("sha256").update(String(Date.now())).digest("hex").slice(0, 24)}`
        const { context, page } = yield* signIn(writer)
        const bodies: Array<Promise<string>> = []
        context.on("response", (response) => {
          bodies.push(response.text().catch(() => ""))
        })

        yield* Effect.promise(async () => {
          await page.getByRole("link", { name: "My keys" }).click()
          await page.getByLabel(/^Name/).fill("ANTHROPIC_API_KEY")
          await page.getByLabel("Value").fill(value)
          await page.getByRole("button", { name: "Save key" }).click()
          await page.waitForURL(/saved=ANTHROPIC_API_KEY/)
        })
        const fingerprint = createHash("sha256").update(value).digest("hex").slice(0, 8)
        assert.include(yield* Effect.promise(() => page.textContent("main")), fingerprint)

        const issue = yield* openIssue("Say hello")
        yield* comment(writer, issue.number, "@porter claude say hello")
        const task = yield* taskOf(issue.number)
        yield* Effect.promise(() => page.goto(`/app/tasks/${task.id}`))
        const keys = yield* eventually(
          "the task's keys",
          Effect.promise(async () => {
            const row = page.locator("tr", { hasText: "ANTHROPIC_API_KEY" })
            return (await row.count()) > 0 ? Option.some((await row.first().textContent()) ?? "") : Option.none()
          })
        )
        assert.include(keys, "your key")
        assert.include(keys, `user:${writer.id}`)
        // The run needs no more: stop it (the Claude CLI has no model to talk to here).
        if (yield* Effect.promise(() => page.getByRole("button", { name: "Cancel task" }).count())) {
          yield* Effect.promise(() => page.getByRole("button", { name: "Cancel task" }).click())
          yield* Effect.promise(() => page.waitForURL(/done=/))
        }

        const seen = yield* Effect.promise(() => Promise.all(bodies))
        assert.isAbove(seen.length, 5)
        for (const body of seen) assert.notInclude(body, value)
        const thread = yield* Effect.promise(() =>
          fetch(`${github.url}/repos/${repo}/issues/${issue.number}/comments`, {
            headers: { authorization: `Bearer ${github.admin.token}` }
          }).then((r) => r.text())
        )
        assert.notInclude(thread, value)
      })),
    120_000
  )

  it.effect(
    "every page passes axe-core (no serious or critical violation)",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { browser, owner, repo, url } = yield* Stack
        const shots = process.env["PORTER_SCREENSHOTS"]
        if (shots !== undefined) mkdirSync(shots, { recursive: true })
        const check = (page: Page, name: string) =>
          Effect.gen(function*() {
            const problems = yield* accessibilityProblems(page)
            assert.deepStrictEqual(problems, [], `${name}: ${JSON.stringify(problems)}`)
            if (shots !== undefined) {
              yield* Effect.promise(() => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true }))
            }
          })

        const anonymous = yield* Effect.acquireRelease(
          Effect.promise(() => browser.newContext({ baseURL: url, viewport: { width: 1200, height: 800 } })),
          (c) => Effect.promise(() => c.close())
        )
        const signInPage = yield* Effect.promise(() => anonymous.newPage())
        yield* Effect.promise(() => signInPage.goto("/app"))
        yield* check(signInPage, "sign-in")

        const issue = yield* openIssue("Screenshots")
        yield* comment(owner, issue.number, slowChange)
        const task = yield* terminal(issue.number)

        const { page } = yield* signIn(owner)
        yield* Effect.promise(async () => {
          await page.setViewportSize({ width: 1200, height: 800 })
          await page.goto("/app/keys")
          await page.getByLabel(/^Name/).fill("OPENAI_API_KEY")
          await page.getByLabel("Value").fill("sk-screenshot-not-a-real-key")
          await page.getByRole("button", { name: "Save key" }).click()
          await page.waitForURL(/saved=/)
        })
        // My tokens, as it shows a token just made (once).
        yield* Effect.promise(async () => {
          await page.goto("/app/tokens")
          await page.getByLabel(/^Name/).fill("laptop Claude Code")
          await page.getByRole("button", { name: "Make token" }).click()
          await page.waitForSelector("#token-value")
        })
        yield* check(page, "tokens")
        const pages: ReadonlyArray<readonly [string, string]> = [
          ["tasks", "/app/tasks"],
          ["task", `/app/tasks/${task.id}`],
          ["transcript", `/app/tasks/${task.id}/transcript`],
          ["keys", "/app/keys"],
          ["installations", "/app/installations"],
          ["settings", `/app/repos/${repo}/settings`],
          ["operator", "/app/operator"],
          ["not-found", "/app/tasks/task_00000000000000000000000000"]
        ]
        for (const [name, target] of pages) {
          yield* Effect.promise(() => page.goto(target))
          yield* check(page, name)
        }
      })),
    120_000
  )
})
