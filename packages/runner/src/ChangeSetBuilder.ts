/**
 * ChangeSetBuilder: the agent's work as the change set Porter takes (`@porter/core`'s `ChangeSet`), read from the
 * clone with git's plumbing, never from the work tree:
 *
 * - a linear history `base..head` gives one proposed commit per commit, oldest first (`git log` for message and
 *   author, `git diff-tree -r --no-renames` against its parent for the paths);
 * - a history with merges, or one over Porter's limits (`MAX_COMMITS`, `MAX_FILE_CHANGES` in all), gives one commit:
 *   the diff `base..head`, with the last commit's author and a message listing every subject;
 * - file contents (and `bases`, the content at `base` of the changed paths that existed there, for Porter's check of
 *   added lines: text files up to 1 MiB) come from two `git cat-file` processes, whatever the number of files.
 *
 * Cannot propose: submodules (gitlinks), paths that are not UTF-8, a file over `MAX_FILE_BYTES` or a change set over
 * `MAX_BODY_BYTES` (each a `ChangesNotSendable` naming what is wrong, before anything is sent).
 */
import { ChangeSet } from "@porter/core"
import { Effect, Option, Schema } from "effect"
import * as Git from "./Git.ts"

/** The agent's changes cannot be sent as they are; nothing was sent. */
export class ChangesNotSendable extends Schema.TaggedError<ChangesNotSendable>()("ChangesNotSendable", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/** Base contents larger than this are not sent (Porter then counts every line of the file as added). */
export const MAX_BASE_BYTES = 1024 * 1024

/** Room kept for the summary (20,000 characters, JSON-escaped) under Porter's body limit. */
const SUMMARY_ROOM = 128 * 1024

/** What `build` made, and how. */
export interface Built {
  readonly changeSet: ChangeSet.ChangeSet
  /** The agent's commits on top of `base` (before any squashing). */
  readonly agentCommits: number
  /** Why the commits were squashed into one, if they were. */
  readonly squashed: string | undefined
}

interface CommitInfo {
  readonly sha: string
  readonly parents: ReadonlyArray<string>
  readonly author: ChangeSet.ProposedCommit["author"]
  readonly message: string
}

/** One path of a `diff-tree`: written (mode and blob) or deleted; `oldSha` is its blob before, if it existed. */
interface PathChange {
  readonly path: string
  readonly oldMode: string
  readonly oldSha: string
  readonly change: { readonly _tag: "write"; readonly mode: ChangeSet.FileMode; readonly sha: string } | {
    readonly _tag: "delete"
  }
}

interface Step {
  readonly message: string
  readonly author: ChangeSet.ProposedCommit["author"]
  readonly changes: ReadonlyArray<PathChange>
}

const utf8 = new TextDecoder("utf-8")
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const NULL_SHA = /^0+$/
const MiB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 12)}\n[… clipped]` : text)

/** `git log -z --format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%B`: six fields per commit, each NUL-terminated. */
export const parseLog = (output: Uint8Array): ReadonlyArray<CommitInfo> => {
  const fields = utf8.decode(output).split("\0")
  const commits: Array<CommitInfo> = []
  for (let i = 0; i + 5 < fields.length; i += 6) {
    const [sha, parents, name, email, date, body] = fields.slice(i, i + 6) as [
      string,
      string,
      string,
      string,
      string,
      string
    ]
    commits.push({
      sha,
      parents: parents.split(" ").filter((p) => p !== ""),
      author: {
        // Porter wants a name; git allows an empty one with plumbing.
        name: clip(name.trim() || email.trim() || "unknown", 256),
        email: email.trim().slice(0, 256),
        date
      },
      message: clip(body.replace(/\s+$/, "") || "(no message)", 65_536)
    })
  }
  return commits
}

const fileMode = (mode: string): ChangeSet.FileMode | undefined =>
  mode === "100755" || mode === "120000" ? mode : /^100[0-7]{3}$/.test(mode) ? "100644" : undefined

/** `git diff-tree -r -z --raw --no-renames`: `:<old mode> <new mode> <old sha> <new sha> <status>` NUL `<path>` NUL. */
export const parseDiffTree = (output: Uint8Array): Effect.Effect<ReadonlyArray<PathChange>, ChangesNotSendable> =>
  Effect.gen(function*() {
    let text: string
    try {
      text = strictUtf8.decode(output)
    } catch {
      return yield* new ChangesNotSendable({ reason: "the agent's changes hold a path that is not valid UTF-8" })
    }
    const fields = text.split("\0")
    const changes: Array<PathChange> = []
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const [oldMode = "", newMode = "", oldSha = "", newSha = "", status = ""] = fields[i]!.replace(/^:/, "").split(
        " "
      )
      const path = fields[i + 1]!
      if (oldMode === "160000" || newMode === "160000") {
        return yield* new ChangesNotSendable({
          reason:
            `\`${path}\` is a submodule: Porter cannot propose submodule changes (remove it from the agent's commits)`
        })
      }
      if (status === "D") {
        changes.push({ path, oldMode, oldSha, change: { _tag: "delete" } })
        continue
      }
      const mode = fileMode(newMode)
      if (mode === undefined) {
        return yield* new ChangesNotSendable({
          reason: `\`${path}\` has a file mode Porter cannot propose (${newMode})`
        })
      }
      changes.push({ path, oldMode, oldSha, change: { _tag: "write", mode, sha: newSha } })
    }
    return changes
  })

/** `git cat-file --batch-check`: the size of each object (`undefined` when missing). */
const parseSizes = (output: Uint8Array): ReadonlyMap<string, number> => {
  const sizes = new Map<string, number>()
  for (const line of utf8.decode(output).split("\n")) {
    const [sha = "", type, size] = line.split(" ")
    if (type === "blob" && size !== undefined) sizes.set(sha, Number(size))
  }
  return sizes
}

/** `git cat-file --batch`: `<sha> blob <size>` LF `<bytes>` LF per object. */
const parseBlobs = (output: Uint8Array): ReadonlyMap<string, Uint8Array> => {
  const blobs = new Map<string, Uint8Array>()
  let at = 0
  while (at < output.byteLength) {
    const eol = output.indexOf(10, at)
    if (eol < 0) break
    const [sha = "", type, size] = utf8.decode(output.subarray(at, eol)).split(" ")
    at = eol + 1
    if (type === undefined || size === undefined) continue // `<sha> missing`
    const length = Number(size)
    blobs.set(sha, output.subarray(at, at + length))
    at += length + 1
  }
  return blobs
}

const base64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** The change set of `base..head` (none when there is no commit); `summary` is left to the caller. */
export const build = Effect.fn("ChangeSetBuilder.build")(function*(dir: string, base: string, head: string) {
  const git = yield* Git.Git
  const log = parseLog(
    yield* git.read(dir, [
      "log",
      "-z",
      "--reverse",
      "--no-show-signature",
      "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%B",
      `${base}..${head}`,
      "--"
    ])
  )
  if (log.length === 0) return Option.none<Built>()
  const diff = Effect.fnUntraced(function*(from: string, to: string) {
    const args = ["diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", "--no-commit-id", from, to, "--"]
    return yield* parseDiffTree(yield* git.read(dir, args))
  })
  const last = log[log.length - 1]!
  const squash = Effect.fnUntraced(function*() {
    const subjects = log.map((commit) => `- ${commit.message.split("\n")[0]}`)
    return [{
      message: clip(`Squashed ${log.length} commits\n\n${subjects.join("\n")}`, 65_536),
      author: last.author,
      changes: yield* diff(base, head)
    }] satisfies ReadonlyArray<Step>
  })

  let squashed: string | undefined
  let steps: ReadonlyArray<Step>
  if (log.some((commit) => commit.parents.length !== 1)) {
    squashed = "the agent's history has merges"
    steps = yield* squash()
  } else if (log.length > ChangeSet.MAX_COMMITS) {
    squashed = `the agent made ${log.length} commits (Porter takes ${ChangeSet.MAX_COMMITS})`
    steps = yield* squash()
  } else {
    const linear: Array<Step> = []
    for (const commit of log) {
      linear.push({
        message: commit.message,
        author: commit.author,
        changes: yield* diff(commit.parents[0]!, commit.sha)
      })
    }
    steps = linear
    const total = linear.reduce((n, step) => n + step.changes.length, 0)
    if (total > ChangeSet.MAX_FILE_CHANGES) {
      squashed = `its commits change ${total} files in all (Porter takes ${ChangeSet.MAX_FILE_CHANGES})`
      steps = yield* squash()
    }
  }
  const total = steps.reduce((n, step) => n + step.changes.length, 0)
  if (total > ChangeSet.MAX_FILE_CHANGES) {
    return yield* new ChangesNotSendable({
      reason: `the agent's changes touch ${total} files: Porter takes at most ${ChangeSet.MAX_FILE_CHANGES} at once`
    })
  }

  // The paths' content at base: the first time a path changes, its old side is what `base` held.
  const baseShas = new Map<string, string>()
  const seen = new Set<string>()
  for (const step of steps) {
    for (const change of step.changes) {
      if (seen.has(change.path)) continue
      seen.add(change.path)
      if (fileMode(change.oldMode) !== undefined && !NULL_SHA.test(change.oldSha)) {
        baseShas.set(change.path, change.oldSha)
      }
    }
  }
  const written = new Set<string>()
  for (const step of steps) {
    for (const change of step.changes) if (change.change._tag === "write") written.add(change.change.sha)
  }
  const catFile = (mode: "--batch" | "--batch-check", shas: ReadonlyArray<string>) =>
    shas.length === 0
      ? Effect.succeed(new Uint8Array(0))
      : git.read(dir, ["cat-file", mode], Buffer.from(`${shas.join("\n")}\n`))
  const sizes = parseSizes(yield* catFile("--batch-check", [...new Set([...written, ...baseShas.values()])]))

  // Sizes first: nothing too large is read into memory, and nothing is sent that Porter would refuse for its size.
  const oversized = new Map<string, number>()
  for (const step of steps) {
    for (const change of step.changes) {
      const size = change.change._tag === "write" ? sizes.get(change.change.sha) : undefined
      if (size !== undefined && size > ChangeSet.MAX_FILE_BYTES) oversized.set(change.path, size)
    }
  }
  if (oversized.size > 0) {
    const list = [...oversized].map(([path, size]) => `\`${path}\` (${MiB(size)})`).join(", ")
    return yield* new ChangesNotSendable({
      reason: `the agent's changes hold files over Porter's limit of ${MiB(ChangeSet.MAX_FILE_BYTES)}: ${list}`
    })
  }
  const contentBytes = [...written].reduce((n, sha) => n + Math.ceil((sizes.get(sha) ?? 0) / 3) * 4, 0)
  if (contentBytes > ChangeSet.MAX_BODY_BYTES - SUMMARY_ROOM) return yield* tooLarge(contentBytes, steps, sizes)
  const bases = [...baseShas].filter(([, sha]) => (sizes.get(sha) ?? Infinity) <= MAX_BASE_BYTES)
  const toRead = [...new Set([...written, ...bases.map(([, sha]) => sha)])]
  const blobs = parseBlobs(yield* catFile("--batch", toRead))
  const contentOf = Effect.fnUntraced(function*(sha: string, path: string) {
    const bytes = blobs.get(sha)
    if (bytes === undefined) {
      return yield* new Git.GitFailed({ operation: "cat-file", detail: `the content of ${path} (${sha}) is missing` })
    }
    return bytes
  })

  const commits: Array<ChangeSet.ProposedCommit> = []
  for (const step of steps) {
    const changes: Array<ChangeSet.FileChange> = []
    for (const { change, path } of step.changes) {
      changes.push(
        change._tag === "delete"
          ? { _tag: "delete", path }
          : { _tag: "write", path, mode: change.mode, content: base64(yield* contentOf(change.sha, path)) }
      )
    }
    commits.push({ message: step.message, author: step.author, changes })
  }
  const baseContents: Record<string, string> = {}
  for (const [path, sha] of bases) {
    const bytes = blobs.get(sha)
    if (bytes !== undefined && ChangeSet.textLines(bytes) !== undefined) baseContents[path] = base64(bytes)
  }
  const withBases: ChangeSet.ChangeSet = { base, commits, bases: baseContents }
  // The body as Porter reads it (with room for the summary); the base contents are only a help to its checks, so they
  // are dropped first when it is too big.
  const limit = ChangeSet.MAX_BODY_BYTES - SUMMARY_ROOM
  const changeSet = bodyBytes(withBases) <= limit ? withBases : { base, commits }
  const bytes = bodyBytes(changeSet)
  if (bytes > limit) return yield* tooLarge(bytes, steps, sizes)
  return Option.some<Built>({ changeSet, agentCommits: log.length, squashed })
})

/** The size of the change set as JSON: what Porter's body limit counts. */
export const bodyBytes = (changeSet: ChangeSet.ChangeSet): number => Buffer.byteLength(JSON.stringify(changeSet))

const tooLarge = (bytes: number, steps: ReadonlyArray<Step>, sizes: ReadonlyMap<string, number>) => {
  const largest = steps.flatMap((step) =>
    step.changes.flatMap((c) => (c.change._tag === "write" ? [[c.path, sizes.get(c.change.sha) ?? 0] as const] : []))
  ).sort((a, b) => b[1] - a[1]).slice(0, 3)
  return new ChangesNotSendable({
    reason: `the agent's changes are too large to send: about ${MiB(bytes)}, Porter takes at most ` +
      `${MiB(ChangeSet.MAX_BODY_BYTES)} (largest files: ${largest.map(([p, s]) => `\`${p}\` ${MiB(s)}`).join(", ")})`
  })
}
