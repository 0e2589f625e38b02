/**
 * Git references read and written as files in the emulator's process: read from the ref files (a loose ref, else
 * `packed-refs`), names checked as `git check-ref-format` does. A ref is created or moved under its lock file as git
 * does (compare-and-swap against the value expected); anything but the plain case (packed refs, reflogs, symbolic
 * refs), and deleting, is left to `git update-ref`.
 */
import { Effect } from "effect"
import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises"
import * as path from "node:path"
import { SHA } from "./ObjectReader.ts"

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
