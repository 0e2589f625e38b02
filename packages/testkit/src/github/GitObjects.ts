/**
 * Git objects and references of the Git Data API, real ones in the bare repositories. Objects are read through the
 * repository's long-lived `git cat-file --batch-command` and written in this process, loose or packed
 * (`ObjectStore.ts`): blobs, trees built from their entries, commits written as commit objects (so a given date, time
 * zone and signature are kept). References are read from the ref files and moved against their expected old value,
 * under git's lock file or by `git update-ref` when git must decide (`updateRef`). Whatever is written here is what `git clone` / `git fetch` over smart HTTP gets, and what git
 * pushed is what these functions read. Names the batch process cannot take (spaces, control characters) and the
 * rare cases below are answered by spawning git as before.
 */
import { Effect } from "effect"
import { run, runBytes } from "./Git.ts"
import * as ObjectStore from "./ObjectStore.ts"
import type { ObjectType } from "./ObjectStore.ts"

export type { ObjectType } from "./ObjectStore.ts"

export const SHA = ObjectStore.SHA

/** The type and size of each object that exists (others are absent from the map). */
export const objectInfo = Effect.fnUntraced(function*(gitDir: string, shas: Iterable<string>) {
  const wanted = [...new Set([...shas].filter((sha) => SHA.test(sha)))]
  const found = new Map<string, { readonly type: ObjectType; readonly size: number }>()
  const answers = yield* ObjectStore.info(gitDir, wanted)
  for (const answer of answers) {
    if (answer !== undefined) found.set(answer.sha, { type: answer.type, size: answer.size })
  }
  return found
})

/** Writes blobs (exact bytes, no filters); their shas in the same order. */
export const writeBlobs = (gitDir: string, contents: ReadonlyArray<Uint8Array>) =>
  ObjectStore.writeObjects(gitDir, contents.map((body) => ({ type: "blob", body })))

/** The shas blobs of these bytes have (nothing written: `writeTree` writes them with the tree). */
export const blobShas = (contents: ReadonlyArray<Uint8Array>) =>
  contents.map((body) => ObjectStore.hashObject("blob", body))

export const readBlob = Effect.fnUntraced(function*(gitDir: string, sha: string) {
  const found = SHA.test(sha) ? yield* ObjectStore.contents(gitDir, sha) : undefined
  if (found?.type === "blob") return found.body!
  // Not a blob's SHA: git's own answer (a tree-ish path, or the error).
  return (yield* runBytes(gitDir, ["cat-file", "blob", sha])).stdout
})

/** The object `name^{type}` names (`rev-parse --verify`), or `undefined`. */
const peeled = Effect.fnUntraced(function*(gitDir: string, name: string, type: "tree" | "commit") {
  if (name.length === 0 || name.startsWith("-")) return undefined
  if (ObjectStore.batchable(name)) {
    const [found] = yield* ObjectStore.info(gitDir, [`${name}^{${type}}`])
    return found?.type === type ? found.sha : undefined
  }
  const result = yield* run(gitDir, ["rev-parse", "--verify", "--quiet", `${name}^{${type}}`], { allowFailure: true })
  return result.code === 0 ? result.stdout.trim() : undefined
})

/** The tree a tree-ish (a tree or commit sha, a branch or tag name) names, or `undefined`. */
export const resolveTree = (gitDir: string, treeish: string) => peeled(gitDir, treeish, "tree")

/** The commit a ref or sha names, or `undefined` (what `Git.resolve` answers, without a process). */
export const resolveCommit = (gitDir: string, ref: string) => peeled(gitDir, ref, "commit")

/** Whether the repository has a branch (GitHub's `Git Repository is empty.` otherwise). */
export const hasBranches = ObjectStore.hasBranches

export interface TreeEntry {
  readonly path: string
  readonly mode: string
  readonly type: "blob" | "tree" | "commit"
  readonly sha: string
  /** Blobs only. */
  readonly size: number | undefined
}

/** `ls-tree`, spawned: for the cases `listTree` does not answer in process. */
const spawnedListTree = Effect.fnUntraced(
  function*(gitDir: string, tree: string, recursive: boolean, file?: string) {
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
  }
)

/** A path `listTree` walks itself: no empty, `.` or `..` component. */
const walkable = (file: string) => file.split("/").every((part) => part.length > 0 && part !== "." && part !== "..")

/**
 * The entries below a tree, with full paths, in `ls-tree -r -t` order (a tree before its contents) when `recursive`,
 * else its own entries; `undefined` when `tree` is not a tree.
 */
const entriesBelow = Effect.fnUntraced(function*(gitDir: string, tree: string, prefix: string, recursive: boolean) {
  const bodies = new Map<string, ReadonlyArray<ObjectStore.RawEntry>>()
  const root = yield* ObjectStore.readTree(gitDir, tree)
  if (root === undefined) return undefined
  bodies.set(tree, root)
  if (recursive) {
    // Level by level, each level's trees read in one batch.
    let level = root.filter((entry) => entry.type === "tree").map((entry) => entry.sha)
    while (level.length > 0) {
      const wanted = [...new Set(level)].filter((sha) => !bodies.has(sha))
      const answers = yield* Effect.forEach(wanted, (sha) => ObjectStore.readTree(gitDir, sha), {
        concurrency: "unbounded"
      })
      const next: Array<string> = []
      wanted.forEach((sha, index) => {
        const entries = answers[index] ?? []
        bodies.set(sha, entries)
        for (const entry of entries) if (entry.type === "tree") next.push(entry.sha)
      })
      level = next
    }
  }
  const out: Array<Omit<TreeEntry, "size">> = []
  const visit = (sha: string, at: string) => {
    for (const entry of bodies.get(sha) ?? []) {
      const full = `${at}${entry.name}`
      out.push({ path: full, mode: entry.mode, type: entry.type, sha: entry.sha })
      if (recursive && entry.type === "tree") visit(entry.sha, `${full}/`)
    }
  }
  visit(tree, prefix)
  return out
})

/** Adds blob sizes (`ls-tree -l`). */
const withSizes = Effect.fnUntraced(function*(gitDir: string, entries: ReadonlyArray<Omit<TreeEntry, "size">>) {
  const blobs = [...new Set(entries.filter((entry) => entry.type === "blob").map((entry) => entry.sha))]
  const answers = yield* ObjectStore.info(gitDir, blobs)
  const sizes = new Map<string, number>()
  answers.forEach((answer, index) => {
    if (answer !== undefined) sizes.set(blobs[index]!, answer.size)
  })
  // In `ls-tree`'s field order, as the spawned listing builds them.
  return entries.map((entry): TreeEntry => ({
    mode: entry.mode,
    type: entry.type,
    sha: entry.sha,
    size: entry.type === "blob" ? sizes.get(entry.sha) : undefined,
    path: entry.path
  }))
})

/**
 * The entries of a tree (with `recursive`, every blob and subtree below it, trees before their contents);
 * with `file`, only the entry at that path (a directory's own entry, not its contents), and with `dir/`, the
 * entries of that directory.
 */
export const listTree = Effect.fnUntraced(function*(gitDir: string, tree: string, recursive: boolean, file?: string) {
  const root = ObjectStore.batchable(tree) && !tree.startsWith("-")
    ? (yield* ObjectStore.info(gitDir, [`${tree}^{tree}`]))[0]
    : undefined
  const directory = file?.endsWith("/") ? file.slice(0, -1) : undefined
  if (root?.type !== "tree" || (file !== undefined && (recursive || !walkable(directory ?? file)))) {
    return yield* spawnedListTree(gitDir, tree, recursive, file)
  }
  if (file === undefined) return yield* withSizes(gitDir, (yield* entriesBelow(gitDir, root.sha, "", recursive))!)
  // Down to the directory holding the path.
  const parts = (directory ?? file).split("/")
  let at = root.sha
  for (const part of parts.slice(0, directory === undefined ? -1 : parts.length)) {
    const entry = (yield* ObjectStore.readTree(gitDir, at))?.find((candidate) => candidate.name === part)
    if (entry?.type !== "tree") return []
    at = entry.sha
  }
  if (directory !== undefined) {
    return yield* withSizes(gitDir, (yield* entriesBelow(gitDir, at, `${directory}/`, false))!)
  }
  const name = parts[parts.length - 1]!
  const entry = (yield* ObjectStore.readTree(gitDir, at))?.find((candidate) => candidate.name === name)
  if (entry === undefined) return []
  return yield* withSizes(gitDir, [{ path: file, mode: entry.mode, type: entry.type, sha: entry.sha }])
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
  const found = SHA.test(tree) ? yield* entriesBelow(gitDir, tree, "", true) : undefined
  if (found !== undefined) {
    for (const entry of found) if (entry.type !== "tree") leaves.set(entry.path, { mode: entry.mode, sha: entry.sha })
    return leaves
  }
  const result = yield* run(gitDir, ["ls-tree", "-r", "-z", "--full-tree", tree])
  for (const record of result.stdout.split("\0")) {
    const match = /^(\d+) \w+ ([0-9a-f]+)\t([\s\S]*)$/.exec(record)
    if (match) leaves.set(match[3]!, { mode: match[1]!, sha: match[2]! })
  }
  return leaves
})

/**
 * Writes the tree holding exactly these leaves (subtrees made from the paths), and `blobs` with it (in one pack when
 * there are many); its sha.
 */
export const writeTree = (gitDir: string, leaves: ReadonlyMap<string, Leaf>, blobs: ReadonlyArray<Uint8Array> = []) => {
  const tree = ObjectStore.treeObjects(leaves)
  return Effect.as(
    ObjectStore.writeObjects(gitDir, [...blobs.map((body) => ({ type: "blob" as const, body })), ...tree.objects]),
    tree.sha
  )
}

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
  const found = yield* ObjectStore.contents(gitDir, sha)
  let text: string
  if (found?.type === "commit") text = found.body!.toString("utf8")
  else if (found?.type === "tag") {
    // `cat-file commit <tag>` answers the commit the tag points at, under the tag's SHA: kept as it was.
    const result = yield* run(gitDir, ["cat-file", "commit", sha], { allowFailure: true })
    if (result.code !== 0) return undefined
    text = result.stdout
  } else return undefined
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
  ObjectStore.writeObject(gitDir, "commit", Buffer.from(text, "utf8"))

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

/** Whether `name` is `refs/<kind>/<name>` and `git check-ref-format` would accept it. */
export const validRefName = (_gitDir: string, name: string) => Effect.succeed(ObjectStore.validRefName(name))

/** One reference (what `refs()` holds for it), or `undefined`. */
export const ref = Effect.fnUntraced(function*(gitDir: string, name: string) {
  const sha = yield* ObjectStore.readRef(gitDir, name)
  if (sha === undefined) return undefined
  const [found] = yield* ObjectStore.info(gitDir, [sha])
  if (found === undefined) return undefined
  const ref: Ref = { name, sha, type: found.type }
  return ref
})

/** Points `name` at `sha` if it still points at `expected` (`undefined`: only if it does not exist). */
export const updateRef = Effect.fnUntraced(function*(gitDir: string, name: string, sha: string, expected?: string) {
  const swapped = yield* ObjectStore.compareAndSwapRef(gitDir, name, sha, expected)
  if (swapped !== undefined) return swapped
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
