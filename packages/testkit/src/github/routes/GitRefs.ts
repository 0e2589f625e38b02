/**
 * The Git Data API's references: get one (`heads/<branch>`, `tags/<tag>`), list those matching a prefix,
 * create (422 `Reference already exists`), update (a fast-forward unless `force`, else 422
 * `Update is not a fast forward`), delete. They are the bare repository's refs: a branch pushed with git
 * is read here, and a branch moved here is what git fetches. Every update compares and swaps against the
 * value read, like `git update-ref <ref> <new> <old>`.
 *
 * Like GitHub: reading needs `contents: read`, writing `contents: write` (users: push access); a
 * repository without branches is 409 `Git Repository is empty.`; the default branch cannot be deleted.
 */
import { Effect, Schema } from "effect"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import type { Ref } from "../GitObjects.ts"
import * as GitObjects from "../GitObjects.ts"
import { decodeBody, json, jsonPage, noContent, notFound, unprocessable } from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"
import type { Repo } from "../State.ts"
import { READ_CONTENTS, WRITE_CONTENTS } from "./GitData.ts"

const CreateRefBody = Schema.Struct({ ref: Schema.String, sha: Schema.String })
const UpdateRefBody = Schema.Struct({ sha: Schema.String, force: Schema.optional(Schema.Boolean) })

/** `heads/main` (or `refs/heads/main`) → `refs/heads/main` */
const fullName = (ref: string) => ref.startsWith("refs/") ? ref : `refs/${ref}`

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { payloads, state } = context
  const helpers = makeHelpers(context)

  const existing = (repo: Repo, name: string) => GitObjects.ref(repo.gitDir, name)

  /** The object a reference may point at; branches only at commits. */
  const target = (repo: Repo, name: string, sha: string) =>
    Effect.gen(function*() {
      const object = (yield* GitObjects.objectInfo(repo.gitDir, [sha])).get(sha)
      if (!object || (name.startsWith("refs/heads/") && object.type !== "commit")) {
        return yield* unprocessable("Object does not exist")
      }
      return object
    })

  const pushed = (repo: Repo) => {
    repo.pushedAt = state.now()
    repo.updatedAt = state.now()
  }

  const refFor = (request: ApiRequest, need = WRITE_CONTENTS) =>
    Effect.gen(function*() {
      const repo = yield* helpers.gitRepoFor(request, need)
      const name = fullName(request.params["ref"]!)
      return { repo, name, ref: yield* existing(repo, name) }
    })

  return [
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/git/ref/{ref}",
      handler: (request) =>
        Effect.gen(function*() {
          const { ref, repo } = yield* refFor(request, READ_CONTENTS)
          if (!ref) return yield* notFound()
          return json(payloads.gitRef(repo, ref))
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/git/matching-refs/{ref}",
      // Without a ref, every reference.
      tailMayBeEmpty: true,
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, READ_CONTENTS)
          const prefix = request.params["ref"] === "" ? "refs/" : fullName(request.params["ref"]!)
          const matching = (yield* GitObjects.refs(repo.gitDir)).filter((ref) => ref.name.startsWith(prefix))
          return jsonPage(matching.map((ref) => payloads.gitRef(repo, ref)), request, context.baseUrl)
        })
    },
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/git/refs",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, WRITE_CONTENTS)
          const body = yield* decodeBody(CreateRefBody)(request.body)
          if (!(yield* GitObjects.validRefName(repo.gitDir, body.ref))) {
            return yield* unprocessable("Reference name invalid")
          }
          const object = yield* target(repo, body.ref, body.sha)
          if (yield* existing(repo, body.ref)) return yield* unprocessable("Reference already exists")
          if (!(yield* GitObjects.updateRef(repo.gitDir, body.ref, body.sha))) {
            return yield* unprocessable("Reference already exists")
          }
          pushed(repo)
          helpers.recordGitData(request, repo, { operation: "ref.create", sha: body.sha, ref: body.ref })
          const created = payloads.gitRef(repo, { name: body.ref, sha: body.sha, type: object.type })
          return json(created, 201, { location: created.url })
        })
    },
    {
      method: "PATCH",
      path: "/repos/{owner}/{repo}/git/refs/{ref}",
      handler: (request) =>
        Effect.gen(function*() {
          const { name, ref, repo } = yield* refFor(request)
          const body = yield* decodeBody(UpdateRefBody)(request.body)
          if (!ref) return yield* unprocessable("Reference does not exist")
          const object = yield* target(repo, name, body.sha)
          const force = body.force === true
          if (!force && ref.sha !== body.sha && !(yield* GitObjects.isAncestor(repo.gitDir, ref.sha, body.sha))) {
            return yield* unprocessable("Update is not a fast forward")
          }
          // Compare and swap: a ref that moved meanwhile is not overwritten.
          if (!(yield* GitObjects.updateRef(repo.gitDir, name, body.sha, ref.sha))) {
            return yield* unprocessable("Update is not a fast forward")
          }
          pushed(repo)
          helpers.recordGitData(request, repo, {
            operation: "ref.update",
            sha: body.sha,
            ref: name,
            previousSha: ref.sha,
            forced: force
          })
          const updated: Ref = { name, sha: body.sha, type: object.type }
          return json(payloads.gitRef(repo, updated))
        })
    },
    {
      method: "DELETE",
      path: "/repos/{owner}/{repo}/git/refs/{ref}",
      handler: (request) =>
        Effect.gen(function*() {
          const { name, ref, repo } = yield* refFor(request)
          if (name === `refs/heads/${repo.defaultBranch}`) {
            return yield* unprocessable("Cannot delete the default branch")
          }
          if (!ref || !(yield* GitObjects.deleteRef(repo.gitDir, name, ref.sha))) {
            return yield* unprocessable("Reference does not exist")
          }
          pushed(repo)
          helpers.recordGitData(request, repo, { operation: "ref.delete", sha: ref.sha, ref: name })
          return noContent
        })
    }
  ]
}
