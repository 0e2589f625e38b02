/**
 * The Git Data API's objects: blobs (create from `utf-8` or `base64` content, get — base64 JSON, or the
 * raw bytes for `Accept: application/vnd.github.raw`), trees (create from entries on top of a
 * `base_tree`: `sha` or inline `content`, `sha: null` deletes a path, nested paths make subtrees;
 * get, `?recursive=…` for the whole hierarchy; past the emulator's `treeLimits` — GitHub's 100,000 entries and
 * 7 MB by default — the entries that fit and `truncated: true`) and commits (create, get). They are real git
 * objects in the repository (`GitObjects.ts`), so git clients fetch them. References are in `GitRefs.ts`.
 *
 * Like GitHub: reading needs `contents: read`, writing `contents: write` (users: push access); a
 * repository without branches is 409 `Git Repository is empty.`; a commit made with an installation
 * token is verified (GitHub signs it), one made with a user token unsigned.
 */
import { Effect, Schema } from "effect"
import type { Need } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import type { Verification } from "../GitDataLog.ts"
import { UNSIGNED } from "../GitDataLog.ts"
import type { Identity, Leaf } from "../GitObjects.ts"
import * as GitObjects from "../GitObjects.ts"
import { bytes, decodeBody, json, notFound, unprocessable, validationFailed } from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"
import type { Repo } from "../State.ts"
import { noreplyEmail } from "./Repos.ts"

export const READ_CONTENTS: Need = { role: "read", scope: "contents", level: "read" }
export const WRITE_CONTENTS: Need = { role: "write", scope: "contents", level: "write" }

const BlobBody = Schema.Struct({ content: Schema.String, encoding: Schema.optional(Schema.String) })

const MODES = ["100644", "100755", "040000", "160000", "120000"] as const
const TreeBody = Schema.Struct({
  tree: Schema.Array(Schema.Struct({
    path: Schema.optional(Schema.String),
    mode: Schema.optional(Schema.Literals(MODES)),
    type: Schema.optional(Schema.Literals(["blob", "tree", "commit"])),
    sha: Schema.optional(Schema.NullOr(Schema.String)),
    content: Schema.optional(Schema.String)
  })),
  base_tree: Schema.optional(Schema.String)
})

const Person = Schema.Struct({ name: Schema.String, email: Schema.String, date: Schema.optional(Schema.String) })
const CommitBody = Schema.Struct({
  message: Schema.String,
  tree: Schema.String,
  parents: Schema.optional(Schema.Array(Schema.String)),
  author: Schema.optional(Person),
  committer: Schema.optional(Schema.Struct({
    name: Schema.optional(Schema.String),
    email: Schema.optional(Schema.String),
    date: Schema.optional(Schema.String)
  })),
  signature: Schema.optional(Schema.String)
})

const TYPE_OF_MODE: Record<string, "blob" | "tree" | "commit"> = {
  "100644": "blob",
  "100755": "blob",
  "120000": "blob",
  "040000": "tree",
  "160000": "commit"
}
const MODE_OF_TYPE: Record<string, string> = { blob: "100644", tree: "040000", commit: "160000" }

/** A path git accepts in a tree: no empty, `.`, `..` or `.git` component, no leading or trailing slash. */
const validPath = (file: string) =>
  file.length > 0 && !file.includes("\0") &&
  file.split("/").every((part) => part.length > 0 && part !== "." && part !== ".." && part.toLowerCase() !== ".git")

/** A date as git writes it (seconds and `+hhmm`), keeping the time zone given; `undefined` when invalid. */
const gitDate = (date: string): Pick<Identity, "seconds" | "offset"> | undefined => {
  const zone = /(Z|[+-]\d{2}:?\d{2})$/.exec(date)?.[1]
  const ms = Date.parse(zone ? date : `${date}Z`)
  if (!Number.isFinite(ms)) return undefined
  const offset = !zone || zone === "Z" ? "+0000" : zone.replace(":", "")
  return { seconds: Math.floor(ms / 1000), offset }
}

/** git refuses `<`, `>` and line breaks in names and emails. */
const clean = (value: string) => value.replace(/[<>\n]/g, "").trim()

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { gitData, payloads, state } = context
  const helpers = makeHelpers(context)

  const invalid = (field: string) => validationFailed({ resource: "Commit", field, code: "invalid" })

  /** The identity of a commit's author or committer: the one given, else the caller's (now). */
  const identityOf = (
    request: ApiRequest,
    given: { readonly name?: string | undefined; readonly email?: string | undefined; readonly date?: string },
    fallback: Identity | undefined,
    field: string
  ) =>
    Effect.gen(function*() {
      const account = helpers.actor(request).account
      const base: Identity = fallback ?? {
        name: account.login,
        email: noreplyEmail(account),
        seconds: Math.floor(state.now() / 1000),
        offset: "+0000"
      }
      const date = given.date === undefined ? undefined : gitDate(given.date)
      if (given.date !== undefined && date === undefined) return yield* invalid(`${field}.date`)
      return {
        name: given.name === undefined ? base.name : clean(given.name),
        email: given.email === undefined ? base.email : clean(given.email),
        seconds: date?.seconds ?? base.seconds,
        offset: date?.offset ?? base.offset
      } satisfies Identity
    })

  /** The leaves of the new tree: `base_tree`'s, with the entries applied in order. */
  const leavesFor = (repo: Repo, body: typeof TreeBody.Type) =>
    Effect.gen(function*() {
      const referenced = body.tree.flatMap((entry) => typeof entry.sha === "string" ? [entry.sha] : [])
      const objects = yield* GitObjects.objectInfo(repo.gitDir, [
        ...referenced,
        ...(body.base_tree ? [body.base_tree] : [])
      ])
      let leaves = new Map<string, Leaf>()
      if (body.base_tree !== undefined) {
        if (objects.get(body.base_tree)?.type !== "tree") {
          return yield* unprocessable("base_tree is not a valid tree oid")
        }
        leaves = yield* GitObjects.leavesOf(repo.gitDir, body.base_tree)
      }
      // Every directory a leaf has been in: only a path among them can have leaves below it to remove.
      const directories = new Set<string>()
      const addDirectories = (file: string) => {
        for (let at = file.indexOf("/"); at >= 0; at = file.indexOf("/", at + 1)) directories.add(file.slice(0, at))
      }
      for (const file of leaves.keys()) addDirectories(file)
      const removeAt = (file: string) => {
        let found = leaves.delete(file)
        if (!directories.has(file)) return found
        for (const existing of [...leaves.keys()]) {
          if (existing.startsWith(`${file}/`)) found = leaves.delete(existing) || found
        }
        return found
      }
      const inline: Array<{ readonly path: string; readonly mode: string; readonly content: string }> = []
      for (const entry of body.tree) {
        const file = entry.path ?? ""
        if (!validPath(file)) return yield* unprocessable("tree.path contains a malformed path component")
        const type = entry.type ?? (entry.mode ? TYPE_OF_MODE[entry.mode] : undefined)
        const mode = entry.mode ?? (type ? MODE_OF_TYPE[type] : undefined)
        if (type === undefined || mode === undefined || TYPE_OF_MODE[mode] !== type) {
          return yield* unprocessable(`Must supply a valid tree.mode and tree.type for ${file}`)
        }
        if (entry.sha !== undefined && entry.content !== undefined) {
          return yield* unprocessable("Must supply either tree.sha or tree.content, not both")
        }
        if (entry.sha === null) {
          if (!removeAt(file)) return yield* unprocessable("GitRPC::BadObjectState")
          continue
        }
        // A file replaces a directory at its path, and a directory a file at one of its parents.
        removeAt(file)
        file.split("/").slice(0, -1).forEach((_, index, parts) => leaves.delete(parts.slice(0, index + 1).join("/")))
        if (entry.content !== undefined) {
          if (type !== "blob") return yield* unprocessable(`tree.content is only valid for blobs (${file})`)
          inline.push({ path: file, mode, content: entry.content })
          continue
        }
        if (entry.sha === undefined) {
          return yield* unprocessable(`Must supply a valid tree.sha or tree.content for ${file}`)
        }
        if (type !== "commit" && objects.get(entry.sha)?.type !== type) {
          return yield* unprocessable(`tree.sha ${entry.sha} is not a valid ${type}`)
        }
        if (type === "tree") {
          for (const [below, leaf] of yield* GitObjects.leavesOf(repo.gitDir, entry.sha)) {
            leaves.set(`${file}/${below}`, leaf)
            addDirectories(`${file}/${below}`)
          }
        } else leaves.set(file, { mode, sha: entry.sha })
      }
      // Inline contents: written with the tree (`writeTree`), in one go.
      const blobs = inline.map((entry) => Buffer.from(entry.content, "utf8"))
      const shas = GitObjects.blobShas(blobs)
      inline.forEach((entry, index) => leaves.set(entry.path, { mode: entry.mode, sha: shas[index]! }))
      return { leaves, blobs }
    })

  return [
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/git/blobs",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, WRITE_CONTENTS)
          const body = yield* decodeBody(BlobBody)(request.body)
          const encoding = (body.encoding ?? "utf-8").toLowerCase()
          if (encoding !== "utf-8" && encoding !== "utf8" && encoding !== "base64") {
            return yield* validationFailed({ resource: "Blob", field: "encoding", code: "invalid" })
          }
          const content = Buffer.from(body.content, encoding === "base64" ? "base64" : "utf8")
          const [sha] = yield* GitObjects.writeBlobs(repo.gitDir, [content])
          helpers.recordGitData(request, repo, { operation: "blob", sha: sha! })
          const created = payloads.shortBlob(repo, sha!)
          return json(created, 201, { location: created.url })
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/git/blobs/{file_sha}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, READ_CONTENTS)
          const sha = request.params["file_sha"]!
          if ((yield* GitObjects.objectInfo(repo.gitDir, [sha])).get(sha)?.type !== "blob") return yield* notFound()
          const content = yield* GitObjects.readBlob(repo.gitDir, sha)
          if (/application\/vnd\.github(\.v3)?\.raw/.test(request.headers["accept"] ?? "")) {
            return bytes(content, "application/vnd.github.raw")
          }
          return json(payloads.blob(repo, sha, content))
        })
    },
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/git/trees",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, WRITE_CONTENTS)
          const body = yield* decodeBody(TreeBody)(request.body)
          const { blobs, leaves } = yield* leavesFor(repo, body)
          const sha = yield* GitObjects.writeTree(repo.gitDir, leaves, blobs)
          helpers.recordGitData(request, repo, { operation: "tree", sha })
          const created = payloads.tree(repo, sha, yield* GitObjects.listTree(repo.gitDir, sha, false), false)
          return json(created, 201, { location: created.url })
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/git/trees/{tree_sha}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, READ_CONTENTS)
          const sha = yield* GitObjects.resolveTree(repo.gitDir, request.params["tree_sha"]!)
          if (!sha) return yield* notFound()
          // Any value of `recursive` (even 0 or false) asks for the whole hierarchy, as on GitHub.
          const entries = yield* GitObjects.listTree(repo.gitDir, sha, request.query.has("recursive"))
          // Past the limits (100,000 entries, 7 MB), GitHub answers the entries that fit and `truncated: true`.
          const listed = payloads.tree(repo, sha, entries, false)
          let kept = 0
          let size = 0
          for (const entry of listed.tree) {
            size += Buffer.byteLength(JSON.stringify(entry)) + 1
            if (kept >= context.treeLimits.entries || size > context.treeLimits.bytes) break
            kept++
          }
          return json(
            kept < listed.tree.length ? { ...listed, tree: listed.tree.slice(0, kept), truncated: true } : listed
          )
        })
    },
    {
      method: "POST",
      path: "/repos/{owner}/{repo}/git/commits",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, WRITE_CONTENTS)
          const body = yield* decodeBody(CommitBody)(request.body)
          const parents = body.parents ?? []
          const objects = yield* GitObjects.objectInfo(repo.gitDir, [body.tree, ...parents])
          if (objects.get(body.tree)?.type !== "tree") return yield* unprocessable("Tree SHA does not exist")
          if (parents.some((parent) => objects.get(parent)?.type !== "commit")) {
            return yield* unprocessable("Parent SHA does not exist or is not a commit object")
          }
          const author = yield* identityOf(request, body.author ?? {}, undefined, "author")
          // The committer defaults to the author (date included).
          const committer = yield* identityOf(request, body.committer ?? {}, author, "committer")
          const text = GitObjects.formatCommit({
            tree: body.tree,
            parents,
            author,
            committer,
            message: body.message,
            signature: body.signature
          })
          const sha = yield* GitObjects.writeCommit(repo.gitDir, text)
          const commit = (yield* GitObjects.readCommit(repo.gitDir, sha))!
          // GitHub signs what a GitHub App commits through the API; a signature given is checked against
          // keys the emulator does not have; users' commits are unsigned.
          const verification: Verification = body.signature !== undefined
            ? {
              verified: false,
              reason: "unknown_key",
              signature: body.signature,
              payload: commit.payload,
              verified_at: null
            }
            : request.principal._tag === "Installation"
            ? {
              verified: true,
              reason: "valid",
              signature: null,
              payload: commit.payload,
              verified_at: new Date(state.now()).toISOString().replace(/\.\d{3}Z$/, "Z")
            }
            : UNSIGNED
          gitData.addCommit(repo, sha, verification)
          helpers.recordGitData(request, repo, { operation: "commit", sha })
          const created = payloads.gitCommit(repo, commit)
          return json(created, 201, { location: created.url })
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/git/commits/{commit_sha}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.gitRepoFor(request, READ_CONTENTS)
          const commit = yield* GitObjects.readCommit(repo.gitDir, request.params["commit_sha"]!)
          if (!commit) return yield* notFound()
          return json(payloads.gitCommit(repo, commit))
        })
    }
  ]
}
