/**
 * A repository's labels: list, create (write access; a name once, a six-digit hex color) and get by name
 * (case-insensitive, as on GitHub). An issue's labels are `Issues.ts`'.
 */
import { Effect, Schema } from "effect"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import { decodeBody, json, jsonPage, notFound, validationFailed } from "../Http.ts"
import type { Route } from "../Http.ts"
import { DEFAULT_LABEL_COLOR } from "../State.ts"

const CreateLabelBody = Schema.Struct({
  name: Schema.String,
  color: Schema.optional(Schema.String),
  description: Schema.optional(Schema.NullOr(Schema.String))
})

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { payloads, state } = context
  const helpers = makeHelpers(context)
  const readIssues = { role: "read", scope: "issues", level: "read" } as const

  return [
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/labels",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, readIssues)
          const labels = [...repo.labels.values()].map((label) => payloads.label(repo, label))
          return jsonPage(labels, request, context.baseUrl)
        })
    },
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/labels",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, {
            role: "write",
            scope: ["issues", "pull_requests"],
            level: "write"
          })
          const body = yield* decodeBody(CreateLabelBody)(request.body)
          if (repo.labels.has(body.name.toLowerCase())) {
            return yield* validationFailed({ resource: "Label", code: "already_exists", field: "name" })
          }
          const color = (body.color ?? DEFAULT_LABEL_COLOR).replace(/^#/, "")
          if (!/^[0-9a-fA-F]{6}$/.test(color)) {
            return yield* validationFailed({ resource: "Label", code: "invalid", field: "color" })
          }
          const label = state.addLabel(repo, body.name, color.toLowerCase(), body.description ?? null)
          return json(payloads.label(repo, label), 201)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/labels/{name}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, readIssues)
          const label = repo.labels.get(request.params["name"]!.toLowerCase())
          if (!label) return yield* notFound()
          return json(payloads.label(repo, label))
        })
    }
  ]
}
