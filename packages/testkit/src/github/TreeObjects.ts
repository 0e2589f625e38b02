/**
 * Git tree objects, parsed and built in the emulator's process: a tree's entries from its body (modes as `ls-tree`
 * prints them), a body from entries (git's entry order), and the whole hierarchy of trees holding a set of files.
 */
import { Effect } from "effect"
import { contents } from "./ObjectReader.ts"
import type { NewObject } from "./ObjectWriter.ts"
import { hashObject } from "./ObjectWriter.ts"

export interface RawEntry {
  /** As `ls-tree` prints it: `100644`, `100755`, `120000`, `040000`, `160000`. */
  readonly mode: string
  readonly type: "blob" | "tree" | "commit"
  readonly name: string
  readonly sha: string
}

/** A mode as git reads it from a tree (`canon_mode`), six digits. */
const canonical = (raw: string): string => {
  const mode = parseInt(raw, 8)
  switch (mode & 0o170000) {
    case 0o100000:
      return mode & 0o100 ? "100755" : "100644"
    case 0o120000:
      return "120000"
    case 0o040000:
      return "040000"
    default:
      return "160000"
  }
}

const typeOfMode = (mode: string): RawEntry["type"] =>
  mode === "040000" ? "tree" : mode === "160000" ? "commit" : "blob"

/** The entries of a tree object's body, in their order. */
export const parseTree = (body: Buffer): Array<RawEntry> => {
  const entries: Array<RawEntry> = []
  let at = 0
  while (at < body.length) {
    const space = body.indexOf(32, at)
    const nul = body.indexOf(0, space)
    if (space < 0 || nul < 0 || nul + 21 > body.length) break
    const mode = canonical(body.toString("latin1", at, space))
    entries.push({
      mode,
      type: typeOfMode(mode),
      name: body.toString("utf8", space + 1, nul),
      sha: body.toString("hex", nul + 1, nul + 21)
    })
    at = nul + 21
  }
  return entries
}

/** The entries of tree `sha`, or `undefined` when it is not a tree. */
export const readTree = Effect.fnUntraced(function*(gitDir: string, sha: string) {
  const found = yield* contents(gitDir, sha)
  return found?.type === "tree" ? parseTree(found.body!) : undefined
})

/** Git's order of tree entries: by name, a tree's name compared as if it ended in `/`. */
const compareEntries = (a: { name: Buffer; tree: boolean }, b: { name: Buffer; tree: boolean }) =>
  Buffer.compare(
    a.tree ? Buffer.concat([a.name, Buffer.from("/")]) : a.name,
    b.tree ? Buffer.concat([b.name, Buffer.from("/")]) : b.name
  )

/** A tree object's body from its entries (any order; modes as `ls-tree` prints them). */
export const formatTree = (
  entries: ReadonlyArray<{ readonly mode: string; readonly name: string; readonly sha: string }>
) => {
  const sorted = entries
    .map((entry) => ({ ...entry, key: { name: Buffer.from(entry.name, "utf8"), tree: entry.mode === "040000" } }))
    .sort((a, b) => compareEntries(a.key, b.key))
  return Buffer.concat(sorted.flatMap((entry) => [
    Buffer.from(`${entry.mode.replace(/^0+/, "")} ${entry.name}\0`, "utf8"),
    Buffer.from(entry.sha, "hex")
  ]))
}

interface Dir {
  readonly files: Map<string, { readonly mode: string; readonly sha: string }>
  readonly dirs: Map<string, Dir>
}

/** The tree holding exactly these leaves (path → mode and SHA; subtrees made from the paths): its SHA and objects. */
export const treeObjects = (leaves: ReadonlyMap<string, { readonly mode: string; readonly sha: string }>) => {
  const root: Dir = { files: new Map(), dirs: new Map() }
  for (const [file, leaf] of leaves) {
    const parts = file.split("/")
    let dir = root
    for (const part of parts.slice(0, -1)) {
      let below = dir.dirs.get(part)
      if (below === undefined) {
        below = { files: new Map(), dirs: new Map() }
        dir.dirs.set(part, below)
      }
      dir = below
    }
    dir.files.set(parts[parts.length - 1]!, leaf)
  }
  const objects: Array<NewObject> = []
  const build = (dir: Dir): string => {
    const subtrees = [...dir.dirs].map(([name, below]) => ({ mode: "040000", name, sha: build(below) }))
    const files = [...dir.files].map(([name, leaf]) => ({ mode: leaf.mode, name, sha: leaf.sha }))
    const body = formatTree([...files, ...subtrees])
    objects.push({ type: "tree", body })
    return hashObject("tree", body)
  }
  const sha = build(root)
  return { sha, objects }
}
