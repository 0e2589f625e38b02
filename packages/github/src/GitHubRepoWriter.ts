/**
 * GitHubRepoWriter: core's `RepoWriter` over GitHub's Git Data API, with the token of the App installation that
 * covers the repository (looked up and cached by `GitHubAuth`) or the personal access token.
 *
 * - `tree`: `GET …/git/trees/{commit}?recursive=1`. An answer GitHub marks `truncated` (over 100,000 entries or
 *   7 MB) is listed again level by level: the root without `recursive`, each subtree recursively (and the same
 *   again for a subtree that is truncated too), at most `maxTreeRequests` calls in all.
 * - `writeCommits`: per commit one `POST …/git/trees` on the previous tree (`base_tree`), text files inline as
 *   `content`, deletions as `sha: null`, then one `POST …/git/commits` with the agent's author, message and the
 *   previous commit as parent. Only binary files (not UTF-8, or holding NUL) and large text go as blobs first
 *   (`POST …/git/blobs`, base64). So a change set of text files costs 1 + 2 × commits requests — a Worker's
 *   subrequest budget is the limit that matters. Deleting a path the tree does not hold is skipped (GitHub refuses
 *   the whole tree for it); the base tree is listed for that only when a commit deletes something.
 * - `branchHead`: `GET …/git/ref/heads/{branch}` (404 → `None`).
 * - `moveBranch`: creates the branch (`POST …/git/refs`; 422 `Reference already exists` → `NotFastForward`), or
 *   checks it still points at `from` and moves it with `PATCH …/git/refs/heads/{branch}`, `force: false` (422, not
 *   a fast forward → `NotFastForward`). The check and the update are two calls: GitHub has no compare-and-swap on
 *   refs, but `force: false` still refuses anything that is not a fast-forward.
 * - `pullRequest`: the open pull request from `owner:branch` (`GET …/pulls?head=…&state=open`), else a new one
 *   (`POST …/pulls`; when that answers 422 because one was opened meanwhile, it is looked up again).
 * - `defaultBranch`: `GET /repos/{owner}/{repo}`.
 *
 * Commits are made with the installation token and carry neither a committer nor a `signature`: GitHub then signs
 * them itself and shows them **Verified** (committed by the App's bot on the author's behalf). With a personal
 * access token they are unsigned.
 *
 * Not verified against github.com: the inline-content thresholds below (GitHub documents no limit for a tree
 * request's body) and whether inline `content` is stored byte-exact for every UTF-8 text (the emulator does).
 *
 * @since 0.1.0
 */
import type { Repo } from "@porter/core"
import type { CommitToWrite, Entry, TreeEntry } from "@porter/core/ChangeRules"
import { NotFastForward, RepoWriteError, RepoWriter } from "@porter/core/RepoWriter"
import { Config, Effect, Layer, Option, Schema } from "effect"
import { Base64 } from "effect/encoding"
import type { InvalidPrivateKey } from "./AppJwt.ts"
import * as GitHubAuth from "./GitHubAuth.ts"
import type { GitHubClient, GitHubError } from "./GitHubClient.ts"

/** @category models */
export interface WriterOptions {
  /** Calls one `tree` may make to list a tree GitHub truncates (default 100). */
  readonly maxTreeRequests?: number
  /** Text files larger than this go as blobs rather than inline (default 512 KiB). */
  readonly inlineMaxBytes?: number
  /** Inline content of one tree request stops at this many bytes; the rest go as blobs (default 4 MiB). */
  readonly inlineTotalBytes?: number
}

const Sha = Schema.Struct({ sha: Schema.String })
const RefAnswer = Schema.Struct({ object: Sha })
const CommitAnswer = Schema.Struct({ tree: Sha })
const TreeAnswer = Schema.Struct({
  sha: Schema.String,
  tree: Schema.Array(
    Schema.Struct({ path: Schema.String, mode: Schema.String, type: Schema.String, sha: Schema.String })
  ),
  truncated: Schema.optional(Schema.Boolean)
})
const RepoAnswer = Schema.Struct({ default_branch: Schema.String })
const PullAnswer = Schema.Struct({ number: Schema.Int, html_url: Schema.String })

/** Every entry of a tree that is not a directory (blobs, links, submodules), by full path. */
type Leaves = Map<string, { readonly mode: string; readonly type: string; readonly sha: string }>

/** `GitHubError` → core's `RepoWriteError` (same message and status; never a token). */
export const toWriteError = (error: GitHubError) =>
  new RepoWriteError({ message: error.message, ...(error.status !== undefined ? { status: error.status } : {}) })

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** The file as text GitHub can take inline (UTF-8, no NUL), or `undefined`. */
export const inlineText = (bytes: Uint8Array): string | undefined => {
  if (bytes.includes(0)) return undefined
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

/** The entries of one commit, the last change to a path winning (a tree request may name a path once). */
const lastPerPath = (entries: ReadonlyArray<Entry>): ReadonlyArray<Entry> => [
  ...new Map(entries.map((entry) => [entry.path, entry] as const)).values()
]

/** What the tree holds after `entry`, as GitHub's tree API applies it (a file replaces a directory, and back). */
const apply = (leaves: Leaves, entry: Entry) => {
  leaves.delete(entry.path)
  if (entry._tag === "delete") return
  for (const path of [...leaves.keys()]) if (path.startsWith(`${entry.path}/`)) leaves.delete(path)
  const parts = entry.path.split("/")
  for (let i = 1; i < parts.length; i++) leaves.delete(parts.slice(0, i).join("/"))
  leaves.set(entry.path, { mode: entry.mode, type: "blob", sha: "" })
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const makeWith = Effect.fnUntraced(function*(options: WriterOptions = {}) {
  const request = yield* GitHubAuth.repoRequest
  const maxTreeRequests = options.maxTreeRequests ?? 100
  const inlineMaxBytes = options.inlineMaxBytes ?? 512 * 1024
  const inlineTotalBytes = options.inlineTotalBytes ?? 4 * 1024 * 1024

  /** The root tree's SHA and every leaf below it, walking level by level where GitHub truncates. */
  const listing = Effect.fnUntraced(function*(repo: Repo.RepoRef, treeish: string, installationId?: number) {
    const leaves: Leaves = new Map()
    let calls = 0
    const get = (sha: string, recursive: boolean) =>
      Effect.suspend(() =>
        ++calls > maxTreeRequests
          ? Effect.fail(
            new RepoWriteError({
              message: `the tree of ${treeish.slice(0, 12)} in ${repo.fullName} is too large to list in ` +
                `${maxTreeRequests} requests`
            })
          )
          : request(repo, installationId, "GET /repos/{owner}/{repo}/git/trees/{tree_sha}", {
            params: { tree_sha: sha, ...(recursive ? { recursive: "1" } : {}) },
            schema: TreeAnswer
          }).pipe(Effect.map((response) => response.data), Effect.mapError(toWriteError))
      )
    const add = (prefix: string, answer: typeof TreeAnswer.Type) => {
      for (const entry of answer.tree) {
        if (entry.type !== "tree") leaves.set(`${prefix}${entry.path}`, entry)
      }
    }
    const walk = (sha: string, prefix: string): Effect.Effect<string, RepoWriteError> =>
      Effect.gen(function*() {
        const whole = yield* get(sha, true)
        if (whole.truncated !== true) {
          add(prefix, whole)
          return whole.sha
        }
        const level = yield* get(whole.sha, false)
        if (level.truncated === true) {
          return yield* new RepoWriteError({ message: `a directory of ${repo.fullName} has too many entries to list` })
        }
        add(prefix, level)
        const subtrees = level.tree.filter((entry) => entry.type === "tree")
        yield* Effect.forEach(subtrees, (entry) => walk(entry.sha, `${prefix}${entry.path}/`), { concurrency: 4 })
        return whole.sha
      })
    const sha = yield* walk(treeish, "")
    return { sha, leaves }
  })

  // The last listings, by repository and commit: the writes that follow a `tree` (Porter checks a change set against
  // its base, then writes on it) start from the listed tree instead of asking for the commit again.
  const listed = new Map<string, { readonly sha: string; readonly leaves: Leaves }>()
  const remember = (repo: Repo.RepoRef, commit: string, listing: { readonly sha: string; readonly leaves: Leaves }) => {
    listed.delete(`${repo.fullName}@${commit}`)
    listed.set(`${repo.fullName}@${commit}`, listing)
    if (listed.size > 8) listed.delete(listed.keys().next().value!)
  }

  const tree = Effect.fn("GitHubRepoWriter.tree")(function*(
    repo: Repo.RepoRef,
    commit: string,
    installationId?: number
  ) {
    const found = yield* listing(repo, commit, installationId)
    remember(repo, commit, found)
    const { leaves } = found
    const blobs = new Map<string, TreeEntry>()
    for (const [path, leaf] of leaves) if (leaf.type === "blob") blobs.set(path, { mode: leaf.mode, sha: leaf.sha })
    return blobs as ReadonlyMap<string, TreeEntry>
  })

  const branchHead = Effect.fn("GitHubRepoWriter.branchHead")(function*(
    repo: Repo.RepoRef,
    branch: string,
    installationId?: number
  ) {
    return yield* request(repo, installationId, "GET /repos/{owner}/{repo}/git/ref/{ref}", {
      params: { ref: `heads/${branch}` },
      schema: RefAnswer
    }).pipe(
      Effect.map((found) => Option.some(found.data.object.sha)),
      Effect.catchIf((error) => error.status === 404, () => Effect.succeedNone)
    )
  }, Effect.mapError(toWriteError))

  /** The tree entries of one commit: inline text, blobs written first for the rest, deletions of present paths. */
  const treeEntries = Effect.fnUntraced(function*(
    repo: Repo.RepoRef,
    entries: ReadonlyArray<Entry>,
    present: Leaves | undefined,
    installationId: number | undefined
  ) {
    let inlined = 0
    const tree = yield* Effect.forEach(lastPerPath(entries), (entry) =>
      Effect.gen(function*() {
        if (entry._tag === "delete") {
          const leaf = present?.get(entry.path)
          if (leaf === undefined) return []
          return [{ path: entry.path, mode: leaf.mode, type: leaf.type, sha: null }]
        }
        const text = entry.content.byteLength <= inlineMaxBytes ? inlineText(entry.content) : undefined
        if (text !== undefined && inlined + entry.content.byteLength <= inlineTotalBytes) {
          inlined += entry.content.byteLength
          return [{ path: entry.path, mode: entry.mode, type: "blob", content: text }]
        }
        const blob = yield* request(repo, installationId, "POST /repos/{owner}/{repo}/git/blobs", {
          params: { content: Base64.encode(entry.content), encoding: "base64" },
          schema: Sha
        })
        return [{ path: entry.path, mode: entry.mode, type: "blob", sha: blob.data.sha }]
      }), { concurrency: 4 })
    if (present !== undefined) { for (const entry of entries) apply(present, entry) }
    return tree.flat()
  })

  const writeCommits = Effect.fn("GitHubRepoWriter.writeCommits")(function*(
    repo: Repo.RepoRef,
    base: string,
    commits: ReadonlyArray<CommitToWrite>,
    installationId?: number
  ) {
    if (commits.length === 0) return []
    const deletes = commits.some((commit) => commit.entries.some((entry) => entry._tag === "delete"))
    const known = listed.get(`${repo.fullName}@${base}`)
    // Which paths exist matters only to deletions; otherwise the base commit's tree SHA is enough.
    const start = known !== undefined
      ? { sha: known.sha, leaves: deletes ? new Map(known.leaves) : undefined }
      : deletes
      ? yield* listing(repo, base, installationId)
      : yield* request(repo, installationId, "GET /repos/{owner}/{repo}/git/commits/{commit_sha}", {
        params: { commit_sha: base },
        schema: CommitAnswer
      }).pipe(Effect.map((response) => ({ sha: response.data.tree.sha, leaves: undefined })))
    let parent = base
    let treeSha = start.sha
    const shas: Array<string> = []
    for (const commit of commits) {
      const entries = yield* treeEntries(repo, commit.entries, start.leaves, installationId)
      if (entries.length > 0) {
        const created = yield* request(repo, installationId, "POST /repos/{owner}/{repo}/git/trees", {
          params: { base_tree: treeSha, tree: entries },
          schema: Sha
        })
        treeSha = created.data.sha
      }
      // No committer and no signature: GitHub signs commits an App makes through the API (Verified).
      const created = yield* request(repo, installationId, "POST /repos/{owner}/{repo}/git/commits", {
        params: { message: commit.message, tree: treeSha, parents: [parent], author: commit.author },
        schema: Sha
      })
      parent = created.data.sha
      shas.push(parent)
    }
    return shas as ReadonlyArray<string>
  }, (effect) => Effect.mapError(effect, (error) => error._tag === "GitHubError" ? toWriteError(error) : error))

  const moveBranch = Effect.fn("GitHubRepoWriter.moveBranch")(function*(
    repo: Repo.RepoRef,
    branch: string,
    sha: string,
    from: Option.Option<string>,
    installationId?: number
  ) {
    const refused = (pattern: RegExp) => (error: GitHubError): NotFastForward | RepoWriteError =>
      error.status === 422 && pattern.test(error.message) ? new NotFastForward({ branch }) : toWriteError(error)
    if (Option.isNone(from)) {
      return yield* request(repo, installationId, "POST /repos/{owner}/{repo}/git/refs", {
        params: { ref: `refs/heads/${branch}`, sha }
      }).pipe(Effect.asVoid, Effect.mapError(refused(/already exists/i)))
    }
    const head = yield* branchHead(repo, branch, installationId)
    if (Option.isNone(head) || head.value !== from.value) return yield* new NotFastForward({ branch })
    if (head.value === sha) return
    yield* request(repo, installationId, "PATCH /repos/{owner}/{repo}/git/refs/{ref}", {
      params: { ref: `heads/${branch}`, sha, force: false }
    }).pipe(Effect.mapError(refused(/fast.forward|does not exist/i)))
  })

  const pullRequest = Effect.fn("GitHubRepoWriter.pullRequest")(function*(
    repo: Repo.RepoRef,
    pull: {
      readonly head: string
      readonly base: string
      readonly title: string
      readonly body: string
      readonly draft?: boolean
    },
    installationId?: number
  ) {
    const open = request(repo, installationId, "GET /repos/{owner}/{repo}/pulls", {
      params: { head: `${repo.owner}:${pull.head}`, state: "open", per_page: 100 },
      schema: Schema.Array(PullAnswer)
    }).pipe(Effect.map((response) => Option.fromNullishOr(response.data[0])))
    // Opened first, looked up only when GitHub says one exists (422): a new branch's pull request costs one call.
    const pr = yield* request(repo, installationId, "POST /repos/{owner}/{repo}/pulls", {
      params: {
        head: pull.head,
        base: pull.base,
        title: pull.title,
        body: pull.body,
        ...(pull.draft === true ? { draft: true } : {})
      },
      schema: PullAnswer
    }).pipe(
      Effect.map((response) => response.data),
      Effect.catchIf(
        (error) => error.status === 422,
        (error) => Effect.flatMap(open, Option.match({ onNone: () => Effect.fail(error), onSome: Effect.succeed }))
      )
    )
    return { number: pr.number, url: pr.html_url }
  }, Effect.mapError(toWriteError))

  const defaultBranch = Effect.fn("GitHubRepoWriter.defaultBranch")(function*(
    repo: Repo.RepoRef,
    installationId?: number
  ) {
    const response = yield* request(repo, installationId, "GET /repos/{owner}/{repo}", { schema: RepoAnswer })
    return response.data.default_branch
  }, Effect.mapError(toWriteError))

  return RepoWriter.of({ defaultBranch, tree, branchHead, writeCommits, moveBranch, pullRequest })
})

/**
 * Needs a `GitHubClient` and a `GitHubAuth`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<RepoWriter["Service"], never, GitHubAuth.GitHubAuth | GitHubClient> = makeWith()

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: GitHubAuth.ConnectionOptions & WriterOptions
): Layer.Layer<RepoWriter, InvalidPrivateKey> =>
  Layer.effect(RepoWriter, makeWith(options)).pipe(Layer.provide(GitHubAuth.layerConnection(options)))

/**
 * Over an existing `GitHubClient` and `GitHubAuth` (share them between adapters).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWithConnection = (
  options: WriterOptions = {}
): Layer.Layer<RepoWriter, never, GitHubAuth.GitHubAuth | GitHubClient> => Layer.effect(RepoWriter, makeWith(options))

/**
 * From `GITHUB_API_URL` and `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY` or `GITHUB_TOKEN`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<RepoWriter, Config.ConfigError | InvalidPrivateKey> = layerWithConnection()
  .pipe(Layer.provide(GitHubAuth.layerConnectionConfig()))
