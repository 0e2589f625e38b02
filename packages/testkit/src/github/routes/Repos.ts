/**
 * Repositories: creation for the authenticated user or an organization (`auto_init` commits a
 * README on `main`), lookup, branches and commits read from the bare repository, collaborators.
 *
 * Invitations are accepted at once: `PUT …/collaborators/{username}` answers 201 with the invitation
 * like GitHub, and the user already has the permission.
 */
import { Effect, Schema } from "effect"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import * as Git from "../Git.ts"
import {
  ApiError,
  decodeBody,
  forbidden,
  iso,
  json,
  jsonPage,
  noContent,
  notAccessibleByIntegration,
  notFound,
  requiresAuthentication,
  unprocessable,
  validationFailed
} from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"
import * as ObjectStore from "../ObjectStore.ts"
import type { Account, Role } from "../State.ts"

const CreateRepoBody = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.NullOr(Schema.String)),
  homepage: Schema.optional(Schema.NullOr(Schema.String)),
  private: Schema.optional(Schema.Boolean),
  visibility: Schema.optional(Schema.Literals(["public", "private", "internal"])),
  auto_init: Schema.optional(Schema.Boolean)
})

const CollaboratorBody = Schema.Struct({
  permission: Schema.optional(Schema.Literals(["pull", "triage", "push", "maintain", "admin"]))
})

const ROLE_OF_PERMISSION: Record<string, Role> = {
  pull: "read",
  triage: "triage",
  push: "write",
  maintain: "maintain",
  admin: "admin"
}

/** `permission` in GitHub's permission-level answer: maintain reads as write, triage as read. */
const LEGACY_PERMISSION: Record<string, string> = {
  admin: "admin",
  maintain: "write",
  write: "write",
  triage: "read",
  read: "read",
  none: "none"
}

export const noreplyEmail = (account: Account) => `${account.id}+${account.login}@users.noreply.github.com`

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { payloads, state } = context
  const helpers = makeHelpers(context)

  const create = (request: ApiRequest, owner: Account, creator: Account) =>
    Effect.gen(function*() {
      const body = yield* decodeBody(CreateRepoBody)(request.body)
      // GitHub replaces characters it does not allow in names with "-".
      const name = body.name.trim().replace(/[^A-Za-z0-9_.-]/g, "-")
      if (name.length === 0 || name.length > 100 || name === "." || name === "..") {
        return yield* validationFailed({
          resource: "Repository",
          code: "custom",
          field: "name",
          message: "name is invalid"
        })
      }
      if (state.repo(owner.login, name)) {
        return yield* validationFailed({
          resource: "Repository",
          code: "custom",
          field: "name",
          message: "name already exists on this account"
        })
      }
      const repo = state.createRepo({
        owner,
        name,
        description: body.description ?? null,
        homepage: body.homepage ?? null,
        private: body.private ?? (body.visibility !== undefined && body.visibility !== "public")
      })
      yield* Git.init(repo.gitDir)
      // A repository made again where one was (its directory removed meanwhile) has none of the old one's objects.
      ObjectStore.forget(repo.gitDir)
      if (body.auto_init) {
        const readme = `# ${name}\n${body.description ? `\n${body.description}\n` : ""}`
        yield* Git.initialCommit(repo.gitDir, repo.defaultBranch, { path: "README.md", content: readme }, {
          name: creator.login,
          email: noreplyEmail(creator),
          at: state.now()
        })
        repo.pushedAt = state.now()
      }
      return json(payloads.fullRepository(repo, "admin"), 201)
    })

  const userOnly = (request: ApiRequest) => {
    switch (request.principal._tag) {
      case "User":
        return Effect.succeed(request.principal.account)
      case "Anonymous":
        return Effect.fail(requiresAuthentication())
      default:
        return Effect.fail(notAccessibleByIntegration())
    }
  }

  const commitOr = (request: ApiRequest, ref: string) =>
    Effect.gen(function*() {
      const repo = yield* helpers.repoFor(request, { role: "read", scope: "contents", level: "read" })
      if ((yield* Git.branches(repo.gitDir)).length === 0) {
        return yield* new ApiError({ status: 409, message: "Git Repository is empty." })
      }
      const sha = yield* Git.resolve(repo.gitDir, ref)
      if (!sha) return yield* unprocessable(`No commit found for SHA: ${ref}`)
      return { repo, sha }
    })

  return [
    {
      method: "POST",
      path: "/user/repos",
      handler: (request) =>
        Effect.gen(function*() {
          const user = yield* userOnly(request)
          return yield* create(request, user, user)
        })
    },
    {
      method: "POST",
      path: "/orgs/{org}/repos",
      handler: (request) =>
        Effect.gen(function*() {
          const user = yield* userOnly(request)
          const login = request.params["org"]!
          let org = state.account(login)
          // Seeding convenience: the site admin creates an unknown organization on first use.
          if (!org && user.siteAdmin) org = state.createOrg(login, [user])?.account
          if (!org || org.type !== "Organization") return yield* notFound()
          const membership = state.org(org.id)
          if (!user.siteAdmin && !membership?.owners.has(user.id)) {
            return yield* forbidden("You need admin access to the organization before adding a repository to it.")
          }
          return yield* create(request, org, user)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}",
      handler: (request) => Effect.map(helpers.repoFor(request), (repo) => json(helpers.repoJson(request, repo)))
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/branches",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, { role: "read", scope: "contents", level: "read" })
          const branches = yield* Git.branches(repo.gitDir)
          return jsonPage(
            branches.map((branch) => payloads.shortBranch(repo, branch.name, branch.sha)),
            request,
            context.baseUrl
          )
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/branches/{branch}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, { role: "read", scope: "contents", level: "read" })
          const name = request.params["branch"]!
          const sha = yield* Git.resolve(repo.gitDir, `refs/heads/${name}`)
          if (!sha) {
            return yield* new ApiError({
              status: 404,
              message: "Branch not found",
              documentationUrl: "https://docs.github.com/rest/branches/branches#get-a-branch"
            })
          }
          return json(payloads.branch(repo, name, yield* Git.commit(repo.gitDir, sha)))
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/commits/{ref}",
      handler: (request) =>
        Effect.gen(function*() {
          const { repo, sha } = yield* commitOr(request, request.params["ref"]!)
          const info = yield* Git.commit(repo.gitDir, sha)
          const files = yield* Git.changes(repo.gitDir, info.parents[0], sha)
          return json(payloads.commit(repo, info, files))
        })
    },
    {
      method: "PUT",
      path: "/repos/{owner}/{repo}/collaborators/{username}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, { role: "admin", scope: "administration", level: "write" })
          const body = yield* decodeBody(CollaboratorBody)(request.body)
          const invitee = state.account(request.params["username"]!)
          if (!invitee || invitee.type !== "User") return yield* notFound()
          if (invitee.id === repo.owner.id) {
            return yield* validationFailed({
              resource: "Repository",
              code: "custom",
              field: "collaborator",
              message: "Repository owner cannot be a collaborator"
            })
          }
          const role = ROLE_OF_PERMISSION[body.permission ?? "push"]!
          const existing = repo.collaborators.has(invitee.id)
          repo.collaborators.set(invitee.id, role)
          if (existing) return noContent
          const id = state.nextId("invitation")
          return json({
            id,
            node_id: Buffer.from(`020:RepositoryInvitation${id}`).toString("base64"),
            repository: payloads.repository(repo),
            invitee: payloads.user(invitee),
            inviter: payloads.user(helpers.actor(request).account),
            permissions: role,
            created_at: iso(state.now()),
            expired: false,
            url: `${payloads.repoUrl(repo)}/invitations/${id}`,
            html_url: `${context.baseUrl}/${repo.owner.login}/${repo.name}/invitations`
          }, 201)
        })
    },
    {
      method: "DELETE",
      path: "/repos/{owner}/{repo}/collaborators/{username}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, { role: "admin", scope: "administration", level: "write" })
          const account = state.account(request.params["username"]!)
          if (account) repo.collaborators.delete(account.id)
          return noContent
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/collaborators",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, { role: "write", scope: "metadata", level: "read" })
          const owners = state.org(repo.owner.id)?.owners ?? []
          const ids = new Set<number>([repo.owner.id, ...owners, ...repo.collaborators.keys()])
          const people = [...ids].map((id) => state.accountById(id)).filter((account): account is Account =>
            account !== undefined && account.type === "User"
          )
          return jsonPage(
            people.map((account) => payloads.collaborator(account, state.roleOf(account, repo))),
            request,
            context.baseUrl
          )
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/collaborators/{username}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request)
          const account = state.account(request.params["username"]!)
          if (!account || !state.isCollaborator(account, repo)) return yield* notFound()
          return noContent
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/collaborators/{username}/permission",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request)
          const account = state.account(request.params["username"]!)
          if (!account) {
            return yield* new ApiError({ status: 404, message: `${request.params["username"]} is not a user` })
          }
          const role = state.roleOf(account, repo)
          return json({
            permission: LEGACY_PERMISSION[role]!,
            role_name: role,
            user: payloads.collaborator(account, role)
          })
        })
    }
  ]
}
