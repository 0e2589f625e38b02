// The benchmark variant: everything in memory but the real GitHubWebhooks intake, over real HTTP on loopback.
// Deliveries are GitHub's own `issue_comment.created` example (`@octokit/webhooks-examples`), signed like GitHub.
import { assert, describe, it } from "@effect/vitest"
import { Bot, Intake } from "@porter-examples/embed-node-bot"
import { GitHubRecorder, Machines } from "@porter/testing"
import { Context, Effect, Layer, Option } from "effect"
import { createRequire } from "node:module"
import * as Support from "./support.ts"

interface Example {
  readonly name: string
  readonly examples: ReadonlyArray<{ readonly action?: string } & Record<string, unknown>>
}

const examples = createRequire(import.meta.url)(
  "@octokit/webhooks-examples/api.github.com/index.json"
) as ReadonlyArray<Example>
const commentCreated = examples.find((e) => e.name === "issue_comment")!.examples.find((x) => x.action === "created")!

/** GitHub's example delivery with `body` as the comment (repository `Codertocat/Hello-World`, issue 1). */
const payload = (body: string): string => {
  const comment = commentCreated["comment"] as Record<string, unknown>
  return JSON.stringify({ ...commentCreated, comment: { ...comment, body } })
}

const deliver = (url: string, secret: string, deliveryId: string, body: string, signedBody = body) =>
  Effect.map(
    Support.call(`${url}/webhooks/github`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "issue_comment",
        "x-github-delivery": deliveryId,
        "x-hub-signature-256": Support.sign(secret, signedBody)
      },
      body
    }),
    (answer) => answer.status
  )

describe("the intake-only bot (benchmarks)", () => {
  it.live("verifies signatures for real and runs Porter's processing in the background", () =>
    Effect.gen(function*() {
      const secret = "bench-webhook-secret"
      const context = yield* Layer.build(Intake.layer({ webhookSecret: secret }))
      const { url } = Context.get(context, Bot.Bot)
      const recorder = Context.get(context, GitHubRecorder)
      const machines = Context.get(context, Machines)
      const body = payload("@porter script add a line")

      assert.strictEqual(yield* deliver(url, "another-secret", "delivery-1", body), 401)
      assert.strictEqual(yield* deliver(url, secret, "delivery-1", body.replace("add a line", "rm -rf /"), body), 401)
      assert.strictEqual(yield* deliver(url, secret, "delivery-1", body), 202)
      assert.strictEqual(yield* deliver(url, secret, "delivery-1", body), 200, "a redelivery is a duplicate")

      // The background fiber acknowledged on the (recorded) issue and started an (in-memory) machine.
      const created = yield* Support.eventually(
        "the machine",
        Effect.map(machines.created, (list) => (list.length > 0 ? Option.some(list) : Option.none())),
        "10 seconds"
      )
      assert.strictEqual(created.length, 1)
      assert.strictEqual(created[0]!.spec.env["REPO_FULL_NAME"], "Codertocat/Hello-World")
      assert.strictEqual(created[0]!.spec.env["CALLBACK_URL"], `${url}/callbacks/tasks/${created[0]!.spec.taskId}`)
      const reactions = yield* recorder.reactions("Codertocat/Hello-World#1")
      assert.deepStrictEqual(reactions.map((r) => r.reaction), ["eyes"])
      assert.strictEqual((yield* recorder.comments("Codertocat/Hello-World#1")).length, 1)
    }))

  it.live("webhooks with Content-Length take the direct route, chunked ones the router: the same answers", () =>
    Effect.gen(function*() {
      const secret = "route-webhook-secret"
      const context = yield* Layer.build(Intake.layer({ webhookSecret: secret, processing: "skip" }))
      const { url } = Context.get(context, Bot.Bot)
      const post = (deliveryId: string, body: string, options: { chunked: boolean; signature?: string }) =>
        Support.call(`${url}/webhooks/github`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-github-event": "issue_comment",
            "x-github-delivery": deliveryId,
            "x-hub-signature-256": options.signature ?? Support.sign(secret, body)
          },
          // A stream has no length: fetch sends it chunked, which the direct route leaves to the router.
          ...(options.chunked
            ? {
              body: new ReadableStream({
                start(controller) {
                  controller.enqueue(new TextEncoder().encode(body))
                  controller.close()
                }
              }),
              duplex: "half"
            } as RequestInit
            : { body })
        })
      const both = (name: string, body: string, signature?: string) =>
        Effect.gen(function*() {
          const direct = yield* post(`${name}-direct`, body, { chunked: false, ...(signature ? { signature } : {}) })
          const routed = yield* post(`${name}-routed`, body, { chunked: true, ...(signature ? { signature } : {}) })
          return { direct, routed }
        })
      type Answers = { readonly [K in "direct" | "routed"]: { readonly status: number; readonly body: unknown } }
      const same = (label: string, answers: Answers, status: number) => {
        assert.strictEqual(answers.direct.status, status, `${label} (direct)`)
        assert.strictEqual(answers.routed.status, status, `${label} (router)`)
        const { deliveryId: _a, ...direct } = answers.direct.body as Record<string, unknown>
        const { deliveryId: _b, ...routed } = answers.routed.body as Record<string, unknown>
        assert.deepStrictEqual(direct, routed, label)
      }

      const accepted = yield* both("accepted", payload("@porter script add a line"))
      same("accepted", accepted, 202)
      assert.strictEqual((accepted.direct.body as { deliveryId: string }).deliveryId, "accepted-direct")
      same("not for Porter", yield* both("ignored", payload("thanks!")), 200)
      same("bad signature", yield* both("unsigned", payload("@porter script x"), Support.sign("other", "x")), 401)
      same("not JSON", yield* both("garbage", "{not json"), 400)
      const large = payload(`@porter script ${"x".repeat(1100 * 1024)}`)
      same("too large", yield* both("large", large), 413)
      const duplicate = yield* post("accepted-direct", payload("@porter script add a line"), { chunked: true })
      assert.deepStrictEqual(
        duplicate.body,
        { ignored: "duplicate delivery" },
        "the direct route's claim is the router's"
      )
    }))

  it.live("start() for plain scripts: listens on a free port, `skip` stops at the claim, close() stops it", () =>
    Effect.gen(function*() {
      const running = yield* Effect.promise(() => Intake.start({ processing: "skip" }))
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const body = payload("@porter script add a line")
      assert.strictEqual(yield* deliver(running.url, running.webhookSecret, "delivery-a", body), 202)
      const again = yield* deliver(running.url, running.webhookSecret, "delivery-a", body)
      assert.strictEqual(again, 200, "the claim was recorded")
      assert.strictEqual(yield* deliver(running.url, "wrong", "delivery-b", body), 401)
      const page = yield* Support.call(`${running.url}/`)
      assert.strictEqual((page.body as { activeTasks: number }).activeTasks, 0, "nothing was processed")

      yield* Effect.promise(() => running.close())
      const after = yield* Effect.promise(() => fetch(`${running.url}/healthz`).then(() => "answered", () => "refused"))
      assert.strictEqual(after, "refused")
    }))
})
