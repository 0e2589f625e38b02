/**
 * Accounts and the GitHub App: `/user`, `/users/{username}`, the App (JWT), its installations,
 * installation access tokens, `/installation/repositories`, and the App's webhook deliveries API.
 */
import { Effect, Schema } from "effect"
import { requireApp } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import {
  ApiError,
  badCredentials,
  decodeBody,
  forbidden,
  iso,
  json,
  jsonPage,
  noContent,
  notAccessibleByIntegration,
  notFound,
  paginate,
  requiresAuthentication,
  unprocessable
} from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"
import type { Installation, Level, Permissions } from "../State.ts"
import { deliverySummary } from "../Webhooks.ts"

const AccessTokenBody = Schema.Struct({
  repositories: Schema.optional(Schema.Array(Schema.String)),
  repository_ids: Schema.optional(Schema.Array(Schema.Int)),
  permissions: Schema.optional(Schema.Record(Schema.String, Schema.Literals(["read", "write"])))
})

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { payloads, state, webhooks } = context
  const helpers = makeHelpers(context)

  const installationOr404 = (installation: Installation | undefined) =>
    installation
      ? Effect.succeed(installation)
      : Effect.fail(
        new ApiError({
          status: 404,
          message: "Not Found",
          documentationUrl: "https://docs.github.com/rest/apps/apps"
        })
      )

  const accountInstallation = (login: string | undefined) => {
    const account = login === undefined ? undefined : state.account(login)
    return installationOr404(account ? state.installationOf(account) : undefined)
  }

  const authenticatedUser = (request: ApiRequest) => {
    switch (request.principal._tag) {
      case "User":
        return Effect.succeed(request.principal.account)
      case "Anonymous":
        return Effect.fail(requiresAuthentication())
      default:
        return Effect.fail(notAccessibleByIntegration())
    }
  }

  return [
    {
      method: "GET",
      path: "/user",
      handler: (request) => Effect.map(authenticatedUser(request), (account) => json(payloads.privateUser(account)))
    },
    {
      method: "GET",
      path: "/users/{username}",
      handler: (request) => {
        const account = state.account(request.params["username"]!)
        if (!account) return Effect.fail(notFound())
        const body = payloads.privateUser(account)
        return Effect.succeed(json({
          ...payloads.user(account),
          name: body.name,
          company: body.company,
          blog: body.blog,
          location: body.location,
          email: body.email,
          hireable: body.hireable,
          bio: body.bio,
          twitter_username: body.twitter_username,
          public_repos: body.public_repos,
          public_gists: body.public_gists,
          followers: body.followers,
          following: body.following,
          created_at: body.created_at,
          updated_at: body.updated_at
        }))
      }
    },
    {
      method: "GET",
      path: "/user/repos",
      handler: (request) =>
        Effect.gen(function*() {
          const account = yield* authenticatedUser(request)
          const visible = state.repos().filter((repo) => state.isCollaborator(account, repo))
          const listed = visible.map((repo) => payloads.repository(repo, state.roleOf(account, repo)))
          return jsonPage(listed, request, context.baseUrl)
        })
    },
    {
      method: "GET",
      path: "/app",
      handler: (request) => Effect.map(requireApp(request.principal), (app) => json(payloads.integration(app)))
    },
    {
      method: "GET",
      path: "/app/installations",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          return jsonPage(state.installations().map(payloads.installation), request, context.baseUrl)
        })
    },
    {
      method: "GET",
      path: "/app/installations/{installation_id}",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          const installation = yield* installationOr404(state.installation(Number(request.params["installation_id"])))
          return json(payloads.installation(installation))
        })
    },
    {
      method: "POST",
      path: "/app/installations/{installation_id}/access_tokens",
      handler: (request) =>
        Effect.gen(function*() {
          const app = yield* requireApp(request.principal)
          const installation = yield* installationOr404(state.installation(Number(request.params["installation_id"])))
          const body = yield* decodeBody(AccessTokenBody)(request.body)
          const owned = state.reposOfInstallation(installation)
          const scoped = body.repositories !== undefined || body.repository_ids !== undefined
          const ids = new Set<number>()
          for (const name of body.repositories ?? []) {
            const found = owned.find((repo) => repo.name.toLowerCase() === name.toLowerCase())
            if (!found) {
              return yield* unprocessable(
                "There is at least one repository that does not exist or is not accessible to the parent installation."
              )
            }
            ids.add(found.id)
          }
          for (const id of body.repository_ids ?? []) {
            if (!owned.some((repo) => repo.id === id)) {
              return yield* unprocessable(
                "There is at least one repository that does not exist or is not accessible to the parent installation."
              )
            }
            ids.add(id)
          }
          let permissions: Permissions = app.permissions
          if (body.permissions) {
            const requested: Record<string, Level> = {}
            for (const [name, level] of Object.entries(body.permissions)) {
              const granted = app.permissions[name]
              if (granted === undefined || (granted === "read" && level === "write")) {
                return yield* unprocessable("The permissions requested are not granted to this installation.")
              }
              requested[name] = level
            }
            permissions = requested
          }
          const token = state.mintInstallationToken(installation, permissions, scoped ? [...ids] : undefined)
          return json({
            token: token.token,
            expires_at: iso(token.expiresAt),
            permissions: { ...token.permissions },
            repository_selection: scoped ? "selected" : "all",
            ...(scoped
              ? {
                repositories: state.reposOfInstallation(installation, [...ids]).map((repo) => payloads.repository(repo))
              }
              : {})
          }, 201)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/installation",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          const repo = state.repo(request.params["owner"]!, request.params["repo"]!)
          if (!repo) return yield* notFound()
          return json(payloads.installation(yield* installationOr404(state.installationOf(repo.owner))))
        })
    },
    {
      method: "GET",
      path: "/users/{username}/installation",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          return json(payloads.installation(yield* accountInstallation(request.params["username"])))
        })
    },
    {
      method: "GET",
      path: "/orgs/{org}/installation",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          const account = state.account(request.params["org"]!)
          if (account?.type !== "Organization") return yield* notFound()
          return json(payloads.installation(yield* accountInstallation(account.login)))
        })
    },
    {
      method: "GET",
      path: "/installation/repositories",
      handler: (request) =>
        Effect.gen(function*() {
          if (request.principal._tag !== "Installation") {
            return yield* request.principal._tag === "Anonymous"
              ? requiresAuthentication()
              : forbidden(
                "You must authenticate with an installation access token in order to list repositories for an " +
                  "installation."
              )
          }
          const token = request.principal.token
          const repos = state.reposOfInstallation(token.installation, token.repositoryIds)
          const page = paginate(repos, request, context.baseUrl)
          return json(
            {
              total_count: repos.length,
              repository_selection: token.repositoryIds === undefined ? "all" : "selected",
              repositories: page.items.map((repo) => payloads.repository(repo, helpers.role(request, repo)))
            },
            200,
            page.headers
          )
        })
    },
    {
      method: "DELETE",
      path: "/installation/token",
      handler: (request) =>
        Effect.gen(function*() {
          if (request.principal._tag !== "Installation") return yield* badCredentials()
          state.revokeInstallationToken(request.principal.token.token)
          return noContent
        })
    },
    {
      method: "GET",
      path: "/app/hook/deliveries",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          // Newest first, like GitHub; `cursor` paging is not emulated (per_page only).
          const list = [...webhooks.list()].reverse().map(deliverySummary)
          const perPage = Math.min(Math.max(Number(request.query.get("per_page") ?? "30") || 30, 1), 100)
          return json(list.slice(0, perPage))
        })
    },
    {
      method: "GET",
      path: "/app/hook/deliveries/{delivery_id}",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          const delivery = webhooks.byId(Number(request.params["delivery_id"]))
          if (!delivery) return yield* notFound()
          return json({
            ...deliverySummary(delivery),
            url: delivery.url ?? "",
            request: { headers: delivery.requestHeaders, payload: delivery.payload },
            response: { headers: delivery.responseHeaders, payload: delivery.responseBody ?? null }
          })
        })
    },
    {
      method: "POST",
      path: "/app/hook/deliveries/{delivery_id}/attempts",
      handler: (request) =>
        Effect.gen(function*() {
          yield* requireApp(request.principal)
          const delivery = webhooks.byId(Number(request.params["delivery_id"]))
          if (!delivery) return yield* notFound()
          // GitHub answers 202 and redelivers in the background.
          yield* webhooks.startRedelivery(delivery.guid)
          return json({}, 202)
        })
    }
  ]
}
