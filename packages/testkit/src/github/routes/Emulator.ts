/**
 * Test-only extras under `/_emulator/` (a prefix GitHub never uses): users and organizations with
 * tokens, the App's credentials, the webhook target, the deliveries sent (after waiting for pending
 * ones), redelivery, a clock shift to test token expiry, the list of routes served, what the Git Data API
 * wrote, and a pull request's commits with whether each was made through the Git Data API.
 * No authentication: the emulator binds to loopback and is a test tool.
 */
import { Effect, Schema } from "effect"
import type { RouteContext } from "../Context.ts"
import { ApiError, decodeBody, iso, json, noContent, notFound, validationFailed } from "../Http.ts"
import type { Route } from "../Http.ts"
import type { Account } from "../State.ts"
import { LOGIN } from "../State.ts"
import type { Delivery } from "../Webhooks.ts"
import type { PullRequestCommit } from "./PullCommits.ts"

const UserBody = Schema.Struct({ login: Schema.String })
const OrgBody = Schema.Struct({ login: Schema.String, owners: Schema.optional(Schema.Array(Schema.String)) })
const WebhookBody = Schema.Struct({ url: Schema.NullOr(Schema.String), secret: Schema.optional(Schema.String) })
const ClockBody = Schema.Struct({ advanceSeconds: Schema.Number })

/** A delivery as `Emulator.deliveries()` and `GET /_emulator/deliveries` show it. */
export const deliveryView = (delivery: Delivery) => ({
  id: delivery.guid,
  deliveryId: delivery.deliveryId,
  event: delivery.event,
  action: delivery.action,
  status: delivery.status,
  error: delivery.error,
  durationMs: delivery.durationMs,
  redelivery: delivery.redelivery,
  // Milliseconds kept (GitHub's own `delivered_at` has whole seconds): benchmarks time from this instant.
  deliveredAt: delivery.deliveredAt === undefined ? undefined : new Date(delivery.deliveredAt).toISOString(),
  headers: delivery.requestHeaders,
  payload: delivery.payload
})

export const routes = (
  context: RouteContext,
  all: () => ReadonlyArray<Route>,
  pullRequestCommits: (
    owner: string,
    repo: string,
    number: number
  ) => Effect.Effect<ReadonlyArray<PullRequestCommit>, ApiError>
): ReadonlyArray<Route> => {
  const { gitData, state, webhooks } = context

  const validLogin = (login: string) =>
    LOGIN.test(login)
      ? Effect.void
      : Effect.fail(validationFailed({ resource: "User", code: "invalid", field: "login" }))

  return [
    {
      method: "POST",
      path: "/_emulator/users",
      handler: (request) =>
        Effect.gen(function*() {
          const body = yield* decodeBody(UserBody)(request.body)
          yield* validLogin(body.login)
          const created = state.createUser(body.login)
          if (!created) {
            return yield* validationFailed({ resource: "User", code: "already_exists", field: "login" })
          }
          return json({ login: created.account.login, id: created.account.id, token: created.token }, 201)
        })
    },
    {
      method: "POST",
      path: "/_emulator/orgs",
      handler: (request) =>
        Effect.gen(function*() {
          const body = yield* decodeBody(OrgBody)(request.body)
          yield* validLogin(body.login)
          const owners: Array<Account> = []
          for (const login of body.owners ?? [state.admin.login]) {
            const owner = state.account(login)
            if (!owner || owner.type !== "User") return yield* notFound()
            owners.push(owner)
          }
          const org = state.createOrg(body.login, owners)
          if (!org) return yield* validationFailed({ resource: "Organization", code: "already_exists", field: "login" })
          return json({ login: org.account.login, id: org.account.id }, 201)
        })
    },
    {
      method: "GET",
      path: "/_emulator/app",
      handler: () =>
        Effect.succeed(json({
          id: state.app.id,
          slug: state.app.slug,
          clientId: state.app.clientId,
          botLogin: state.app.bot.login,
          botId: state.app.bot.id,
          privateKeyPkcs1: state.app.privateKeyPkcs1,
          webhookUrl: state.app.webhookUrl ?? null,
          webhookSecret: state.app.webhookSecret
        }))
    },
    {
      method: "PUT",
      path: "/_emulator/webhook",
      handler: (request) =>
        Effect.gen(function*() {
          const body = yield* decodeBody(WebhookBody)(request.body)
          state.app.webhookUrl = body.url ?? undefined
          if (body.secret !== undefined) state.app.webhookSecret = body.secret
          return noContent
        })
    },
    {
      method: "POST",
      path: "/_emulator/flush",
      handler: () => Effect.as(webhooks.flush, noContent)
    },
    {
      method: "GET",
      path: "/_emulator/deliveries",
      handler: (request) =>
        Effect.gen(function*() {
          if (request.query.get("wait") !== "false") yield* webhooks.flush
          return json(webhooks.list().map(deliveryView))
        })
    },
    {
      method: "POST",
      path: "/_emulator/deliveries/{guid}/redeliver",
      handler: (request) =>
        Effect.gen(function*() {
          const attempt = yield* webhooks.redeliver(request.params["guid"]!)
          if (!attempt) return yield* new ApiError({ status: 404, message: "No such delivery" })
          return json(deliveryView(attempt))
        })
    },
    {
      method: "GET",
      path: "/_emulator/routes",
      handler: () => Effect.sync(() => json(all().map((route) => ({ method: route.method, path: route.path }))))
    },
    {
      method: "GET",
      path: "/_emulator/git-data",
      handler: () => Effect.sync(() => json(gitData.list()))
    },
    {
      method: "GET",
      path: "/_emulator/repos/{owner}/{repo}/pulls/{pull_number}/commits",
      handler: (request) =>
        Effect.map(
          pullRequestCommits(request.params["owner"]!, request.params["repo"]!, Number(request.params["pull_number"])),
          (commits) => json(commits)
        )
    },
    {
      method: "POST",
      path: "/_emulator/clock",
      handler: (request) =>
        Effect.gen(function*() {
          const body = yield* decodeBody(ClockBody)(request.body)
          return json({ now: iso(state.advanceClock(body.advanceSeconds * 1000)) })
        })
    }
  ]
}
