import { assert, describe, it } from "@effect/vitest"
import { sign } from "@octokit/webhooks-methods"
import { Diagnostics, Event, HttpApp, Porter, TaskStore, WebhookIntake } from "@porter/core"
import { GitHubWebhooks } from "@porter/github"
import { TestPorter } from "@porter/testing"
import { ConfigProvider, Effect, Exit, Layer, Redacted } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { readdirSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

const SECRET = "It's a Secret to Everybody"

interface Example {
  readonly name: string
  readonly examples: ReadonlyArray<Record<string, unknown>>
}

// Every copy of the examples the package ships (GitHub.com and each GHES version).
const examplesRoot = dirname(createRequire(import.meta.url).resolve("@octokit/webhooks-examples/package.json"))
const exampleSets = readdirSync(examplesRoot, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => ({
    dir: entry.name,
    events: JSON.parse(readFileSync(join(examplesRoot, entry.name, "index.json"), "utf8")) as ReadonlyArray<Example>
  }))
const examplesOf = (event: string, action: string) =>
  exampleSets.flatMap(({ dir, events }) =>
    events.filter((e) => e.name === event).flatMap((e) =>
      e.examples.filter((x) => x.action === action).map((payload, i) => ({
        label: `${dir} ${event}.${action} #${i}`,
        payload
      }))
    )
  )
const [issueComment] = examplesOf("issue_comment", "created")

const intake = GitHubWebhooks.make({ secret: Redacted.make(SECRET) })

const delivery = (
  event: string,
  payload: unknown,
  options: { secret?: string; headers?: Record<string, string> } = {}
) =>
  Effect.promise(async () => {
    const body = typeof payload === "string" ? payload : JSON.stringify(payload)
    return {
      body,
      headers: {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "x-hub-signature-256": await sign(options.secret ?? SECRET, body),
        ...options.headers
      } as Record<string, string | undefined>
    } satisfies WebhookIntake.RawWebhook
  })

const parse = (raw: WebhookIntake.RawWebhook) => Effect.flatMap(intake, (i) => i.parse(raw))

/** The value at a dotted path of a JSON payload. */
const at = (value: unknown, path: string): unknown =>
  path === ""
    ? value
    : path.split(".").reduce<unknown>((v, key) => (v as Record<string, unknown> | null | undefined)?.[key], value)

/** A copy of `payload` with the dotted paths set. */
const patched = (payload: unknown, changes: Record<string, unknown>) => {
  const copy = structuredClone(payload) as Record<string, unknown>
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.split(".")
    const parent = at(copy, keys.slice(0, -1).join(".")) as Record<string, unknown>
    parent[keys[keys.length - 1]!] = value
  }
  return copy
}

const withComment = (changes: Record<string, unknown>) => patched(issueComment!.payload, changes)

describe("GitHubWebhooks: signatures", () => {
  it.effect("GitHub's documented test vector verifies", () =>
    Effect.gen(function*() {
      const i = yield* intake
      const result = yield* Effect.flip(i.parse({
        headers: {
          "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
          "x-github-event": "ping",
          "x-github-delivery": "d-1"
        },
        body: "Hello, World!"
      }))
      // Verified, so the (non-JSON) body is then judged: 400, not 401.
      assert.strictEqual(result._tag, "WebhookMalformed")
    }))

  it.effect("refuses a wrong secret, a truncated, garbled or missing signature with 401, before reading the body", () =>
    Effect.gen(function*() {
      const good = yield* delivery("issue_comment", issueComment!.payload)
      const sig = good.headers["x-hub-signature-256"]!
      const wrongSecret = yield* delivery("issue_comment", issueComment!.payload, { secret: "another secret" })
      const cases: Array<[string, WebhookIntake.RawWebhook]> = [
        ["wrong secret", wrongSecret],
        ["truncated", { ...good, headers: { ...good.headers, "x-hub-signature-256": sig.slice(0, -2) } }],
        ["one hex digit short", { ...good, headers: { ...good.headers, "x-hub-signature-256": sig.slice(0, -1) } }],
        ["garbled", { ...good, headers: { ...good.headers, "x-hub-signature-256": "sha256=zz" + sig.slice(9) } }],
        ["sha1 only", {
          ...good,
          headers: { ...good.headers, "x-hub-signature-256": undefined, "x-hub-signature": "sha1=00" }
        }],
        ["missing", { ...good, headers: { ...good.headers, "x-hub-signature-256": undefined } }],
        ["empty", { ...good, headers: { ...good.headers, "x-hub-signature-256": "" } }],
        ["body changed", { ...good, body: good.body.replace("Codertocat", "Codertocaz") }],
        ["not JSON and unsigned", {
          ...good,
          body: "{nope",
          headers: { ...good.headers, "x-hub-signature-256": undefined }
        }]
      ]
      for (const [label, raw] of cases) {
        const error = yield* Effect.flip(parse(raw))
        assert.strictEqual(error._tag, "WebhookUnauthorized", label)
      }
      assert.strictEqual((yield* parse(good))._tag, "CommentCreated")
    }))

  it.effect("both HMAC implementations (node:crypto, effect's Mac on WebCrypto with the key built once) agree and fail closed", () =>
    Effect.gen(function*() {
      const body = "Hello, World!"
      const digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
      for (const platform of ["node", "webcrypto"] as const) {
        const verifier = yield* GitHubWebhooks.makeVerifier(SECRET, platform)
        const other = yield* GitHubWebhooks.makeVerifier("another secret", platform)
        const check = (verify: typeof verifier, b: string, d: string) => {
          const valid = verify(b, d)
          return typeof valid === "boolean" ? Effect.succeed(valid) : valid
        }
        for (let round = 0; round < 2; round++) {
          assert.isTrue(yield* check(verifier, body, digest), `${platform}: GitHub's test vector`)
          assert.isFalse(yield* check(verifier, `${body} `, digest), `${platform}: body changed`)
          assert.isFalse(yield* check(verifier, body, `${digest.slice(0, -1)}0`), `${platform}: digest changed`)
          assert.isFalse(yield* check(verifier, body, digest.slice(0, -2)), `${platform}: digest truncated`)
          assert.isFalse(yield* check(verifier, body, `${digest.slice(0, -2)}zz`), `${platform}: not hex`)
          assert.isFalse(yield* check(other, body, digest), `${platform}: secret`)
        }
      }
    }))

  it.effect("refuses to be built with an empty secret, and layerConfig fails closed without GITHUB_WEBHOOK_SECRET", () =>
    Effect.gen(function*() {
      const empty = yield* Effect.exit(GitHubWebhooks.make({ secret: Redacted.make("  ") }))
      assert.isTrue(Exit.isFailure(empty))
      for (
        const env of [{}, { GITHUB_WEBHOOK_SECRET: "" }, { GITHUB_WEBHOOK_SECRET: "   " }] as Array<
          Record<string, string>
        >
      ) {
        const built = yield* Effect.exit(
          Layer.build(GitHubWebhooks.layerConfig).pipe(
            Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
            Effect.scoped
          )
        )
        assert.isTrue(Exit.isFailure(built), JSON.stringify(env))
      }
      const ok = yield* Effect.gen(function*() {
        const i = yield* WebhookIntake.WebhookIntake
        return yield* i.parse(yield* delivery("ping", { zen: "Keep it logically awesome." }))
      }).pipe(
        Effect.provide(GitHubWebhooks.layerConfig),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { GITHUB_WEBHOOK_SECRET: SECRET } })))
      )
      assert.deepStrictEqual(ok, new WebhookIntake.Ignored({ reason: "ping" }))
    }))
})

describe("GitHubWebhooks: payloads", () => {
  it.effect("every issue_comment.created example in @octokit/webhooks-examples decodes", () =>
    Effect.gen(function*() {
      const all = examplesOf("issue_comment", "created")
      assert.isAtLeast(all.length, 5)
      for (const { label, payload } of all) {
        const event = yield* parse(yield* delivery("issue_comment", payload))
        assert.strictEqual(event._tag, "CommentCreated", label)
        if (event._tag !== "CommentCreated") continue
        assert.strictEqual(event.repo.fullName, at(payload, "repository.full_name"), label)
        assert.strictEqual(event.issueNumber, at(payload, "issue.number"), label)
        assert.strictEqual(event.commentId, at(payload, "comment.id"), label)
        assert.strictEqual(event.body, at(payload, "comment.body"), label)
        assert.strictEqual(event.author.login, at(payload, "comment.user.login"), label)
        assert.strictEqual(event.kind, "issue_comment", label)
        assert.strictEqual(event.isPullRequest, at(payload, "issue.pull_request") !== undefined, label)
        assert.strictEqual(event.installationId, at(payload, "installation.id"), label)
        assert.strictEqual(event.deliveryId, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
      }
    }))

  it.effect("a comment on a pull request's conversation is marked isPullRequest", () =>
    Effect.gen(function*() {
      const payload = withComment({
        "issue.pull_request": { url: "https://api.github.com/repos/Codertocat/Hello-World/pulls/1", merged_at: null }
      })
      const event = yield* parse(yield* delivery("issue_comment", payload))
      assert.isTrue(event._tag === "CommentCreated" && event.isPullRequest && event.pullRequest === undefined)
    }))

  it.effect("pull_request_review_comment.created: kind review_comment, PR number, head and base", () =>
    Effect.gen(function*() {
      const examples = examplesOf("pull_request_review_comment", "created")
      assert.isAtLeast(examples.length, 1)
      for (const { label, payload } of examples) {
        const event = yield* parse(yield* delivery("pull_request_review_comment", payload))
        assert.strictEqual(event._tag, "CommentCreated", label)
        if (event._tag !== "CommentCreated") continue
        assert.strictEqual(event.kind, "review_comment")
        assert.isTrue(event.isPullRequest)
        assert.strictEqual(event.issueNumber, at(payload, "pull_request.number"))
        assert.strictEqual(event.commentId, at(payload, "comment.id"))
        assert.deepStrictEqual(
          { ...event.pullRequest },
          {
            headBranch: at(payload, "pull_request.head.ref"),
            headRepoFullName: at(payload, "pull_request.head.repo.full_name"),
            baseBranch: at(payload, "pull_request.base.ref")
          }
        )
        assert.strictEqual(event.issue.title, at(payload, "pull_request.title"))
      }
    }))

  it.effect("check_suite.completed and workflow_run.completed: a failure on a PR's branch is ChecksFailed, else ignored", () =>
    Effect.gen(function*() {
      const suites = examplesOf("check_suite", "completed")
      const runs = examplesOf("workflow_run", "completed")
      assert.isAtLeast(suites.length + runs.length, 4)
      // As GitHub sends them (successes, or on branches without a pull request): nothing for Porter.
      const sent = [
        ...suites.map((x) => ({ ...x, event: "check_suite" })),
        ...runs.map((x) => ({ ...x, event: "workflow_run" }))
      ]
      for (const { event, label, payload } of sent) {
        assert.strictEqual((yield* parse(yield* delivery(event, payload)))._tag, "Ignored", label)
      }
      const suite = patched(suites[0]!.payload, { "check_suite.conclusion": "failure" })
      const failed = yield* parse(yield* delivery("check_suite", suite))
      assert.strictEqual(failed._tag, "ChecksFailed")
      if (failed._tag === "ChecksFailed") {
        assert.deepStrictEqual(
          [failed.source, failed.checkSuiteId, failed.headBranch, failed.conclusion, [...failed.pullRequests]],
          ["check_suite", at(suite, "check_suite.id"), "changes", "failure", [2]]
        )
        assert.strictEqual(failed.headSha, at(suite, "check_suite.head_sha"))
        assert.strictEqual(failed.name, at(suite, "check_suite.app.name"))
      }
      const run = patched(
        runs.find((x) => (at(x.payload, "workflow_run.pull_requests") as Array<unknown>).length > 0)!.payload,
        {
          "workflow_run.conclusion": "timed_out",
          "workflow_run.head_branch": "changes",
          "repository.id": 186853002
        }
      )
      const timedOut = yield* parse(yield* delivery("workflow_run", run))
      assert.strictEqual(timedOut._tag, "ChecksFailed")
      if (timedOut._tag === "ChecksFailed") {
        assert.deepStrictEqual(
          [timedOut.source, timedOut.checkSuiteId, timedOut.conclusion, [...timedOut.pullRequests]],
          ["workflow_run", at(run, "workflow_run.check_suite_id"), "timed_out", [2]]
        )
      }
      // Cancelled is not a failure to fix; a fork's pull request (another base repository) is not this one's.
      const cancelled = yield* parse(
        yield* delivery("check_suite", patched(suite, { "check_suite.conclusion": "cancelled" }))
      )
      assert.deepStrictEqual(cancelled, new WebhookIntake.Ignored({ reason: "check_suite ended cancelled" }))
      const elsewhere = patched(suite, { "repository.id": 1 })
      assert.strictEqual((yield* parse(yield* delivery("check_suite", elsewhere)))._tag, "Ignored")
      const requested = yield* parse(yield* delivery("check_suite", patched(suite, { action: "requested" })))
      assert.strictEqual(requested._tag, "Ignored")
    }))

  it.effect("issues.closed and pull_request.closed become IssueClosed", () =>
    Effect.gen(function*() {
      const issueClosed = examplesOf("issues", "closed")[0]?.payload ??
        { ...(examplesOf("issues", "opened")[0]!.payload), action: "closed" }
      const closed = yield* parse(yield* delivery("issues", issueClosed))
      assert.strictEqual(closed._tag, "IssueClosed")
      if (closed._tag === "IssueClosed") {
        assert.strictEqual(closed.issueNumber, at(issueClosed, "issue.number"))
        assert.strictEqual(closed.actor.login, at(issueClosed, "sender.login"))
      }
      for (const { label, payload } of examplesOf("pull_request", "closed")) {
        const event = yield* parse(yield* delivery("pull_request", payload))
        assert.strictEqual(event._tag, "IssueClosed", label)
        if (event._tag === "IssueClosed") assert.strictEqual(event.issueNumber, at(payload, "pull_request.number"))
      }
    }))

  it.effect("ping, installation events, other events and other actions are ignored", () =>
    Effect.gen(function*() {
      const cases: Array<[string, unknown]> = [
        ...examplesOf("ping", "").slice(0, 1).map((x) => ["ping", x.payload] as [string, unknown]),
        ["ping", { zen: "Design for failure.", hook_id: 1 }],
        ...examplesOf("installation", "created").map((x) => ["installation", x.payload] as [string, unknown]),
        ["installation_repositories", { action: "added" }],
        ["push", { ref: "refs/heads/main" }],
        ["issue_comment", withComment({ action: "edited" })],
        ["issue_comment", withComment({ action: "deleted" })],
        ["issues", { ...(examplesOf("issues", "opened")[0]!.payload) }],
        ["pull_request", examplesOf("pull_request", "opened")[0]!.payload],
        ["pull_request_review_comment", examplesOf("pull_request_review_comment", "edited")[0]!.payload]
      ]
      for (const [event, payload] of cases) {
        const result = yield* parse(yield* delivery(event, payload))
        assert.strictEqual(result._tag, "Ignored", event)
      }
    }))

  it.effect("comments by bots (type Bot, [bot] logins, Porter's App) and Porter's own marked comments are ignored", () =>
    Effect.gen(function*() {
      const bots = [
        withComment({ "sender.type": "Bot", "comment.user.type": "Bot" }),
        withComment({ "sender.login": "porter[bot]", "comment.user.login": "porter[bot]" }),
        withComment({ "comment.user.login": "dependabot[bot]" }),
        withComment({ "comment.body": "⏳ queued\n<!-- porter:task {\"id\":\"task_x\",\"state\":\"queued\"} -->" })
      ]
      for (const payload of bots) {
        const result = yield* parse(yield* delivery("issue_comment", payload))
        assert.strictEqual(result._tag, "Ignored")
      }
      const review = patched(examplesOf("pull_request_review_comment", "created")[0]!.payload, { "sender.type": "Bot" })
      assert.strictEqual((yield* parse(yield* delivery("pull_request_review_comment", review)))._tag, "Ignored")
    }))

  it.effect("a verified body that is not JSON, or does not decode, is malformed (400) with a short reason", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string | unknown, string]> = [
        ["issue_comment", "{not json", "body is not JSON"],
        ["issue_comment", "[1,2]", "not a JSON object"],
        ["issue_comment", { action: "created", issue: { number: "one" } }, "issue_comment payload"],
        [
          "issues",
          { action: "closed", repository: { name: "r", owner: { login: "o" } }, sender: { login: "u", id: 1 } },
          "missing issue"
        ],
        ["issue_comment", withComment({ "repository.name": "bad name/with slash" }), "repository"]
      ]
      for (const [event, payload, reason] of cases) {
        const error = yield* Effect.flip(parse(yield* delivery(event, payload)))
        assert.strictEqual(error._tag, "WebhookMalformed", reason)
        assert.include(error.message, reason)
        assert.isBelow(error.message.length, 300)
      }
      const good = yield* delivery("issue_comment", issueComment!.payload)
      for (const header of ["x-github-event", "x-github-delivery"]) {
        const error = yield* Effect.flip(parse({ ...good, headers: { ...good.headers, [header]: undefined } }))
        assert.strictEqual(error._tag, "WebhookMalformed", header)
      }
    }))

  it.effect("form-encoded deliveries (payload=…) are read too", () =>
    Effect.gen(function*() {
      const body = new URLSearchParams({ payload: JSON.stringify(issueComment!.payload) }).toString()
      const raw = yield* delivery("issue_comment", body, {
        headers: { "content-type": "application/x-www-form-urlencoded" }
      })
      assert.strictEqual((yield* parse(raw))._tag, "CommentCreated")
    }))
})

describe("GitHubWebhooks behind core's HTTP app", () => {
  const TestLayer = TestPorter.layer({
    config: { maxWebhookBytes: 64 * 1024 },
    webhooks: Layer.orDie(GitHubWebhooks.layer({ secret: Redacted.make(SECRET) }))
  })

  it.effect("401 for bad signatures, 413 for oversized bodies, 400 for garbage: no task, no delivery recorded", () =>
    Effect.gen(function*() {
      const context = yield* Effect.context<TestPorter.Services | Porter.Services | Diagnostics.Diagnostics>()
      const app = HttpApp.routes.pipe(
        Layer.provide(Layer.mergeAll(Layer.succeedContext(context), HttpServer.layerServices))
      )
      const { dispose, handler } = HttpRouter.toWebHandler(app, { disableLogger: true })
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      const post = (raw: WebhookIntake.RawWebhook) =>
        Effect.promise(async () => {
          const headers = Object.fromEntries(
            Object.entries(raw.headers).filter((e): e is [string, string] => e[1] !== undefined)
          )
          const request = new Request("http://porter.test/webhooks/github", { method: "POST", body: raw.body, headers })
          const response = await handler(request)
          return response.status
        })
      const run = withComment({ "comment.body": "@porter claude fix the spelling" })
      const wrong = yield* delivery("issue_comment", run, { secret: "wrong" })
      assert.strictEqual(yield* post(wrong), 401)
      const unsigned = yield* delivery("issue_comment", run)
      assert.strictEqual(
        yield* post({ ...unsigned, headers: { ...unsigned.headers, "x-hub-signature-256": undefined } }),
        401
      )
      const truncated = yield* delivery("issue_comment", run)
      assert.strictEqual(
        yield* post({
          ...truncated,
          headers: {
            ...truncated.headers,
            "x-hub-signature-256": truncated.headers["x-hub-signature-256"]!.slice(0, 40)
          }
        }),
        401
      )
      const huge = yield* delivery(
        "issue_comment",
        withComment({ "comment.body": "@porter claude " + "x".repeat(70_000) })
      )
      assert.strictEqual(yield* post(huge), 413)
      assert.strictEqual(yield* post(yield* delivery("issue_comment", "{garbage")), 400)
      assert.strictEqual(
        yield* post(yield* delivery("ping", { zen: "Half measures are as bad as nothing at all." })),
        200
      )
      const store = yield* TaskStore.TaskStore
      assert.strictEqual((yield* store.list({ limit: 10 })).length, 0)
      assert.strictEqual((yield* store.retryDeliveries(Number.MAX_SAFE_INTEGER, 10)).length, 0)

      // The same delivery, correctly signed, is accepted: the refusals above were about the signature.
      assert.strictEqual(yield* post(unsigned), 202)
      const [task] = yield* store.list({ limit: 10 })
      assert.strictEqual(task?.repo.fullName, "Codertocat/Hello-World")
    }).pipe(Effect.provide(TestLayer)))
})

export type { Event }
