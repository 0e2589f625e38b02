/**
 * Git objects and references of the Git Data API, real ones in the bare repositories: blobs written
 * with `git hash-object -w`, trees assembled in a temporary index (`update-index --index-info`,
 * `write-tree`), commits written as commit objects (`hash-object -t commit -w`, so a given date,
 * time zone and signature are kept), references moved with `update-ref` against their expected old
 * value. Whatever is written here is what `git clone` / `git fetch` over smart HTTP gets, and what git
 * pushed is what these functions read.
 */
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { run, runBytes } from "./Git.ts"

export type ObjectType = "blob" | "tree" | "commit" | "tag"

export const SHA = /^[0-9a-f]{40}$/

/** The type and size of each object that exists (others are absent from the map). */
export const objectInfo = Effect.fnUntraced(function*(gitDir: string, shas: Iterable<string>) {
  const wanted = [...new Set([...shas].filter((sha) => SHA.test(sha)))]
  const found = new Map<string, { readonly type: ObjectType; readonly size: number }>()
  if (wanted.length === 0) return found
  const result = yield* run(gitDir, ["cat-file", "--batch-check"], { input: `${wanted.join("\n")}\n` })
  for (const line of result.stdout.split("\n")) {
    const [sha, type, size] = line.split(" ")
    if (sha && size !== undefined && type !== "missing") {
      found.set(sha, { type: type as ObjectType, size: Number(size) })
    }
  }
  return found
})

/** Writes blobs (exact bytes, no filters); their shas in the same order. */
export const writeBlobs = Effect.fnUntraced(function*(gitDir: string, contents: ReadonlyArray<Uint8Array>) {
  if (contents.length === 0) return []
  if (contents.length === 1) {
    const sha = (yield* run(gitDir, ["hash-object", "-w", "--no-filters", "--stdin"], { input: contents[0]! }))
      .stdout.trim()
    return [sha]
  }
  return yield* Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(path.join(tmpdir(), "porter-blobs-"))),
    (dir) =>
      Effect.gen(function*() {
        const files = contents.map((_, index) => path.join(dir, String(index)))
        yield* Effect.promise(() => Promise.all(contents.map((content, index) => writeFile(files[index]!, content))))
        const result = yield* run(gitDir, ["hash-object", "-w", "--no-filters", "--stdin-paths"], {
          input: `${files.join("\n")}\n`
        })
        return result.stdout.split("\n").filter((line) => line.length > 0)
      }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
})

export const readBlob = (gitDir: string, sha: string) =>
  Effect.map(runBytes(gitDir, ["cat-file", "blob", sha]), (result) => result.stdout)

/** The tree a tree-ish (a tree or commit sha, a branch or tag name) names, or `undefined`. */
export const resolveTree = Effect.fnUntraced(function*(gitDir: string, treeish: string) {
  if (treeish.length === 0 || treeish.startsWith("-")) return undefined
  const result = yield* run(gitDir, ["rev-parse", "--verify", "--quiet", `${treeish}^{tree}`], { allowFailure: true })
  return result.code === 0 ? result.stdout.trim() : undefined
})

export interface TreeEntry {
  readonly path: string
  readonly mode: string
  readonly type: "blob" | "tree" | "commit"
  readonly sha: string
  /** Blobs only. */
  readonly size: number | undefined
}

/**
 * The entries of a tree (with `recursive`, every blob and subtree below it, trees before their contents);
 * with `file`, only the entry at that path (a directory's own entry, not its contents).
 */
export const listTree = Effect.fnUntraced(function*(gitDir: string, tree: string, recursive: boolean, file?: string) {
  const result = yield* run(
    gitDir,
    ["ls-tree", "-l", "-z", ...(recursive ? ["-r", "-t"] : []), tree, ...(file === undefined ? [] : ["--", file])],
    { env: { GIT_LITERAL_PATHSPECS: "1" } }
  )
  const entries: Array<TreeEntry> = []
  for (const record of result.stdout.split("\0")) {
    const match = /^(\d+) (\w+) ([0-9a-f]+) +(-|\d+)\t([\s\S]*)$/.exec(record)
    if (!match) continue
    entries.push({
      mode: match[1]!,
      type: match[2] as TreeEntry["type"],
      sha: match[3]!,
      size: match[4] === "-" ? undefined : Number(match[4]),
      path: match[5]!
    })
  }
  return entries
})

/** The entry at `file` in a tree-ish, or `undefined`. */
export const entryAt = Effect.fnUntraced(function*(gitDir: string, treeish: string, file: string) {
  return (yield* listTree(gitDir, treeish, false, file)).find((entry) => entry.path === file)
})

export interface Leaf {
  readonly mode: string
  readonly sha: string
}

/** Every blob and submodule below a tree, by full path. */
export const leavesOf = Effect.fnUntraced(function*(gitDir: string, tree: string) {
  const leaves = new Map<string, Leaf>()
  const result = yield* run(gitDir, ["ls-tree", "-r", "-z", "--full-tree", tree])
  for (const record of result.stdout.split("\0")) {
    const match = /^(\d+) \w+ ([0-9a-f]+)\t([\s\S]*)$/.exec(record)
    if (match) leaves.set(match[3]!, { mode: match[1]!, sha: match[2]! })
  }
  return leaves
})

/** Writes the tree holding exactly these leaves (subtrees made from the paths); its sha. */
export const writeTree = (gitDir: string, leaves: ReadonlyMap<string, Leaf>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => path.join(tmpdir(), `porter-index-${randomBytes(8).toString("hex")}`)),
    (index) =>
      Effect.gen(function*() {
        const env = { GIT_INDEX_FILE: index }
        const info = [...leaves].map(([file, leaf]) => `${leaf.mode} ${leaf.sha}\t${file}\n`).join("")
        yield* run(gitDir, ["read-tree", "--empty"], { env })
        if (info.length > 0) yield* run(gitDir, ["update-index", "--add", "--index-info"], { input: info, env })
        return (yield* run(gitDir, ["write-tree"], { env })).stdout.trim()
      }),
    (index) => Effect.promise(() => rm(index, { force: true }))
  )

export interface Identity {
  readonly name: string
  readonly email: string
  readonly seconds: number
  /** `+hhmm` / `-hhmm` */
  readonly offset: string
}

export interface RawCommit {
  readonly sha: string
  readonly tree: string
  readonly parents: ReadonlyArray<string>
  readonly author: Identity
  readonly committer: Identity
  readonly message: string
  /** The `gpgsig` header, if the commit is signed. */
  readonly signature: string | undefined
  /** The commit object without its signature: what a signature signs. */
  readonly payload: string
}

const identityLine = (who: Identity) => `${who.name} <${who.email}> ${who.seconds} ${who.offset}`

const parseIdentity = (line: string): Identity => {
  const match = /^(.*) <(.*)> (\d+) ([+-]\d{4})$/.exec(line)
  return match
    ? { name: match[1]!, email: match[2]!, seconds: Number(match[3]), offset: match[4]! }
    : { name: line, email: "", seconds: 0, offset: "+0000" }
}

/** A commit object's text; a signature goes in a `gpgsig` header, like git writes it. */
export const formatCommit = (commit: Omit<RawCommit, "sha" | "payload">): string => {
  const headers = [
    `tree ${commit.tree}`,
    ...commit.parents.map((parent) => `parent ${parent}`),
    `author ${identityLine(commit.author)}`,
    `committer ${identityLine(commit.committer)}`,
    ...(commit.signature === undefined ? [] : [`gpgsig ${commit.signature.replace(/\n$/, "").split("\n").join("\n ")}`])
  ]
  return `${headers.join("\n")}\n\n${commit.message}`
}

/** The commit object `sha`, parsed; `undefined` when it is not a commit. */
export const readCommit = Effect.fnUntraced(function*(gitDir: string, sha: string) {
  if (!SHA.test(sha)) return undefined
  const result = yield* run(gitDir, ["cat-file", "commit", sha], { allowFailure: true })
  if (result.code !== 0) return undefined
  const text = result.stdout
  const end = text.indexOf("\n\n")
  const head = end < 0 ? text : text.slice(0, end)
  const message = end < 0 ? "" : text.slice(end + 2)
  const fields: Array<[string, string]> = []
  for (const line of head.split("\n")) {
    if (line.startsWith(" ") && fields.length > 0) fields[fields.length - 1]![1] += `\n${line.slice(1)}`
    else fields.push([line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)])
  }
  const field = (name: string) => fields.find(([key]) => key === name)?.[1]
  const signature = field("gpgsig")
  const commit: RawCommit = {
    sha,
    tree: field("tree") ?? "",
    parents: fields.filter(([key]) => key === "parent").map(([, value]) => value),
    author: parseIdentity(field("author") ?? ""),
    committer: parseIdentity(field("committer") ?? ""),
    message,
    signature,
    payload: signature === undefined
      ? text
      : `${
        fields.filter(([key]) => key !== "gpgsig").map(([key, value]) => `${key} ${value}`).join("\n")
      }\n\n${message}`
  }
  return commit
})

export const writeCommit = (gitDir: string, text: string) =>
  Effect.map(
    run(gitDir, ["hash-object", "-t", "commit", "-w", "--stdin"], { input: text }),
    (result) => result.stdout.trim()
  )

export interface Ref {
  /** `refs/heads/main` */
  readonly name: string
  readonly sha: string
  readonly type: ObjectType
}

/** Every reference, sorted by name (no `HEAD`). */
export const refs = Effect.fnUntraced(function*(gitDir: string) {
  const result = yield* run(gitDir, ["for-each-ref", "--format=%(refname)%00%(objectname)%00%(objecttype)"])
  return result.stdout.split("\n").filter((line) => line.length > 0).map((line): Ref => {
    const [name, sha, type] = line.split("\0")
    return { name: name!, sha: sha!, type: type as ObjectType }
  })
})

export const validRefName = Effect.fnUntraced(function*(gitDir: string, name: string) {
  if (!/^refs\/[^/]+\/./.test(name)) return false
  return (yield* run(gitDir, ["check-ref-format", name], { allowFailure: true })).code === 0
})

/** Points `name` at `sha` if it still points at `expected` (`undefined`: only if it does not exist). */
export const updateRef = Effect.fnUntraced(function*(gitDir: string, name: string, sha: string, expected?: string) {
  const result = yield* run(gitDir, ["update-ref", name, sha, expected ?? ""], { allowFailure: true })
  return result.code === 0
})

/** Deletes `name` if it still points at `expected`. */
export const deleteRef = Effect.fnUntraced(function*(gitDir: string, name: string, expected: string) {
  return (yield* run(gitDir, ["update-ref", "-d", name, expected], { allowFailure: true })).code === 0
})

/** Whether `ancestor` is `descendant` or one of its ancestors (a fast-forward from one to the other). */
export const isAncestor = Effect.fnUntraced(function*(gitDir: string, ancestor: string, descendant: string) {
  return (yield* run(gitDir, ["merge-base", "--is-ancestor", ancestor, descendant], { allowFailure: true })).code === 0
})
