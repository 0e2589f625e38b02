/**
 * The bot against the GitHub emulator: the emulator (its App, a repository with a write collaborator) and the bot
 * pointed at it in App mode, machines being child processes that run the real Porter runner. People act through
 * the emulator's REST API, as on GitHub; the tests look at what users see.
 */
import { Bot } from "@porter-examples/embed-node-bot"
import { GitHubEmulator } from "@porter/testkit"
import { Context, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { createHmac } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const ADMIN_TOKEN = "embed-bot-admin-token-0123456789"
export const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}` }

export interface Person {
  readonly login: string
  readonly token: string
}

export interface Comment {
  readonly id: number
  readonly body: string
  readonly user: { readonly login: string }
}

export class Stack extends Context.Service<Stack, {
  readonly github: GitHubEmulator.Emulator
  readonly bot: Bot.Bot["Service"]
  /** `owner/name` of the repository the tests work on. */
  readonly repo: string
  readonly owner: Person
  /** A collaborator with write (push) access. */
  readonly writer: Person
}>()("embed-node-bot/test/Stack") {}

/** An HTTP call; the status and the body (JSON when it parses, else text). */
export const call = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body, text }
  })

/** A REST call to the emulator; a non-2xx answer fails the test with GitHub's message. */
export const restAt = <A = unknown>(base: string, token: string, method: string, path: string, body?: unknown) =>
  Effect.promise(() => GitHubEmulator.rest<A>(token, method, `${base}${path}`, body))

export const rest = <A = unknown>(token: string, method: string, path: string, body?: unknown) =>
  Stack.use(({ github }) => restAt<A>(github.url, token, method, path, body))

/** Porter's comments on an issue (those of the App's bot), oldest first. */
export const porterComments = (issue: number) =>
  Effect.gen(function*() {
    const { github, owner, repo } = yield* Stack
    const path = `/repos/${repo}/issues/${issue}/comments?per_page=100`
    const all = yield* rest<ReadonlyArray<Comment>>(owner.token, "GET", path)
    return all.filter((comment) => comment.user.login === github.app.botLogin)
  })

/** A call to the bot's admin API. */
export const admin = <A = unknown>(path: string) =>
  Effect.gen(function*() {
    const { bot } = yield* Stack
    const answer = yield* call(`${bot.url}${path}`, { headers: adminHeaders })
    if (answer.status !== 200) return yield* Effect.die(new Error(`GET ${path}: ${answer.status} ${answer.text}`))
    return answer.body as A
  })

/** `X-Hub-Signature-256` of `body` with `secret`, as GitHub computes it. */
export const sign = (secret: string, body: string) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`

/** Polls `probe` every 200 ms until it yields `Some`; dies with `what` after `timeout`. */
export const eventually = <A, E, R>(
  what: string,
  probe: Effect.Effect<Option.Option<A>, E, R>,
  timeout: Duration.Input
) =>
  probe.pipe(
    Effect.flatMap((found) => (Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail("pending" as const))),
    Effect.retry(Schedule.spaced("200 millis")),
    Effect.timeoutOption(timeout),
    Effect.flatMap(Option.match({
      onNone: () => Effect.die(new Error(`timed out waiting for ${what}`)),
      onSome: Effect.succeed
    }))
  )

export const layer: Layer.Layer<Stack> = Layer.effect(
  Stack,
  Effect.gen(function*() {
    const github = yield* GitHubEmulator.start()
    const owner = github.admin
    yield* restAt(github.url, owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    const collaborator = `/repos/${repo}/collaborators/${writer.login}`
    yield* restAt(github.url, owner.token, "PUT", collaborator, { permission: "push" })

    // The bot's default storage, SQLite in a data directory (a temporary one here, removed afterwards).
    const dataDir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "embed-bot-data-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const services = yield* Layer.build(Bot.layer({
      port: 0,
      storage: { _tag: "sqlite", dataDir },
      github: {
        apiUrl: github.url,
        credentials: {
          _tag: "App",
          appId: String(github.app.id),
          privateKey: Redacted.make(github.app.privateKeyPkcs1)
        },
        webhook: { secret: Redacted.make(github.app.webhookSecret) }
      },
      adminToken: Redacted.make(ADMIN_TOKEN),
      logRequests: false
    })).pipe(Effect.orDie)
    const bot = Context.get(services, Bot.Bot)
    yield* Effect.promise(() => github.setWebhook(bot.webhookUrl))
    return Stack.of({ github, bot, repo, owner, writer })
  })
)
