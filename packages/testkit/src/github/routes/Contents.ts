/**
 * The contents API, read side: `GET /repos/{owner}/{repo}/contents/{path}` (`?ref=` a branch, tag or commit;
 * the default branch otherwise). A file answers its base64 `content`, `sha` and `size` (the raw bytes for
 * `Accept: application/vnd.github.raw`), a directory — the path empty or naming one — the list of its
 * entries, a symlink the file it points to when that is a file of the repository (else the link with its
 * `target`), a submodule its commit and URL.
 *
 * Not emulated: writes (`PUT` / `DELETE`), the `object` and `html` media types, the 1 MB limit of the JSON
 * form; `download_url` names a raw URL the emulator does not serve.
 */
import { Effect } from "effect"
import * as path from "node:path"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import * as Git from "../Git.ts"
import * as GitObjects from "../GitObjects.ts"
import { ApiError, bytes, json, notFound } from "../Http.ts"
import type { Route } from "../Http.ts"
import { READ_CONTENTS } from "./GitData.ts"

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { payloads } = context
  const helpers = makeHelpers(context)

  return [
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/contents/{path}",
      // `…/contents/` is the root directory.
      tailMayBeEmpty: true,
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, READ_CONTENTS)
          const { gitDir } = repo
          if (!(yield* GitObjects.hasBranches(gitDir))) {
            return yield* new ApiError({ status: 404, message: "This repository is empty." })
          }
          const ref = request.query.get("ref") || repo.defaultBranch
          const commit = yield* GitObjects.resolveCommit(gitDir, ref)
          if (!commit) return yield* new ApiError({ status: 404, message: `No commit found for the ref ${ref}` })
          const raw = /application\/vnd\.github(\.v3)?\.raw/.test(request.headers["accept"] ?? "")
          const file = request.params["path"]!.replace(/^\/+|\/+$/g, "")
          const listing = (directory: string | undefined) =>
            Effect.map(
              GitObjects.listTree(gitDir, commit, false, directory === undefined ? undefined : `${directory}/`),
              (entries) => json(entries.map((entry) => payloads.content(repo, ref, entry)))
            )
          if (file === "") return yield* listing(undefined)
          const entry = yield* GitObjects.entryAt(gitDir, commit, file)
          if (!entry) return yield* notFound()
          if (entry.type === "tree") return yield* listing(file)
          if (entry.type === "commit") {
            const url = yield* Git.run(gitDir, ["config", "--blob", `${commit}:.gitmodules`, `submodule.${file}.url`], {
              allowFailure: true
            })
            return json({
              ...payloads.content(repo, ref, entry),
              type: "submodule",
              submodule_git_url: url.stdout.trim()
            })
          }
          let shown = entry
          if (entry.mode === "120000") {
            const target = (yield* GitObjects.readBlob(gitDir, entry.sha)).toString("utf8")
            const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), target))
            const pointed = path.posix.isAbsolute(target) || resolved.startsWith("..")
              ? undefined
              : yield* GitObjects.entryAt(gitDir, commit, resolved)
            if (!pointed || pointed.type !== "blob" || pointed.mode === "120000") {
              return raw
                ? bytes(Buffer.from(target), "application/vnd.github.raw")
                : json({ ...payloads.content(repo, ref, entry), type: "symlink", target })
            }
            shown = pointed
          }
          const content = yield* GitObjects.readBlob(gitDir, shown.sha)
          return raw
            ? bytes(content, "application/vnd.github.raw")
            : json(payloads.contentFile(repo, ref, shown, content))
        })
    }
  ]
}
