// Webhooks from the emulator to a real receiver on loopback: GitHub's headers, HMAC signatures checked
// with @octokit/webhooks-methods, payloads validated against GitHub's webhook schemas, asynchronous
// ordered delivery, recorded attempts and redelivery with the same GUID.
import { assert, layer } from "@effect/vitest"
import { verify } from "@octokit/webhooks-methods"
import { Effect } from "effect"
import { writeFile } from "node:fs/promises"
import { createServer } from "node:http"
import type { IncomingHttpHeaders } from "node:http"
import * as path from "node:path"
import {
  appJwt,
  call,
  cloneUrl,
  Emu,
  EmuLayer,
  gitOk,
  installationToken,
  octokit,
  openApi,
  statusOf,
  tempDir
} from "./githubSupport.ts"

const SECRET = "It's a Secret to Everybody"

interface Received {
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

interface Receiver {
  readonly url: string
  readonly received: Array<Received>
  /** The most deliveries the receiver was handling at once. */
  readonly maxInFlight: () => number
  /** Resolves once `count` deliveries have arrived. */
  readonly arrived: (count: number) => Promise<void>
  readonly close: () => void
}

/** A webhook receiver on 127.0.0.1:0; `reply` decides each answer's status (and may hold it). */
const receiver = (reply: (received: Received, index: number) => number | Promise<number> = () => 200) =>
  Effect.acquireRelease(
    Effect.callback<Receiver>(
      (resume) => {
        const received: Array<Received> = []
        const waiters: Array<{ readonly count: number; readonly resolve: () => void }> = []
        let inFlight = 0
        let maxInFlight = 0
        const server = createServer((request, response) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", async () => {
            inFlight += 1
            maxInFlight = Math.max(maxInFlight, inFlight)
            const entry = { headers: request.headers, body: Buffer.concat(chunks).toString("utf8") }
            received.push(entry)
            for (const waiter of waiters) if (received.length >= waiter.count) waiter.resolve()
            const status = await reply(entry, received.length - 1)
            inFlight -= 1
            response.writeHead(status, { "content-type": "text/plain" }).end("ok")
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address ? address.port : 0
          resume(Effect.succeed({
            url: `http://127.0.0.1:${port}/webhooks/github`,
            received,
            maxInFlight: () => maxInFlight,
            arrived: (count) =>
              new Promise<void>((resolve) => {
                if (received.length >= count) resolve()
                else waiters.push({ count, resolve })
              }),
            close: () => {
              server.closeAllConnections()
              server.close()
            }
          }))
        })
      }
    ),
    (server) => Effect.sync(server.close)
  )

const payloadOf = (received: Received): unknown => JSON.parse(received.body)

/** `value.k1.k2…` of a JSON value, `undefined` when absent. */
const at = (value: unknown, ...keys: ReadonlyArray<string>): unknown =>
  keys.reduce<unknown>(
    (current, key) =>
      typeof current === "object" && current !== null ? (current as Record<string, unknown>)[key] : undefined,
    value
  )

/** Every payload must match GitHub's webhook schema for its event and action. */
const assertSchemas = (deliveries: ReadonlyArray<{ event: string; action?: string | undefined; payload: unknown }>) => {
  const spec = openApi()
  for (const delivery of deliveries) {
    assert.isUndefined(
      spec.webhook(delivery.event, delivery.action, delivery.payload),
      `${delivery.event}.${delivery.action}`
    )
  }
}

layer(EmuLayer({ webhookSecret: SECRET }), { excludeTestServices: true })("GitHub emulator webhooks", (it) => {
  it.effect("a comment delivers a signed issue_comment.created with GitHub's headers and payload", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const hook = yield* receiver()
      yield* call(() => emu.setWebhook(hook.url))
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "hooks", auto_init: true }))
      yield* call(() => admin.rest.issues.create({ owner, repo: "hooks", title: "Hook me", body: "please" }))
      const comment = yield* call(() =>
        admin.rest.issues.createComment({ owner, repo: "hooks", issue_number: 1, body: "@porter claude fix it" })
      )
      const deliveries = yield* call(() => emu.deliveries())
      assert.deepStrictEqual(deliveries.map((delivery) => `${delivery.event}.${delivery.action}:${delivery.status}`), [
        "issues.opened:200",
        "issue_comment.created:200"
      ])
      assert.strictEqual(hook.received.length, 2)
      const sent = hook.received[1]!
      assert.strictEqual(sent.headers["x-github-event"], "issue_comment")
      assert.match(
        String(sent.headers["x-github-delivery"]),
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
      )
      assert.strictEqual(sent.headers["x-github-delivery"], deliveries[1]!.id)
      assert.match(String(sent.headers["user-agent"]), /^GitHub-Hookshot\//)
      assert.strictEqual(sent.headers["content-type"], "application/json")
      assert.match(String(sent.headers["x-github-hook-id"]), /^\d+$/)
      assert.strictEqual(sent.headers["x-github-hook-installation-target-type"], "integration")
      assert.strictEqual(sent.headers["x-github-hook-installation-target-id"], String(emu.app.id))
      const signature = String(sent.headers["x-hub-signature-256"])
      assert.isTrue(yield* call(() => verify(SECRET, sent.body, signature)))
      assert.isFalse(yield* call(() => verify("another secret", sent.body, signature)))

      const payload = payloadOf(sent)
      assert.strictEqual(at(payload, "action"), "created")
      assert.strictEqual(at(payload, "comment", "id"), comment.data.id)
      assert.strictEqual(at(payload, "comment", "body"), "@porter claude fix it")
      assert.strictEqual(at(payload, "issue", "number"), 1)
      assert.isUndefined(at(payload, "issue", "pull_request"))
      assert.strictEqual(at(payload, "repository", "full_name"), `${owner}/hooks`)
      assert.strictEqual(at(payload, "repository", "default_branch"), "main")
      assert.strictEqual(at(payload, "repository", "clone_url"), `${emu.url}/${owner}/hooks.git`)
      assert.deepStrictEqual([at(payload, "sender", "login"), at(payload, "sender", "type")], [owner, "User"])
      const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
      const installation = yield* call(() => app.rest.apps.getRepoInstallation({ owner, repo: "hooks" }))
      assert.strictEqual(at(payload, "installation", "id"), installation.data.id)
      assert.isString(at(payload, "installation", "node_id"))
      assertSchemas(deliveries)
    })))

  it.effect("closing issues, PR conversation comments, review comments and the bot's own writes all deliver", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const hook = yield* receiver()
      yield* call(() => emu.setWebhook(hook.url))
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createInOrg({ org: "hook-org", name: "events", auto_init: true }))
      const work = path.join(dir, "events")
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, "hook-org/events", emu.admin.token), work)
      yield* gitOk(work, "checkout", "--quiet", "-b", "porter/task")
      yield* Effect.promise(() => writeFile(path.join(work, "a.txt"), "a\nb\n"))
      yield* gitOk(work, "add", "a.txt")
      yield* gitOk(work, "commit", "--quiet", "-m", "Add a")
      yield* gitOk(work, "push", "--quiet", "origin", "porter/task")
      const head = (yield* gitOk(work, "rev-parse", "HEAD")).trim()
      const before = (yield* call(() => emu.deliveries())).length

      yield* call(() => admin.rest.issues.create({ owner: "hook-org", repo: "events", title: "Task" }))
      const bot = octokit(emu, yield* installationToken(emu, "hook-org", ["events"]))
      const pr = yield* call(() =>
        bot.rest.pulls.create({
          owner: "hook-org",
          repo: "events",
          head: "porter/task",
          base: "main",
          title: "Task PR"
        })
      )
      const status = yield* call(() =>
        bot.rest.issues.createComment({ owner: "hook-org", repo: "events", issue_number: 1, body: "Queued" })
      )
      yield* call(() =>
        bot.rest.issues.updateComment({
          owner: "hook-org",
          repo: "events",
          comment_id: status.data.id,
          body: "Running"
        })
      )
      yield* call(() =>
        admin.rest.issues.createComment({
          owner: "hook-org",
          repo: "events",
          issue_number: pr.data.number,
          body: "@porter again"
        })
      )
      yield* call(() =>
        admin.rest.pulls.createReviewComment({
          owner: "hook-org",
          repo: "events",
          pull_number: pr.data.number,
          body: "@porter rename b",
          commit_id: head,
          path: "a.txt",
          line: 2
        })
      )
      yield* call(() =>
        bot.rest.issues.addLabels({ owner: "hook-org", repo: "events", issue_number: 1, labels: ["porter:running"] })
      )
      yield* call(() =>
        admin.rest.issues.update({ owner: "hook-org", repo: "events", issue_number: 1, state: "closed" })
      )
      yield* call(() =>
        admin.rest.pulls.update({ owner: "hook-org", repo: "events", pull_number: pr.data.number, state: "closed" })
      )

      const deliveries = (yield* call(() => emu.deliveries())).slice(before)
      assert.deepStrictEqual(deliveries.map((delivery) => `${delivery.event}.${delivery.action}`), [
        "issues.opened",
        "pull_request.opened",
        "issue_comment.created",
        "issue_comment.edited",
        "issue_comment.created",
        "pull_request_review_comment.created",
        "issues.labeled",
        "issues.closed",
        "pull_request.closed"
      ])
      assert.isTrue(deliveries.every((delivery) => delivery.status === 200))
      const payloads = deliveries.map((delivery) => delivery.payload)
      // The bot's own comment is delivered too, authored by the bot: receivers must ignore it.
      const botSender = [at(payloads[2]!, "sender", "login"), at(payloads[2]!, "sender", "type")]
      assert.deepStrictEqual(botSender, [emu.app.botLogin, "Bot"])
      assert.deepStrictEqual(at(payloads[3]!, "changes"), { body: { from: "Queued" } })
      assert.strictEqual(at(payloads[4]!, "issue", "pull_request", "url"), pr.data.url)
      assert.strictEqual(at(payloads[5]!, "comment", "path"), "a.txt")
      assert.strictEqual(at(payloads[5]!, "pull_request", "head", "ref"), "porter/task")
      assert.strictEqual(at(payloads[7]!, "issue", "state"), "closed")
      assert.strictEqual(at(payloads[7]!, "organization", "login"), "hook-org")
      assert.strictEqual(at(payloads[8]!, "pull_request", "merged"), false)
      assertSchemas(deliveries)
    })))

  it.effect("deliveries leave after the API answer, one at a time, in the order of the actions", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      let release: () => void = () => {}
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      const hook = yield* receiver(async (_received, index) => {
        if (index === 0) await held
        return 200
      })
      yield* call(() => emu.setWebhook(hook.url))
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "ordered", auto_init: true }))
      yield* call(() => admin.rest.issues.create({ owner, repo: "ordered", title: "Order" }))
      // The first delivery (issues.opened) is held by the receiver; the API keeps answering meanwhile.
      yield* call(() => hook.arrived(1))
      for (const body of ["one", "two", "three"]) {
        const created = yield* call(() =>
          admin.rest.issues.createComment({ owner, repo: "ordered", issue_number: 1, body })
        )
        assert.strictEqual(created.status, 201)
      }
      assert.strictEqual(hook.received.length, 1)
      release()
      const deliveries = yield* call(() => emu.deliveries())
      const bodies = hook.received.slice(1).map((received) => at(payloadOf(received), "comment", "body"))
      assert.deepStrictEqual(bodies, ["one", "two", "three"])
      assert.strictEqual(hook.maxInFlight(), 1)
      assert.isTrue(deliveries.slice(-3).every((delivery) => delivery.status === 200))
    })))

  it.effect("failed deliveries are recorded; redelivery resends the same body with the same GUID", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const hook = yield* receiver((_received, index) => (index === 0 ? 500 : 200))
      yield* call(() => emu.setWebhook(hook.url))
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "retry", auto_init: true }))
      const before = (yield* call(() => emu.deliveries())).length
      yield* call(() => admin.rest.issues.create({ owner, repo: "retry", title: "Retry" }))
      const [failed] = (yield* call(() => emu.deliveries())).slice(before)
      assert.strictEqual(failed!.status, 500)
      assert.isNumber(failed!.durationMs)

      const status = yield* call(() => emu.redeliver(failed!.id))
      assert.strictEqual(status, 200)
      const [first, second] = hook.received.slice(-2)
      assert.strictEqual(second!.headers["x-github-delivery"], first!.headers["x-github-delivery"])
      assert.strictEqual(second!.body, first!.body)
      assert.strictEqual(second!.headers["x-hub-signature-256"], first!.headers["x-hub-signature-256"])
      const attempts = (yield* call(() => emu.deliveries())).filter((delivery) => delivery.id === failed!.id)
      assert.deepStrictEqual(attempts.map((attempt) => [attempt.status, attempt.redelivery]), [[500, false], [
        200,
        true
      ]])

      // The App's own delivery API (JWT): newest first, one attempt in detail, redelivery answered 202.
      const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
      const listed = yield* call(() => app.rest.apps.listWebhookDeliveries({ per_page: 2 }))
      assert.deepStrictEqual(
        listed.data.map((delivery) => [delivery.guid, delivery.status_code, delivery.redelivery]),
        [
          [failed!.id, 200, true],
          [failed!.id, 500, false]
        ]
      )
      assert.strictEqual(listed.data[1]!.status, "Invalid HTTP Response: 500")
      const detail = yield* call(() => app.rest.apps.getWebhookDelivery({ delivery_id: listed.data[1]!.id }))
      assert.strictEqual(detail.data.request.headers?.["x-github-event"], "issues")
      const again = yield* call(() => app.rest.apps.redeliverWebhookDelivery({ delivery_id: listed.data[1]!.id }))
      assert.strictEqual(again.status, 202)
      const all = yield* call(() => emu.deliveries())
      assert.strictEqual(all.filter((delivery) => delivery.id === failed!.id).length, 3)
      const unknown = yield* statusOf(() => app.rest.apps.getWebhookDelivery({ delivery_id: 1 }))
      assert.strictEqual(unknown.status, 404)
    })))

  it.effect("without a URL deliveries are recorded unsent; an unreachable URL records the error", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "nowhere", auto_init: true }))
      const unset = yield* call(() =>
        fetch(`${emu.url}/_emulator/webhook`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ url: null })
        })
      )
      assert.strictEqual(unset.status, 204)
      yield* call(() => admin.rest.issues.create({ owner, repo: "nowhere", title: "Unsent" }))
      const flushed = yield* call(() => fetch(`${emu.url}/_emulator/flush`, { method: "POST" }))
      assert.strictEqual(flushed.status, 204)
      const listed = (yield* call(() =>
        fetch(`${emu.url}/_emulator/deliveries`).then((response) => response.json())
      )) as Array<{ id: string; event: string; status?: number; error?: string }>
      const unsent = listed[listed.length - 1]!
      assert.strictEqual(unsent.event, "issues")
      assert.isUndefined(unsent.status)

      // Nothing listens on the discard port.
      yield* call(() =>
        emu.setWebhook("http://127.0.0.1:9/webhooks")
      )
      yield* call(() => admin.rest.issues.create({ owner, repo: "nowhere", title: "Unreachable" }))
      const last = (yield* call(() => emu.deliveries())).at(-1)!
      assert.isUndefined(last.status)
      assert.match(last.error ?? "", /failed to connect/)

      // Redelivering the unsent one, once a receiver exists, sends it.
      const hook = yield* receiver()
      yield* call(() => emu.setWebhook(hook.url))
      const resent = (yield* call(() =>
        fetch(`${emu.url}/_emulator/deliveries/${unsent.id}/redeliver`, { method: "POST" }).then((response) =>
          response.json()
        )
      )) as { id: string; status: number; redelivery: boolean }
      assert.deepStrictEqual([resent.id, resent.status, resent.redelivery], [unsent.id, 200, true])
      assert.strictEqual(hook.received[0]!.headers["x-github-delivery"], unsent.id)
    })))
})
