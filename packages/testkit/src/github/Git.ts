/**
 * Real git for the emulator: bare repositories on disk, read and written with the `git` CLI (served
 * over smart HTTP by `GitCgi.ts`; objects and refs of the Git Data API in `GitObjects.ts`). The REST
 * API reads branches and commits straight from the bare repositories, so whatever a push changed is
 * what the API answers.
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdir } from "node:fs/promises"
import * as path from "node:path"

/** Settings every git process of the emulator runs with (read by `git http-backend` too). */
const CONFIG: ReadonlyArray<readonly [string, string]> = [
  ["http.receivepack", "true"],
  ["uploadpack.allowFilter", "true"],
  ["uploadpack.allowAnySHA1InWant", "true"],
  ["receive.denyCurrentBranch", "ignore"],
  ["core.hooksPath", "/dev/null"],
  ["init.defaultBranch", "main"]
]

export const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    HOME: process.env["HOME"],
    LANG: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_COUNT: String(CONFIG.length)
  }
  CONFIG.forEach(([key, value], index) => {
    env[`GIT_CONFIG_KEY_${index}`] = key
    env[`GIT_CONFIG_VALUE_${index}`] = value
  })
  return env
}

export interface Identity {
  readonly name: string
  readonly email: string
  /** Milliseconds since the epoch. */
  readonly at: number
}

export interface RunOptions {
  readonly input?: string | Uint8Array
  readonly env?: NodeJS.ProcessEnv
  readonly allowFailure?: boolean
}

const exec = <A extends string | Buffer>(
  gitDir: string,
  args: ReadonlyArray<string>,
  options: RunOptions,
  encoding: "utf8" | "buffer"
): Effect.Effect<{ readonly stdout: A; readonly code: number }> =>
  Effect.callback<{ readonly stdout: A; readonly code: number }>((resume) => {
    const child = execFile(
      "git",
      [`--git-dir=${gitDir}`, ...args],
      { env: { ...baseEnv(), ...options.env }, maxBuffer: 256 * 1024 * 1024, encoding },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0
        if (code !== 0 && !options.allowFailure) {
          resume(Effect.die(new Error(`git ${args.join(" ")} failed (${code}): ${String(stderr).trim()}`)))
        } else resume(Effect.succeed({ stdout: stdout as A, code }))
      }
    )
    if (options.input !== undefined) child.stdin?.end(options.input)
    return Effect.sync(() => child.kill())
  })

/** Runs `git --git-dir=<gitDir> …args`; a non-zero exit is a defect unless `allowFailure`. */
export const run = (gitDir: string, args: ReadonlyArray<string>, options: RunOptions = {}) =>
  exec<string>(gitDir, args, options, "utf8")

/** Like `run`, with stdout as bytes (blob contents). */
export const runBytes = (gitDir: string, args: ReadonlyArray<string>, options: RunOptions = {}) =>
  exec<Buffer>(gitDir, args, options, "buffer")

export const identityEnv = (who: Identity): NodeJS.ProcessEnv => {
  const date = `${Math.floor(who.at / 1000)} +0000`
  return {
    GIT_AUTHOR_NAME: who.name,
    GIT_AUTHOR_EMAIL: who.email,
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_NAME: who.name,
    GIT_COMMITTER_EMAIL: who.email,
    GIT_COMMITTER_DATE: date
  }
}

export const init = Effect.fnUntraced(function*(gitDir: string) {
  yield* Effect.promise(() => mkdir(path.dirname(gitDir), { recursive: true }))
  yield* run(gitDir, ["init", "--quiet", "--bare", "--initial-branch=main"])
})

/** Commits one file on `branch` unless the branch exists (GitHub's `auto_init`). */
export const initialCommit = Effect.fnUntraced(function*(
  gitDir: string,
  branch: string,
  file: { readonly path: string; readonly content: string },
  who: Identity
) {
  if ((yield* resolve(gitDir, `refs/heads/${branch}`)) !== undefined) return
  const blob = (yield* run(gitDir, ["hash-object", "-w", "--stdin"], { input: file.content })).stdout.trim()
  const tree = (yield* run(gitDir, ["mktree"], { input: `100644 blob ${blob}\t${file.path}\n` })).stdout.trim()
  const commit = (yield* run(gitDir, ["commit-tree", tree, "-m", "Initial commit"], { env: identityEnv(who) }))
    .stdout.trim()
  yield* run(gitDir, ["update-ref", `refs/heads/${branch}`, commit])
})

/** The commit a ref or sha names, or `undefined`. */
export const resolve = Effect.fnUntraced(function*(gitDir: string, ref: string) {
  const result = yield* run(gitDir, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { allowFailure: true })
  return result.code === 0 ? result.stdout.trim() : undefined
})

export interface Branch {
  readonly name: string
  readonly sha: string
}

export const branches = Effect.fnUntraced(function*(gitDir: string) {
  const result = yield* run(gitDir, ["for-each-ref", "--format=%(refname:strip=2)%00%(objectname)", "refs/heads"])
  return result.stdout.split("\n").filter((line) => line.length > 0).map((line): Branch => {
    const [name, sha] = line.split("\0")
    return { name: name!, sha: sha! }
  })
})

export const setHead = (gitDir: string, branch: string) =>
  run(gitDir, ["symbolic-ref", "HEAD", `refs/heads/${branch}`]).pipe(Effect.asVoid)

export interface GitPerson {
  readonly name: string
  readonly email: string
  readonly date: string
}

export interface FileChange {
  readonly filename: string
  readonly previousFilename: string | undefined
  readonly status: "added" | "removed" | "modified" | "renamed" | "copied" | "changed" | "unchanged"
  readonly additions: number
  readonly deletions: number
  readonly sha: string
}

export interface CommitInfo {
  readonly sha: string
  readonly tree: string
  readonly parents: ReadonlyArray<string>
  readonly author: GitPerson
  readonly committer: GitPerson
  readonly message: string
}

export const commit = Effect.fnUntraced(function*(gitDir: string, sha: string) {
  const result = yield* run(gitDir, [
    "show",
    "-s",
    "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B",
    sha
  ])
  const [full, tree, parents, an, ae, ad, cn, ce, cd, ...message] = result.stdout.split("\0")
  const utc = (date: string) => new Date(date).toISOString().replace(/\.\d{3}Z$/, "Z")
  const info: CommitInfo = {
    sha: full!,
    tree: tree!,
    parents: parents!.split(" ").filter((parent) => parent.length > 0),
    author: { name: an!, email: ae!, date: utc(ad!) },
    committer: { name: cn!, email: ce!, date: utc(cd!) },
    message: message.join("\0").replace(/\n+$/, "")
  }
  return info
})

const STATUS: Record<string, FileChange["status"]> = {
  A: "added",
  D: "removed",
  M: "modified",
  R: "renamed",
  C: "copied",
  T: "changed"
}

/** Files changed from `from` to `to` (`from` undefined: against the empty tree). */
export const changes = Effect.fnUntraced(function*(gitDir: string, from: string | undefined, to: string) {
  const base = from ?? (yield* run(gitDir, ["hash-object", "-t", "tree", "/dev/null"])).stdout.trim()
  const raw = (yield* run(gitDir, ["diff", "--raw", "-z", "-M", "--no-abbrev", base, to])).stdout.split("\0")
  const numstat = (yield* run(gitDir, ["diff", "--numstat", "-z", "-M", base, to])).stdout.split("\0")
  const counts: Array<{ additions: number; deletions: number }> = []
  for (let i = 0; i < numstat.length; i++) {
    const entry = numstat[i]!
    if (entry.length === 0) continue
    const [additions, deletions, name] = entry.split("\t")
    counts.push({ additions: Number(additions) || 0, deletions: Number(deletions) || 0 })
    if (name === "") i += 2 // a rename: old and new names follow as separate fields
  }
  const files: Array<FileChange> = []
  for (let i = 0; i < raw.length;) {
    const meta = raw[i++]!
    if (!meta.startsWith(":")) continue
    const [, , , newSha, statusField] = meta.slice(1).split(" ")
    const code = statusField!.charAt(0)
    const first = raw[i++]!
    const second = code === "R" || code === "C" ? raw[i++]! : undefined
    const count = counts[files.length] ?? { additions: 0, deletions: 0 }
    files.push({
      filename: second ?? first,
      previousFilename: second ? first : undefined,
      status: STATUS[code] ?? "modified",
      additions: count.additions,
      deletions: count.deletions,
      sha: newSha!
    })
  }
  return files
})

export const mergeBase = Effect.fnUntraced(function*(gitDir: string, a: string, b: string) {
  const result = yield* run(gitDir, ["merge-base", a, b], { allowFailure: true })
  return result.code === 0 ? result.stdout.trim() : undefined
})

export const countCommits = Effect.fnUntraced(function*(gitDir: string, range: string) {
  return Number((yield* run(gitDir, ["rev-list", "--count", range])).stdout.trim())
})

export const diff = Effect.fnUntraced(function*(gitDir: string, base: string, head: string) {
  return (yield* run(gitDir, ["diff", "--full-index", "-M", `${base}...${head}`])).stdout
})

export const patch = Effect.fnUntraced(function*(gitDir: string, base: string, head: string) {
  return (yield* run(gitDir, ["format-patch", "--stdout", `${base}..${head}`])).stdout
})

/** The diff of one file between the merge base of `base` and `head`, and `head`. */
export const fileDiff = Effect.fnUntraced(function*(gitDir: string, base: string, head: string, file: string) {
  return (yield* run(gitDir, ["diff", "-M", `${base}...${head}`, "--", file])).stdout
})

/** The commits of `range` (`a..b`, or one commit and its ancestors), oldest first. */
export const revList = Effect.fnUntraced(function*(gitDir: string, range: string) {
  const result = yield* run(gitDir, ["rev-list", "--reverse", range])
  return result.stdout.split("\n").filter((line) => line.length > 0)
})
