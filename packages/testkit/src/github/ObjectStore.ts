/**
 * Git objects and references read and written inside the emulator's process, for the Git Data API and the REST reads
 * beside it, instead of one `git` process per call:
 *
 * - **Reads** go through one long-lived `git cat-file --batch-command` per repository (`info` / `contents`, many
 *   requests pipelined). It sees what is written later: loose objects are looked up on each request, and git rescans
 *   the pack directory when an object is not found, so a pack a push brought in is read too. When the process dies it
 *   is started again on the next request (a request in flight is retried once).
 * - **Writes** are git's formats, named by SHA-1 over `"<type> <size>\0" + body`: a few objects as loose objects (zlib,
 *   a temporary file beside the object renamed into `objects/xx/…`), more as one pack and its index (renamed into
 *   `objects/pack`, the index last). Atomic either way, so a concurrent push or reader never sees half an object, and
 *   writing an object that exists changes nothing. Objects already read or written are not written again (`known`).
 * - **Trees** are parsed and built here (git's entry order, modes as `ls-tree` prints them).
 * - **References** are read from the ref files (a loose ref, else `packed-refs`); names are checked as
 *   `git check-ref-format` does. A ref is created or moved under its lock file as git does (compare-and-swap against
 *   the value expected); anything but the plain case (packed refs, reflogs, symbolic refs), and deleting, is left to
 *   `git update-ref`.
 *
 * Object names given to the batch process must be one line without spaces: callers fall back to spawning git for
 * anything else. SHA-1 repositories only (the emulator makes no others).
 */
import { Effect } from "effect"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { crc32, deflateSync } from "node:zlib"
import { baseEnv } from "./Git.ts"

export type ObjectType = "blob" | "tree" | "commit" | "tag"

export const SHA = /^[0-9a-f]{40}$/

/** What `cat-file` answers for an object that exists (`body` for `contents` requests). */
export interface FoundObject {
  readonly sha: string
  readonly type: ObjectType
  readonly size: number
  readonly body: Buffer | undefined
}

/** A name the batch process can be asked about: one token, no whitespace or control characters. */
export const batchable = (name: string) => name.length > 0 && /^[^\s\x00-\x1f\x7f]+$/.test(name)

interface Pending {
  readonly contents: boolean
  readonly resolve: (found: FoundObject | undefined) => void
  readonly reject: (error: Error) => void
}

const HEADER = /^([0-9a-f]{40}) (blob|tree|commit|tag) (\d+)$/

/** One `git cat-file --batch-command` and the requests waiting for its answers, in order. */
class Reader {
  private child: ChildProcessWithoutNullStreams | undefined
  private pending: Array<Pending> = []
  private buffer: Buffer = Buffer.alloc(0)
  private chunks: Array<Buffer> = []
  private received = 0
  /** Bytes to wait for before parsing again (an object's whole body). */
  private need = 0

  private readonly gitDir: string

  constructor(gitDir: string) {
    this.gitDir = gitDir
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn("git", [`--git-dir=${this.gitDir}`, "cat-file", "--batch-command"], {
      env: baseEnv(),
      stdio: ["pipe", "pipe", "pipe"]
    })
    this.child = child
    this.buffer = Buffer.alloc(0)
    this.chunks = []
    this.received = 0
    this.need = 0
    child.stdout.on("data", (chunk: Buffer) => this.onData(chunk))
    child.stderr.resume()
    const failed = (error: Error) => {
      if (this.child !== child) return
      this.child = undefined
      const waiting = this.pending
      this.pending = []
      for (const request of waiting) request.reject(error)
    }
    child.on("error", failed)
    child.on("exit", (code, signal) => failed(new Error(`git cat-file exited (${code ?? signal})`)))
    child.stdin.on("error", () => {}) // the exit handler reports it
    // Not a reason for Node to stay alive while idle (`hold`): the emulator kills it on close, and it ends on its own
    // when stdin closes.
    child.unref()
    for (const stream of [child.stdin, child.stderr]) (stream as { unref?: () => void }).unref?.()
    this.hold(child, false)
    return child
  }

  /** Keeps Node alive while answers are awaited. */
  private hold(child: ChildProcessWithoutNullStreams, waiting: boolean) {
    const stdout = child.stdout as { ref?: () => void; unref?: () => void }
    if (waiting) stdout.ref?.()
    else stdout.unref?.()
  }

  private onData(chunk: Buffer) {
    // A large object arrives in many chunks: joined once it is all there.
    this.chunks.push(chunk)
    this.received += chunk.length
    if (this.received < this.need) return
    this.buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    this.chunks = []
    this.need = 0
    this.answer()
    if (this.buffer.length > 0) this.chunks.push(this.buffer)
    this.received = this.buffer.length
    if (this.pending.length === 0 && this.child !== undefined) this.hold(this.child, false)
  }

  private answer() {
    while (this.pending.length > 0) {
      const newline = this.buffer.indexOf(10)
      if (newline < 0) return
      const header = HEADER.exec(this.buffer.subarray(0, newline).toString("latin1"))
      const request = this.pending[0]!
      if (!header) {
        // `<name> missing` / `<name> ambiguous`
        this.buffer = this.buffer.subarray(newline + 1)
        this.pending.shift()
        request.resolve(undefined)
        continue
      }
      const size = Number(header[3])
      if (!request.contents) {
        this.buffer = this.buffer.subarray(newline + 1)
        this.pending.shift()
        request.resolve({ sha: header[1]!, type: header[2] as ObjectType, size, body: undefined })
        continue
      }
      if (this.buffer.length < newline + 1 + size + 1) {
        this.need = newline + 1 + size + 1
        return
      }
      const body = Buffer.from(this.buffer.subarray(newline + 1, newline + 1 + size))
      this.buffer = this.buffer.subarray(newline + 1 + size + 1)
      this.pending.shift()
      request.resolve({ sha: header[1]!, type: header[2] as ObjectType, size, body })
    }
  }

  private send(requests: ReadonlyArray<{ readonly name: string; readonly contents: boolean }>) {
    const child = this.child ?? this.start()
    this.hold(child, true)
    const answers = requests.map((request) =>
      new Promise<FoundObject | undefined>((resolve, reject) => {
        this.pending.push({
          contents: request.contents,
          resolve,
          reject
        })
      })
    )
    child.stdin.write(requests.map((request) => `${request.contents ? "contents" : "info"} ${request.name}\n`).join(""))
    return Promise.all(answers)
  }

  /** The answers, in order (`undefined`: missing or ambiguous); retried once on a fresh process if this one died. */
  async ask(requests: ReadonlyArray<{ readonly name: string; readonly contents: boolean }>) {
    if (requests.length === 0) return []
    try {
      return await this.send(requests)
    } catch {
      return await this.send(requests)
    }
  }

  close() {
    const child = this.child
    this.child = undefined
    child?.kill("SIGKILL")
    const waiting = this.pending
    this.pending = []
    for (const request of waiting) request.reject(new Error("the repository's object reader was closed"))
  }
}

interface Store {
  readonly reader: Reader
  /** Objects known to exist (read or written): not written again. */
  readonly known: Set<string>
  /** `objects/xx` directories known to exist. */
  readonly dirs: Set<string>
}

const stores = new Map<string, Store>()

const storeOf = (gitDir: string): Store => {
  const key = path.resolve(gitDir)
  let store = stores.get(key)
  if (store === undefined) {
    store = { reader: new Reader(key), known: new Set(), dirs: new Set() }
    stores.set(key, store)
  }
  return store
}

const remember = (store: Store, sha: string) => {
  if (store.known.size > 500_000) store.known.clear()
  store.known.add(sha)
}

/** Forgets what is known of a repository (it was made anew) and ends its reader. */
export const forget = (gitDir: string) => {
  const key = path.resolve(gitDir)
  stores.get(key)?.reader.close()
  stores.delete(key)
}

/** Ends the readers of the repositories below `dir` (the emulator's data directory, on close). */
export const closeUnder = (dir: string) => {
  const root = path.resolve(dir)
  for (const [gitDir, store] of stores) {
    if (gitDir === root || gitDir.startsWith(`${root}${path.sep}`)) {
      store.reader.close()
      stores.delete(gitDir)
    }
  }
}

const ask = (gitDir: string, requests: ReadonlyArray<{ readonly name: string; readonly contents: boolean }>) =>
  Effect.promise(async () => {
    const store = storeOf(gitDir)
    const answers = await store.reader.ask(requests)
    for (const answer of answers) if (answer !== undefined) remember(store, answer.sha)
    return answers
  })

/** The type and size of objects (names: batchable), in order; `undefined` for the missing. */
export const info = (gitDir: string, names: ReadonlyArray<string>) =>
  ask(gitDir, names.map((name) => ({ name, contents: false })))

/** One object with its bytes, or `undefined`. */
export const contents = (gitDir: string, name: string) =>
  Effect.map(ask(gitDir, [{ name, contents: true }]), (answers) => answers[0])

// ---------------------------------------------------------------------------------------------------------------
// Writing

/** An object to write: its type and body (without git's `"<type> <size>\0"` header). */
export interface NewObject {
  readonly type: ObjectType
  readonly body: Uint8Array
}

/** The SHA-1 git names an object by. */
export const hashObject = (type: ObjectType, body: Uint8Array) =>
  createHash("sha1").update(`${type} ${body.byteLength}\0`, "latin1").update(body).digest("hex")

/** From this many new objects a write makes one pack rather than loose objects (two files instead of many). */
const PACK_FROM = 16

/**
 * Writes objects (those not known to exist); their SHAs in the same order. A few go as loose objects, many as one
 * pack with its index: creating files is what costs, on a busy disk about a millisecond each.
 */
export const writeObjects = (gitDir: string, objects: ReadonlyArray<NewObject>) =>
  Effect.promise(async () => {
    const store = storeOf(gitDir)
    const shas = objects.map((object) => hashObject(object.type, object.body))
    const fresh = new Map<string, NewObject>()
    objects.forEach((object, index) => {
      if (!store.known.has(shas[index]!)) fresh.set(shas[index]!, object)
    })
    if (fresh.size >= PACK_FROM) await writePack(gitDir, fresh)
    else await Promise.all([...fresh].map(([sha, object]) => writeLoose(store, gitDir, sha, object)))
    for (const sha of fresh.keys()) remember(store, sha)
    return shas
  })

/** Writes one object; its SHA. */
export const writeObject = (gitDir: string, type: ObjectType, body: Uint8Array) =>
  Effect.map(writeObjects(gitDir, [{ type, body }]), (shas) => shas[0]!)

/**
 * A loose object: zlib of header and body, written whole under a temporary name and renamed over the object's name
 * (an object already there, which a push brought meanwhile, is replaced by the same bytes, atomically).
 */
const writeLoose = async (store: Store, gitDir: string, sha: string, object: NewObject) => {
  const dir = path.join(gitDir, "objects", sha.slice(0, 2))
  if (!store.dirs.has(dir)) {
    await mkdir(dir, { recursive: true })
    store.dirs.add(dir)
  }
  const header = Buffer.from(`${object.type} ${object.body.byteLength}\0`, "latin1")
  const temp = path.join(dir, `tmp_obj_${randomBytes(6).toString("hex")}`)
  await writeFile(temp, deflateSync(Buffer.concat([header, object.body]), { level: 1 }), { flag: "wx", mode: 0o444 })
  await rename(temp, path.join(dir, sha.slice(2)))
}

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }

/**
 * Objects as one pack (version 2, every object whole) and its index (version 2) in `objects/pack`: both written under
 * temporary names, then the pack renamed, then the index — git only reads packs that have one, and a reader that
 * misses an object looks for new packs.
 */
const writePack = async (gitDir: string, objects: ReadonlyMap<string, NewObject>) => {
  const head = Buffer.alloc(12)
  head.write("PACK", 0, "latin1")
  head.writeUInt32BE(2, 4)
  head.writeUInt32BE(objects.size, 8)
  const parts: Array<Buffer> = [head]
  let offset = head.length
  const entries: Array<{ readonly sha: string; readonly offset: number; readonly crc: number }> = []
  for (const [sha, object] of objects) {
    // Type and size: 4 bits of size in the first byte, 7 in each next one, low bits first.
    const size = object.body.byteLength
    const bytes: Array<number> = []
    let byte = (TYPE_CODE[object.type] << 4) | (size & 0x0f)
    let rest = Math.floor(size / 16)
    while (rest > 0) {
      bytes.push(byte | 0x80)
      byte = rest & 0x7f
      rest = Math.floor(rest / 128)
    }
    bytes.push(byte)
    const header = Buffer.from(bytes)
    const data = deflateSync(object.body, { level: 1 })
    if (offset >= 0x80000000) throw new Error("a pack of 2 GiB or more is not written here")
    entries.push({ sha, offset, crc: crc32(data, crc32(header)) })
    parts.push(header, data)
    offset += header.length + data.length
  }
  const pack = Buffer.concat(parts)
  const checksum = createHash("sha1").update(pack).digest()

  const sorted = entries.sort((a, b) => (a.sha < b.sha ? -1 : a.sha > b.sha ? 1 : 0))
  const count = sorted.length
  const index = Buffer.alloc(8 + 256 * 4 + count * 28 + 40)
  index.writeUInt32BE(0xff744f63, 0) // "\377tOc"
  index.writeUInt32BE(2, 4)
  const fanout = new Array<number>(256).fill(0)
  for (const entry of sorted) fanout[parseInt(entry.sha.slice(0, 2), 16)]!++
  let total = 0
  fanout.forEach((n, byte) => index.writeUInt32BE(total += n, 8 + byte * 4))
  let at = 8 + 256 * 4
  for (const entry of sorted) at += index.write(entry.sha, at, "hex")
  for (const entry of sorted) at = index.writeUInt32BE(entry.crc >>> 0, at)
  for (const entry of sorted) at = index.writeUInt32BE(entry.offset, at)
  at += checksum.copy(index, at)
  createHash("sha1").update(index.subarray(0, at)).digest().copy(index, at)

  const dir = path.join(gitDir, "objects", "pack")
  await mkdir(dir, { recursive: true })
  const name = path.join(dir, `pack-${checksum.toString("hex")}`)
  const temp = path.join(dir, `tmp_pack_${randomBytes(6).toString("hex")}`)
  await writeFile(`${temp}.pack`, Buffer.concat([pack, checksum]), { mode: 0o444 })
  await writeFile(`${temp}.idx`, index, { mode: 0o444 })
  await rename(`${temp}.pack`, `${name}.pack`)
  await rename(`${temp}.idx`, `${name}.idx`)
}

// ---------------------------------------------------------------------------------------------------------------
// Trees

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

// ---------------------------------------------------------------------------------------------------------------
// References

/** Whether `git check-ref-format` accepts `name` (and it is `refs/<kind>/<name>`). */
export const validRefName = (name: string) => {
  if (!/^refs\/[^/]+\/./.test(name)) return false
  if (name.endsWith("/") || name.endsWith(".")) return false
  // Control characters, space, `~ ^ : ? * [ \`, DEL.
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false
  if (name.includes("..") || name.includes("@{") || name.includes("//")) return false
  return name.split("/").every((part) => part.length > 0 && !part.startsWith(".") && !part.endsWith(".lock"))
}

const readText = (file: string) => readFile(file, "utf8").then((text) => text, () => undefined)

/** `packed-refs` as name → SHA. */
const packedRefs = async (gitDir: string) => {
  const refs = new Map<string, string>()
  const text = await readText(path.join(gitDir, "packed-refs"))
  for (const line of (text ?? "").split("\n")) {
    const match = /^([0-9a-f]{40}) (\S+)$/.exec(line)
    if (match) refs.set(match[2]!, match[1]!)
  }
  return refs
}

/** The SHA a reference points at (symbolic references followed), or `undefined` (no such ref, or a bad name). */
export const readRef = (gitDir: string, name: string) =>
  Effect.promise(async () => {
    let current = name
    for (let depth = 0; depth < 5; depth++) {
      if (!validRefName(current)) return undefined
      const loose = await readText(path.join(gitDir, current))
      if (loose !== undefined) {
        const value = loose.trim()
        if (SHA.test(value)) return value
        if (!value.startsWith("ref: ")) return undefined
        current = value.slice(5).trim()
        continue
      }
      return (await packedRefs(gitDir)).get(current)
    }
    return undefined
  })

/** Whether the repository has a branch (a file below `refs/heads`, or one in `packed-refs`). */
export const hasBranches = (gitDir: string) =>
  Effect.promise(async () => {
    const walk = async (dir: string): Promise<boolean> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
      for (const entry of entries) {
        if (entry.isFile() && !entry.name.endsWith(".lock")) {
          if (SHA.test(((await readText(path.join(dir, entry.name))) ?? "").trim())) return true
        } else if (entry.isDirectory() && (await walk(path.join(dir, entry.name)))) return true
      }
      return false
    }
    if (await walk(path.join(gitDir, "refs", "heads"))) return true
    for (const name of (await packedRefs(gitDir)).keys()) if (name.startsWith("refs/heads/")) return true
    return false
  })

/**
 * `git update-ref <name> <sha> <expected>` (`expected` undefined: the ref must not exist) in process, for the plain
 * case: under the ref's lock file (`<ref>.lock`, created exclusively: the lock git, and so a concurrent push, takes
 * too) the loose ref is read and compared with the expected value, then the lock is written and renamed over the ref.
 * `true` when moved, `false` when refused (the lock is held, the value differs, the ref exists); `undefined` when this
 * is not the plain case — a packed ref of that name or in the way, a reflog to append to, a symbolic ref, a file or
 * directory where the path needs the other — and `git update-ref` must decide.
 */
export const compareAndSwapRef = (gitDir: string, name: string, sha: string, expected: string | undefined) =>
  Effect.promise(async (): Promise<boolean | undefined> => {
    if (!validRefName(name) || !SHA.test(sha) || (expected !== undefined && !SHA.test(expected))) return undefined
    const config = await readText(path.join(gitDir, "config"))
    if (config === undefined || /logallrefupdates/i.test(config)) return undefined
    if ((await readText(path.join(gitDir, "logs", name))) !== undefined) return undefined
    const inTheWay = async () => {
      for (const other of (await packedRefs(gitDir)).keys()) {
        if (other === name || other.startsWith(`${name}/`) || name.startsWith(`${other}/`)) return true
      }
      return false
    }
    if (await inTheWay()) return undefined
    const file = path.join(gitDir, name)
    try {
      await mkdir(path.dirname(file), { recursive: true })
    } catch {
      return undefined // a ref where a parent directory should be
    }
    const lock = `${file}.lock`
    let handle: FileHandle
    try {
      handle = await open(lock, "wx")
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EEXIST" ? false : undefined
    }
    let renamed = false
    try {
      const current = await readFile(file, "utf8").then(
        (text) => text.trim(),
        (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? null : undefined)
      )
      // Not a plain loose ref (a directory, a symbolic ref), or packed meanwhile: git decides.
      if (current === undefined || (current !== null && !SHA.test(current))) return undefined
      if (current === null && (expected !== undefined || (await inTheWay()))) return undefined
      if (current !== null && current !== expected) return false
      await handle.write(`${sha}\n`)
      await handle.close()
      await rename(lock, file)
      renamed = true
      return true
    } finally {
      await handle.close().catch(() => {})
      // Only a lock this call still holds is removed (once renamed, the name may be someone else's lock).
      if (!renamed) await unlink(lock).catch(() => {})
    }
  })
