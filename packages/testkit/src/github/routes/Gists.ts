/**
 * Gists, as far as Porter's artifact mirror uses them: create (secret or public), get (file contents inline), update
 * (a file set, replaced, or removed with `null`), delete, and the authenticated user's list (newest first, paginated).
 * Only user tokens own gists (an App's installation token cannot make one, like on GitHub). Not emulated: forks,
 * stars, comments, revisions, truncation of large files.
 */
import { Effect, Schema } from "effect"
import { randomBytes } from "node:crypto"
import type { RouteContext } from "../Context.ts"
import type { ApiError, ApiRequest, Route } from "../Http.ts"
import { decodeBody, forbidden, json, noContent, notFound, paginate, requiresAuthentication } from "../Http.ts"
import type { Account } from "../State.ts"

const FileInput = Schema.Struct({ content: Schema.String })
const CreateBody = Schema.Struct({
  description: Schema.optional(Schema.String),
  public: Schema.optional(Schema.Union([Schema.Boolean, Schema.Literals(["true", "false"])])),
  files: Schema.Record(Schema.String, FileInput)
})
const UpdateBody = Schema.Struct({
  description: Schema.optional(Schema.String),
  files: Schema.optional(
    Schema.Record(Schema.String, Schema.NullOr(Schema.Struct({ content: Schema.optional(Schema.String) })))
  )
})

interface Gist {
  readonly id: string
  readonly owner: Account
  description: string | null
  readonly public: boolean
  readonly files: Map<string, string>
  readonly createdAt: number
  updatedAt: number
}

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { baseUrl, state } = context
  const gists = new Map<string, Gist>()

  const ownerOf = (request: ApiRequest): Effect.Effect<Account, ApiError> =>
    request.principal._tag === "User"
      ? Effect.succeed(request.principal.account)
      : request.principal._tag === "Anonymous"
      ? Effect.fail(requiresAuthentication())
      : Effect.fail(forbidden("Resource not accessible by integration"))

  const user = (account: Account) => ({
    login: account.login,
    id: account.id,
    node_id: `U_${account.id}`,
    avatar_url: `${baseUrl}/avatars/${account.login}`,
    gravatar_id: "",
    url: `${baseUrl}/users/${account.login}`,
    html_url: `${baseUrl}/${account.login}`,
    followers_url: `${baseUrl}/users/${account.login}/followers`,
    following_url: `${baseUrl}/users/${account.login}/following{/other_user}`,
    gists_url: `${baseUrl}/users/${account.login}/gists{/gist_id}`,
    starred_url: `${baseUrl}/users/${account.login}/starred{/owner}{/repo}`,
    subscriptions_url: `${baseUrl}/users/${account.login}/subscriptions`,
    organizations_url: `${baseUrl}/users/${account.login}/orgs`,
    repos_url: `${baseUrl}/users/${account.login}/repos`,
    events_url: `${baseUrl}/users/${account.login}/events{/privacy}`,
    received_events_url: `${baseUrl}/users/${account.login}/received_events`,
    type: account.type,
    site_admin: account.siteAdmin
  })

  const payload = (gist: Gist, withContent: boolean) => {
    const url = `${baseUrl}/gists/${gist.id}`
    const files: Record<string, unknown> = {}
    for (const [filename, content] of gist.files) {
      files[filename] = {
        filename,
        type: filename.endsWith(".md")
          ? "text/markdown"
          : filename.endsWith(".json")
          ? "application/json"
          : "text/plain",
        language: filename.endsWith(".md") ? "Markdown" : filename.endsWith(".json") ? "JSON" : "Text",
        raw_url: `${baseUrl}/_emulator/gists/${gist.id}/raw/${encodeURIComponent(filename)}`,
        size: Buffer.byteLength(content),
        ...(withContent ? { truncated: false, content } : {})
      }
    }
    return {
      url,
      forks_url: `${url}/forks`,
      commits_url: `${url}/commits`,
      id: gist.id,
      node_id: `G_${gist.id}`,
      git_pull_url: `${baseUrl}/gist/${gist.id}.git`,
      git_push_url: `${baseUrl}/gist/${gist.id}.git`,
      html_url: `${baseUrl}/gist/${gist.owner.login}/${gist.id}`,
      files,
      public: gist.public,
      created_at: new Date(gist.createdAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
      updated_at: new Date(gist.updatedAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
      description: gist.description,
      comments: 0,
      user: null,
      comments_url: `${url}/comments`,
      owner: user(gist.owner),
      truncated: false
    }
  }

  const owned = (request: ApiRequest) =>
    Effect.gen(function*() {
      const owner = yield* ownerOf(request)
      const gist = gists.get(request.params["gist_id"] ?? "")
      // Someone else's gist answers like a missing one for writes (a secret gist is not listed anywhere).
      if (gist === undefined || gist.owner.id !== owner.id) return yield* notFound()
      return gist
    })

  return [
    {
      method: "POST",
      path: "/gists",
      handler: (request) =>
        Effect.gen(function*() {
          const owner = yield* ownerOf(request)
          const body = yield* decodeBody(CreateBody)(request.body)
          const now = state.now()
          const gist: Gist = {
            id: randomBytes(16).toString("hex"),
            owner,
            description: body.description ?? null,
            public: body.public === true || body.public === "true",
            files: new Map(Object.entries(body.files).map(([name, file]) => [name, file.content])),
            createdAt: now,
            updatedAt: now
          }
          gists.set(gist.id, gist)
          return json(payload(gist, true), 201, { location: `${baseUrl}/gists/${gist.id}` })
        })
    },
    {
      method: "GET",
      path: "/gists",
      handler: (request) =>
        Effect.gen(function*() {
          const owner = yield* ownerOf(request)
          const mine = [...gists.values()].filter((gist) => gist.owner.id === owner.id)
            .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
          const page = paginate(mine, request, baseUrl)
          return json(page.items.map((gist) => payload(gist, false)), 200, page.headers)
        })
    },
    {
      method: "GET",
      path: "/gists/{gist_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const gist = gists.get(request.params["gist_id"] ?? "")
          if (gist === undefined) return yield* notFound()
          return json(payload(gist, true))
        })
    },
    {
      method: "PATCH",
      path: "/gists/{gist_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const gist = yield* owned(request)
          const body = yield* decodeBody(UpdateBody)(request.body)
          if (body.description !== undefined) gist.description = body.description
          for (const [name, file] of Object.entries(body.files ?? {})) {
            if (file === null) gist.files.delete(name)
            else if (file.content !== undefined) gist.files.set(name, file.content)
          }
          gist.updatedAt = state.now()
          return json(payload(gist, true))
        })
    },
    {
      method: "DELETE",
      path: "/gists/{gist_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const gist = yield* owned(request)
          gists.delete(gist.id)
          return noContent
        })
    }
  ]
}
