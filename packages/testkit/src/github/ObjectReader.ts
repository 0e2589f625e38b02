/**
 * Reading git objects through one long-lived `git cat-file --batch-command` per repository (`info` / `contents`, many
 * requests pipelined), and what the emulator knows of each repository (`storeOf`: its reader, the objects known to
 * exist, the object directories made) — so a Git Data API read costs a line on a pipe rather than a `git` process.
 *
 * The reader sees what is written later: loose objects are looked up on each request, and git rescans the pack
 * directory when an object is not found, so a pack a push brought in is read too. When the process dies it is started
 * again on the next request (a request in flight is retried once). Object names given to it must be one line without
 * spaces (`batchable`): callers fall back to spawning git for anything else.
 */
import { Effect } from "effect"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as path from "node:path"
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

export interface Store {
  readonly reader: Reader
  /** Objects known to exist (read or written): not written again. */
  readonly known: Set<string>
  /** `objects/xx` directories known to exist. */
  readonly dirs: Set<string>
}

const stores = new Map<string, Store>()

export const storeOf = (gitDir: string): Store => {
  const key = path.resolve(gitDir)
  let store = stores.get(key)
  if (store === undefined) {
    store = { reader: new Reader(key), known: new Set(), dirs: new Set() }
    stores.set(key, store)
  }
  return store
}

export const remember = (store: Store, sha: string) => {
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
