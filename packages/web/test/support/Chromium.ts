/**
 * The browser tier's stack: Porter's local stack (the Worker in workerd on a local D1, the GitHub emulator with the
 * App's OAuth client, machines running the real runner) with people on a repository — its owner (the operator), a
 * writer, a reader and someone without access — and real Chromium (Debian's, `PORTER_CHROMIUM` for another) driven
 * by playwright-core. Each person browses in a context of their own (cookies apart), signed in through the
 * emulator's OAuth pages like a user would.
 */
import { GitHubEmulator } from "@porter/testkit"
import * as LocalStack from "@porter/worker/stack"
import { Context, Duration, Effect, Layer, Option, Schedule } from "effect"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"

export const ADMIN_TOKEN = "porter-browser-admin-token-0123456789abcdef"

export interface Person {
  readonly login: string
  readonly id: number
  readonly token: string
}

export interface TaskView {
  readonly id: string
  readonly state: string
  readonly issueNumber: number
}

export class Stack extends Context.Service<Stack, {
  readonly stack: LocalStack.LocalStack
  readonly github: GitHubEmulator.Emulator
  readonly browser: Browser
  readonly url: string
  readonly repo: string
  readonly owner: Person
  readonly writer: Person
  readonly reader: Person
  readonly outsider: Person
}>()("@porter/web/test/Chromium/Stack") {}

const rest = <A = unknown>(
  github: GitHubEmulator.Emulator,
  token: string,
  method: string,
  path: string,
  body?: unknown
) => Effect.promise(() => GitHubEmulator.rest<A>(token, method, `${github.url}${path}`, body))

export const layer: Layer.Layer<Stack> = Layer.effect(
  Stack,
  Effect.gen(function*() {
    const stack = yield* LocalStack.start({
      adminToken: ADMIN_TOKEN,
      workerEnv: { PORTER_HEARTBEAT_INTERVAL_MS: "500", PORTER_HEARTBEAT_TIMEOUT_MS: "10000" }
    }).pipe(Effect.orDie)
    const github = stack.github!
    const owner = github.admin
    yield* rest(github, owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    const reader = yield* Effect.promise(() => github.createUser("rita"))
    const outsider = yield* Effect.promise(() => github.createUser("olga"))
    yield* rest(github, owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, { permission: "push" })
    yield* rest(github, owner.token, "PUT", `/repos/${repo}/collaborators/${reader.login}`, { permission: "pull" })
    const browser = yield* Effect.acquireRelease(
      Effect.promise(() => chromium.launch({ executablePath: process.env["PORTER_CHROMIUM"] ?? "/usr/bin/chromium" })),
      (b) => Effect.promise(() => b.close())
    )
    return Stack.of({ stack, github, browser, url: stack.worker.url, repo, owner, writer, reader, outsider })
  })
)

/** A new issue on the repository, opened by its owner. */
export const openIssue = (title: string) =>
  Effect.gen(function*() {
    const { github, owner, repo } = yield* Stack
    return yield* rest<{ readonly number: number }>(github, owner.token, "POST", `/repos/${repo}/issues`, { title })
  })

/** `person` comments (the emulator delivers the signed webhook to the Worker). */
export const comment = (person: Person, issue: number, body: string) =>
  Effect.gen(function*() {
    const { github, repo } = yield* Stack
    yield* rest(github, person.token, "POST", `/repos/${repo}/issues/${issue}/comments`, { body })
    yield* Effect.promise(() => github.deliveries())
  })

/** The tasks of an issue (admin API), newest first. */
export const tasksOf = (issue: number) =>
  Effect.gen(function*() {
    const { repo, url } = yield* Stack
    const answer = yield* Effect.promise(async () => {
      const response = await fetch(`${url}/admin/tasks?repo=${encodeURIComponent(repo)}&limit=500`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` }
      })
      return await response.json() as { readonly tasks: ReadonlyArray<TaskView> }
    })
    return answer.tasks.filter((task) => task.issueNumber === issue)
  })

/** Polls `probe` every 200 ms until it yields `Some` (fails the test after `timeout`). */
export const eventually = <A, E, R>(
  what: string,
  probe: Effect.Effect<Option.Option<A>, E, R>,
  timeout: Duration.Input = "45 seconds"
) =>
  probe.pipe(
    Effect.flatMap((found) => Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail("pending" as const)),
    Effect.retry(Schedule.spaced("200 millis")),
    Effect.timeoutOption(timeout),
    Effect.flatMap((found) =>
      Option.isSome(found) ? Effect.succeed(found.value) : Effect.die(new Error(`timed out waiting for ${what}`))
    )
  )

/** The issue's first task, once it exists. */
export const taskOf = (issue: number) =>
  eventually(`a task on #${issue}`, Effect.map(tasksOf(issue), (tasks) => Option.fromNullishOr(tasks.at(-1))))

/** A browser context for `person`, signed in through the emulator's OAuth pages; its page is on the task list. */
export const signIn = (person: Person) =>
  Effect.gen(function*() {
    const { browser, url } = yield* Stack
    const context: BrowserContext = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext({ baseURL: url })),
      (c) => Effect.promise(() => c.close())
    )
    const page: Page = yield* Effect.promise(() => context.newPage())
    yield* Effect.promise(async () => {
      await page.goto("/app")
      await page.getByRole("link", { name: "Sign in with GitHub" }).click()
      await page.getByLabel("Username").fill(person.login)
      await page.getByRole("button", { name: "Sign in and authorize" }).click()
      await page.waitForURL(/\/app\/tasks/)
    })
    return { context, page }
  })

let axeSource: string | undefined

/** axe-core's serious and critical violations on the page (rule id and the first offending element). */
export const accessibilityProblems = (page: Page) =>
  Effect.promise(async () => {
    axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")
    // Evaluated through the DevTools protocol, so the page's content security policy does not stop it.
    await page.evaluate(axeSource)
    const result = await page.evaluate(async () => {
      const axe = (globalThis as unknown as {
        axe: {
          run: () => Promise<{
            violations: Array<{ id: string; impact?: string | null; nodes: Array<{ target: Array<unknown> }> }>
          }>
        }
      }).axe
      const { violations } = await axe.run()
      return violations.map((v) => ({ id: v.id, impact: v.impact ?? "", target: String(v.nodes[0]?.target ?? "") }))
    })
    return result.filter((v) => v.impact === "serious" || v.impact === "critical")
  })
