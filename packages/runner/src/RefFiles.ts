/**
 * HEAD and a new branch of a fresh clone, read and written as files: git's "files" ref storage (a text file per ref,
 * `HEAD` naming the checked-out branch). Right after the clone that is all there is to it, and doing it here saves
 * the three git processes the runner ran between the clone and the agent (rev-parse, update-ref, symbolic-ref:
 * ~15 ms on an idle machine, ~60 ms on a loaded one; the machine is at its busiest then, the agent CLI loading).
 *
 * Anything else answers `undefined` and the caller runs git: another ref storage (reftable), a ref only in
 * `packed-refs`, a branch that exists already, an unreadable or unexpected file. Writes follow git's own order for
 * a new branch (the ref first, created exclusively, then HEAD replaced by a rename), so a failure half-way leaves
 * either nothing or a branch git would also have left.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"

const OBJECT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/
const SYMBOLIC = /^ref: (refs\/heads\/\S+)$/

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

/** Only the "files" storage: a repository with `extensions.refStorage` set (reftable) keeps refs elsewhere. */
const filesStorage = (gitDir: string): boolean => {
  const config = read(join(gitDir, "config"))
  return config !== undefined && !/^\s*refstorage\s*=/im.test(config)
}

/** HEAD's commit and branch (`undefined` when detached), or `undefined` when git should be asked. */
export const readHead = (dir: string): { readonly sha: string; readonly branch: string | undefined } | undefined => {
  const gitDir = join(dir, ".git")
  if (!filesStorage(gitDir)) return undefined
  const head = read(join(gitDir, "HEAD"))?.trim()
  if (head === undefined) return undefined
  if (OBJECT_ID.test(head)) return { sha: head, branch: undefined }
  const ref = SYMBOLIC.exec(head)?.[1]
  if (ref === undefined || ref.split("/").some((part) => part === "" || part === "." || part === "..")) return undefined
  const sha = read(join(gitDir, ref))?.trim()
  return sha !== undefined && OBJECT_ID.test(sha) ? { sha, branch: ref.slice("refs/heads/".length) } : undefined
}

/**
 * Creates `refs/heads/<name>` at `sha` and checks it out (HEAD only: the index and work tree are already that
 * commit's). `false` when it did nothing and git should do it (which also reports a branch that exists).
 */
export const createBranch = (dir: string, name: string, sha: string): boolean => {
  const gitDir = join(dir, ".git")
  if (!OBJECT_ID.test(sha) || !filesStorage(gitDir)) return false
  if (name.split("/").some((part) => part === "" || part.startsWith(".") || part.endsWith(".lock"))) return false
  const ref = `refs/heads/${name}`
  // A branch only in packed-refs exists too.
  if (read(join(gitDir, "packed-refs"))?.split("\n").some((line) => line.endsWith(` ${ref}`)) === true) return false
  try {
    mkdirSync(dirname(join(gitDir, ref)), { recursive: true })
    writeFileSync(join(gitDir, ref), `${sha}\n`, { flag: "wx" })
  } catch {
    return false
  }
  try {
    writeFileSync(join(gitDir, "HEAD.lock"), `ref: ${ref}\n`, { flag: "wx" })
    renameSync(join(gitDir, "HEAD.lock"), join(gitDir, "HEAD"))
    return true
  } catch {
    // Back to where git would start from (it refuses a branch that exists).
    rmSync(join(gitDir, "HEAD.lock"), { force: true })
    rmSync(join(gitDir, ref), { force: true })
    return false
  }
}
