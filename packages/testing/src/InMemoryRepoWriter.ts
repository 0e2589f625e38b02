/**
 * RepoWriter in memory: repositories seeded with files and branches, the commits, branches and pull requests Porter
 * makes, and controls for tests (`Repositories`): what a commit holds, who pushed what meanwhile, faults to inject.
 *
 * It answers like the GitHub adapter: tree entries carry git blob SHAs (of the real bytes), an unknown repository or
 * commit is `RepoWriteError` 404, deleting a path a tree does not hold is skipped, creating a branch that exists or
 * moving one that moved (or to a commit that does not follow it) is `NotFastForward`, a pull request is opened once
 * per head branch (422 when its head or base branch is missing or has no commits). Commit SHAs are SHA-1 digests of
 * the commit's parents, tree, author and message — unique, but not the SHAs git would compute.
 */
import type { Repo } from "@porter/core"
import type { CommitToWrite, Entry, TreeEntry } from "@porter/core/ChangeRules"
import { blobSha, type FileMode } from "@porter/core/ChangeSet"
import { NotFastForward, type PullRequestRef, RepoWriteError, RepoWriter } from "@porter/core/RepoWriter"
import { Context, Effect, Layer, Option, Ref } from "effect"
import { Hex } from "effect/encoding"

/** A file of a stored tree: its text or bytes and its mode. */
export interface StoredFile {
  readonly mode: FileMode
  readonly content: Uint8Array
  /** The git blob SHA of `content`. */
  readonly sha: string
}

/** A commit Porter wrote, with its whole tree. */
export interface StoredCommit {
  readonly sha: string
  readonly parents: ReadonlyArray<string>
  readonly message: string
  readonly author: { readonly name: string; readonly email: string; readonly date: string }
  /** The whole tree after the commit, by path. */
  readonly files: ReadonlyMap<string, StoredFile>
  /** Made through the `RepoWriter` (rather than seeded or pushed by a test). */
  readonly viaWriter: boolean
}

/** A pull request Porter opened or updated. */
export interface StoredPullRequest {
  readonly number: number
  readonly url: string
  readonly head: string
  readonly base: string
  readonly title: string
  readonly body: string
  readonly state: "open" | "closed"
  /** Opened as a draft (a checkpoint's work so far). */
  readonly draft?: boolean
}

/** A file to seed or push: `content` as text (UTF-8) or bytes; `mode` 100644 unless given. */
export interface FileInput {
  readonly path: string
  readonly content: string | Uint8Array
  readonly mode?: FileMode
}

/** How `Repositories.seed` sets a repository up: its default branch and files. */
export interface SeedOptions {
  /** Default `main`. */
  readonly defaultBranch?: string
  readonly files: ReadonlyArray<FileInput>
}

/** A `RepoWriter` operation a fault can be injected into (`Repositories.inject`). */
export type Operation = "defaultBranch" | "tree" | "branchHead" | "writeCommits" | "moveBranch" | "pullRequest"

/** Controls and inspection for tests. */
export class Repositories extends Context.Service<Repositories, {
  /** Creates (or replaces) `repo` with one commit holding `files` on its default branch; that commit's SHA. */
  readonly seed: (repo: Repo.RepoRef, options: SeedOptions) => Effect.Effect<string>
  /**
   * Someone else's push: a commit on `branch`'s head (or a new branch from the default branch's head) writing
   * `files` and deleting `deletes`; its SHA.
   */
  readonly push: (
    repo: Repo.RepoRef,
    branch: string,
    change: { readonly files?: ReadonlyArray<FileInput>; readonly deletes?: ReadonlyArray<string> }
  ) => Effect.Effect<string>
  /** Branch → head SHA (empty for a repository never seeded). */
  readonly branches: (repo: Repo.RepoRef) => Effect.Effect<ReadonlyMap<string, string>>
  readonly commit: (repo: Repo.RepoRef, sha: string) => Effect.Effect<Option.Option<StoredCommit>>
  /** The commits made through the `RepoWriter`, oldest first. */
  readonly written: (repo: Repo.RepoRef) => Effect.Effect<ReadonlyArray<StoredCommit>>
  readonly pullRequests: (repo: Repo.RepoRef) => Effect.Effect<ReadonlyArray<StoredPullRequest>>
  readonly closePullRequest: (repo: Repo.RepoRef, number: number) => Effect.Effect<void>
  /** The next call of `op` fails with `error` (once per fault, in order); `push` makes a branch move meanwhile. */
  readonly inject: (
    ...faults: ReadonlyArray<{ readonly op: Operation; readonly error: RepoWriteError }>
  ) => Effect.Effect<void>
}>()("@porter/testing/Repositories") {}

interface Repository {
  defaultBranch: string
  readonly commits: Map<string, StoredCommit>
  readonly order: Array<string>
  readonly branches: Map<string, string>
  readonly pulls: Array<StoredPullRequest>
}

const encoder = new TextEncoder()

const digest = (text: string) =>
  Effect.promise(() => crypto.subtle.digest("SHA-1", encoder.encode(text))).pipe(
    Effect.map((digest) => Hex.encode(new Uint8Array(digest)))
  )

const bytesOf = (content: string | Uint8Array) => typeof content === "string" ? encoder.encode(content) : content

const notFound = () => new RepoWriteError({ message: "Not Found", status: 404 })
const unprocessable = (message: string) => new RepoWriteError({ message, status: 422 })

/** The writer and its controls. */
export const make = Effect.gen(function*() {
  const repos = yield* Ref.make(new Map<string, Repository>())
  const faults = yield* Ref.make<Array<{ op: Operation; error: RepoWriteError }>>([])

  const fault = (op: Operation) =>
    Effect.flatMap(
      Ref.modify(faults, (list) => {
        const index = list.findIndex((f) => f.op === op)
        return index < 0 ? [undefined, list] : [list[index]!.error, list.filter((_, i) => i !== index)]
      }),
      (error) => error === undefined ? Effect.void : Effect.fail(error)
    )

  const repoOf = (repo: Repo.RepoRef) =>
    Effect.flatMap(Ref.get(repos), (map) => {
      const found = map.get(repo.fullName.toLowerCase())
      return found === undefined ? Effect.fail(notFound()) : Effect.succeed(found)
    })

  const commitIn = (repository: Repository, sha: string) => {
    const found = repository.commits.get(sha)
    return found === undefined ? Effect.fail(notFound()) : Effect.succeed(found)
  }

  /** A new commit on `parent` (or none) applying `entries` to its tree, stored in `repository`. */
  const store = Effect.fnUntraced(function*(
    repository: Repository,
    parent: StoredCommit | undefined,
    commit: CommitToWrite,
    viaWriter: boolean
  ) {
    const files = new Map(parent?.files ?? [])
    for (const entry of commit.entries) yield* applyEntry(files, entry)
    const tree = [...files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, file]) =>
      `${file.mode} ${path}\0${file.sha}`
    )
    const sha = yield* digest(JSON.stringify([parent?.sha ?? null, tree, commit.author, commit.message]))
    const stored: StoredCommit = {
      sha,
      parents: parent === undefined ? [] : [parent.sha],
      message: commit.message,
      author: commit.author,
      files,
      viaWriter
    }
    if (!repository.commits.has(sha)) repository.order.push(sha)
    repository.commits.set(sha, stored)
    return stored
  })

  const isAncestor = (repository: Repository, ancestor: string, sha: string): boolean => {
    const seen = new Set<string>()
    const queue = [sha]
    while (queue.length > 0) {
      const next = queue.pop()!
      if (next === ancestor) return true
      if (seen.has(next)) continue
      seen.add(next)
      for (const parent of repository.commits.get(next)?.parents ?? []) queue.push(parent)
    }
    return false
  }

  const entriesOf = (files: ReadonlyArray<FileInput>, deletes: ReadonlyArray<string> = []): Array<Entry> => [
    ...files.map((file): Entry => ({
      _tag: "write",
      path: file.path,
      mode: file.mode ?? "100644",
      content: bytesOf(file.content)
    })),
    ...deletes.map((path): Entry => ({ _tag: "delete", path }))
  ]

  const someone = { name: "Someone", email: "someone@example.com", date: new Date(0).toISOString() }

  const writer = RepoWriter.of({
    defaultBranch: Effect.fn("InMemoryRepoWriter.defaultBranch")(function*(repo) {
      yield* fault("defaultBranch")
      return (yield* repoOf(repo)).defaultBranch
    }),
    tree: Effect.fn("InMemoryRepoWriter.tree")(function*(repo, commit) {
      yield* fault("tree")
      const found = yield* commitIn(yield* repoOf(repo), commit)
      return new Map(
        [...found.files].map(([path, file]): [string, TreeEntry] => [path, { mode: file.mode, sha: file.sha }])
      )
    }),
    branchHead: Effect.fn("InMemoryRepoWriter.branchHead")(function*(repo, branch) {
      yield* fault("branchHead")
      return Option.fromUndefinedOr((yield* repoOf(repo)).branches.get(branch))
    }),
    writeCommits: Effect.fn("InMemoryRepoWriter.writeCommits")(function*(repo, base, commits) {
      yield* fault("writeCommits")
      const repository = yield* repoOf(repo)
      let parent = yield* commitIn(repository, base)
      const shas: Array<string> = []
      for (const commit of commits) {
        parent = yield* store(repository, parent, commit, true)
        shas.push(parent.sha)
      }
      return shas
    }),
    moveBranch: Effect.fn("InMemoryRepoWriter.moveBranch")(function*(repo, branch, sha, from) {
      yield* fault("moveBranch")
      const repository = yield* repoOf(repo)
      if (!repository.commits.has(sha)) return yield* unprocessable("Object does not exist")
      const head = repository.branches.get(branch)
      if (Option.isNone(from)) {
        if (head !== undefined) return yield* new NotFastForward({ branch })
      } else if (head !== from.value || !isAncestor(repository, head, sha)) {
        return yield* new NotFastForward({ branch })
      }
      repository.branches.set(branch, sha)
    }),
    pullRequest: Effect.fn("InMemoryRepoWriter.pullRequest")(function*(repo, request) {
      yield* fault("pullRequest")
      const repository = yield* repoOf(repo)
      const open = repository.pulls.find((pr) => pr.state === "open" && pr.head === request.head)
      if (open !== undefined) return { number: open.number, url: open.url } satisfies PullRequestRef
      const head = repository.branches.get(request.head)
      const base = repository.branches.get(request.base)
      if (head === undefined || base === undefined) return yield* unprocessable("Validation Failed")
      if (isAncestor(repository, head, base)) {
        return yield* unprocessable(`No commits between ${request.base} and ${request.head}`)
      }
      const number = repository.pulls.length + 1
      const created: StoredPullRequest = {
        number,
        url: `https://github.com/${repo.owner}/${repo.name}/pull/${number}`,
        head: request.head,
        base: request.base,
        title: request.title,
        body: request.body,
        ...(request.draft === true ? { draft: true } : {}),
        state: "open"
      }
      repository.pulls.push(created)
      return { number, url: created.url } satisfies PullRequestRef
    })
  })

  const repositories = Repositories.of({
    seed: Effect.fnUntraced(function*(repo, options) {
      const repository: Repository = {
        defaultBranch: options.defaultBranch ?? "main",
        commits: new Map(),
        order: [],
        branches: new Map(),
        pulls: []
      }
      const root = yield* store(
        repository,
        undefined,
        { message: "Initial commit", author: someone, entries: entriesOf(options.files) },
        false
      )
      repository.branches.set(repository.defaultBranch, root.sha)
      yield* Ref.update(repos, (map) => new Map(map).set(repo.fullName.toLowerCase(), repository))
      return root.sha
    }),
    push: Effect.fnUntraced(function*(repo, branch, change) {
      const repository = yield* Effect.orDie(repoOf(repo))
      const head = repository.branches.get(branch) ?? repository.branches.get(repository.defaultBranch)!
      const parent = repository.commits.get(head)!
      const entries = entriesOf(change.files ?? [], change.deletes)
      const pushed = yield* store(
        repository,
        parent,
        { message: `Push to ${branch}`, author: someone, entries },
        false
      )
      repository.branches.set(branch, pushed.sha)
      return pushed.sha
    }),
    branches: (repo) =>
      Effect.map(Ref.get(repos), (map) => new Map(map.get(repo.fullName.toLowerCase())?.branches ?? [])),
    commit: (repo, sha) =>
      Effect.map(Effect.orDie(repoOf(repo)), (found) => Option.fromUndefinedOr(found.commits.get(sha))),
    written: (repo) =>
      Effect.map(
        Effect.orDie(repoOf(repo)),
        (found) => found.order.map((sha) => found.commits.get(sha)!).filter((commit) => commit.viaWriter)
      ),
    pullRequests: (repo) => Effect.map(Effect.orDie(repoOf(repo)), (found) => [...found.pulls]),
    closePullRequest: (repo, number) =>
      Effect.map(Effect.orDie(repoOf(repo)), (found) => {
        const index = found.pulls.findIndex((pr) => pr.number === number)
        if (index >= 0) found.pulls[index] = { ...found.pulls[index]!, state: "closed" }
      }),
    inject: (...more) => Ref.update(faults, (list) => [...list, ...more])
  })

  return { writer, repositories }
})

/** Applies one change to a tree: a file replaces a directory at its path (and the reverse); deleting an absent path is nothing. */
const applyEntry = Effect.fnUntraced(function*(files: Map<string, StoredFile>, entry: Entry) {
  if (entry._tag === "delete") {
    files.delete(entry.path)
    return
  }
  for (const path of [...files.keys()]) if (path.startsWith(`${entry.path}/`)) files.delete(path)
  const parts = entry.path.split("/")
  for (let i = 1; i < parts.length; i++) files.delete(parts.slice(0, i).join("/"))
  files.set(entry.path, { mode: entry.mode, content: entry.content, sha: yield* blobSha(entry.content) })
})

/** `RepoWriter` and its `Repositories` controls. */
export const layer: Layer.Layer<RepoWriter | Repositories> = Layer.effectContext(
  Effect.map(
    make,
    ({ repositories, writer }) => Context.make(RepoWriter, writer).pipe(Context.add(Repositories, repositories))
  )
)
