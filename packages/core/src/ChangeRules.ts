/**
 * The rules a change set must pass before Porter commits it. Pure: the caller gives the base commit's tree, the
 * repository's settings and a secret scanner; the answer is the commits to write, or every reason to refuse them.
 *
 * - Paths stay inside the repository: relative, normalized (no `.`, `..` or empty segments), no control characters or
 *   backslashes, nothing under `.git` (any case, with the spellings other file systems treat as the same).
 * - A symbolic link's target stays inside the repository and out of `.git`.
 * - `.github/workflows/**` is refused unless the repository's settings allow workflow changes.
 * - A path the repository protects (`.github/porter.yml`'s `protected`: `*` within a segment, `**` across them, `?` one
 *   character; a pattern without `/` matches that name anywhere) is refused.
 * - No file over `MAX_FILE_BYTES`.
 * - Every added line (every commit message, and binary files whole) is scanned for the deployment's secret values and the shapes of
 *   common credentials; a finding names the file (or commit) and the line, never the value. Lines are "added" when
 *   the file did not hold them before: the path's content after the previous commit, or its base content (checked
 *   against the base tree); when that base content is not at hand, every line counts as added.
 * - Changes to the files agents read their instructions from are not refused but flagged, for the pull request.
 */
import { Effect } from "effect"
import { blobSha, bytesOf, type ChangeSet, type FileMode, MAX_FILE_BYTES, textLines } from "./ChangeSet.ts"
import type { Scanner } from "./SecretScan.ts"

/** One entry of the base commit's tree (blobs and links only). */
export interface TreeEntry {
  readonly mode: string
  readonly sha: string
}

/** A file change ready to write. */
export type Entry =
  | { readonly _tag: "write"; readonly path: string; readonly mode: FileMode; readonly content: Uint8Array }
  | { readonly _tag: "delete"; readonly path: string }

/** A commit ready to write through the Git Data API. */
export interface CommitToWrite {
  readonly message: string
  readonly author: { readonly name: string; readonly email: string; readonly date: string }
  readonly entries: ReadonlyArray<Entry>
}

/** A change set Porter will write: its commits, and the agent instruction files it touches. */
export interface Accepted {
  readonly _tag: "Accepted"
  readonly commits: ReadonlyArray<CommitToWrite>
  /** Agent instruction files the change set touches (shown in the pull request). */
  readonly instructionFiles: ReadonlyArray<string>
}

/** A change set Porter will not write, with every reason. */
export interface Refused {
  readonly _tag: "Refused"
  /** Every reason, one sentence each. */
  readonly problems: ReadonlyArray<string>
}

/** What a change set is checked against: the base tree, workflow changes, the secret scanner, protected paths. */
export interface RuleOptions {
  readonly baseTree: ReadonlyMap<string, TreeEntry>
  readonly allowWorkflowChanges: boolean
  readonly scanner: Scanner
  /** Patterns of paths no change may touch (the repository's `.github/porter.yml`). */
  readonly protectedPaths?: ReadonlyArray<string>
}

const latin1 = new TextDecoder("latin1")

const GIT_DIR = /^(?:\.git[.\s]*|git~\d+)$/i

/** Why a path may not be written, if it may not. */
export const pathProblem = (path: string): string | undefined => {
  if (path.startsWith("/")) return "is absolute"
  if (/[\x00-\x1f\x7f\\]/.test(path)) return "has a control character or a backslash"
  const parts = path.split("/")
  if (parts.some((part) => part === "" || part === "." || part === "..")) return "leaves the repository"
  if (parts.some((part) => GIT_DIR.test(part))) return "is under .git"
  return undefined
}

/** Where a link at `path` with `target` points, relative to the repository's root; `undefined` when outside. */
export const linkTarget = (path: string, target: string): string | undefined => {
  if (target.startsWith("/") || target.includes("\0")) return undefined
  const resolved = path.split("/").slice(0, -1)
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (resolved.length === 0) return undefined
      resolved.pop()
    } else resolved.push(part)
  }
  return resolved.join("/")
}

const WORKFLOWS = /^\.github\/workflows\//i

/** A protected-path pattern as a regular expression (see the module's header). */
export const pathPattern = (pattern: string): RegExp => {
  const trimmed = pattern.replace(/^\.\//, "").replace(/\/+$/, "/**")
  const anchored = trimmed.includes("/") ? trimmed : `**/${trimmed}`
  let source = ""
  for (let i = 0; i < anchored.length; i++) {
    const char = anchored[i]!
    if (char === "*" && anchored[i + 1] === "*") {
      const slash = anchored[i + 2] === "/"
      source += slash ? "(?:.*/)?" : ".*"
      i += slash ? 2 : 1
    } else if (char === "*") source += "[^/]*"
    else if (char === "?") source += "[^/]"
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  }
  return new RegExp(`^${source}$`)
}

const INSTRUCTION_FILES =
  /^(?:.*\/)?(?:AGENTS\.md|CLAUDE\.md|GEMINI\.md|CONVENTIONS\.md|\.cursorrules|\.windsurfrules|\.clinerules)$/i
const INSTRUCTION_DIRS =
  /^(?:\.github\/copilot-instructions\.md|\.github\/instructions\/|\.cursor\/|\.claude\/|\.gemini\/|\.codex\/|\.opencode\/)/i

/** Does an agent read its instructions from this path? */
export const isInstructionFile = (path: string): boolean => INSTRUCTION_FILES.test(path) || INSTRUCTION_DIRS.test(path)

/** The lines of `next` that `previous` did not hold (as a multiset: a line repeated counts again). */
export const addedLines = (
  previous: ReadonlyArray<string> | undefined,
  next: ReadonlyArray<string>
): ReadonlyArray<{ readonly line: number; readonly text: string }> => {
  const before = new Map<string, number>()
  for (const line of previous ?? []) before.set(line, (before.get(line) ?? 0) + 1)
  const added: Array<{ line: number; text: string }> = []
  next.forEach((text, index) => {
    const left = before.get(text) ?? 0
    if (left > 0) before.set(text, left - 1)
    else added.push({ line: index + 1, text })
  })
  return added
}

/** Applies the rules to a decoded change set. */
export const check = (changeSet: ChangeSet, options: RuleOptions): Effect.Effect<Accepted | Refused> =>
  Effect.gen(function*() {
    const problems: Array<string> = []
    const instructionFiles = new Set<string>()
    const protectedPaths = (options.protectedPaths ?? []).map((pattern) => ({ pattern, test: pathPattern(pattern) }))
    // What each path held before the commit being checked: bytes, `null` (absent), or unknown (base not at hand).
    const current = new Map<string, Uint8Array | null>()
    for (const [path, base64] of Object.entries(changeSet.bases ?? {})) {
      const entry = options.baseTree.get(path)
      const bytes = bytesOf(base64)
      // A base that is not the base commit's would hide added lines (say, a key) as old ones.
      if (entry === undefined || bytes === undefined || (yield* blobSha(bytes)) !== entry.sha) {
        problems.push(`the base content sent for \`${path.slice(0, 200)}\` is not what the base commit holds`)
        continue
      }
      current.set(path, bytes)
    }
    const previousLines = (path: string): ReadonlyArray<string> | undefined | "unknown" => {
      const known = current.get(path)
      if (known === null) return undefined
      if (known !== undefined) return textLines(known) ?? []
      return options.baseTree.has(path) ? "unknown" : undefined
    }

    const commits: Array<CommitToWrite> = []
    for (const [index, commit] of changeSet.commits.entries()) {
      const where = `commit ${index + 1} of ${changeSet.commits.length}`
      commit.message.split(/\r?\n/).forEach((text, line) => {
        const found = options.scanner.scan(text)
        if (found !== undefined) problems.push(`the message of ${where} (line ${line + 1}) holds ${found.what}`)
      })
      const entries: Array<Entry> = []
      for (const change of commit.changes) {
        const pathIssue = pathProblem(change.path)
        if (pathIssue !== undefined) {
          problems.push(`\`${change.path.slice(0, 200)}\` ${pathIssue}`)
          continue
        }
        if (WORKFLOWS.test(change.path) && !options.allowWorkflowChanges) {
          problems.push(
            `\`${change.path}\` is a GitHub Actions workflow: this repository's settings do not allow changing workflows`
          )
          continue
        }
        const protectedBy = protectedPaths.find((p) => p.test.test(change.path))
        if (protectedBy !== undefined) {
          problems.push(
            `\`${change.path}\` is protected in this repository (\`${protectedBy.pattern}\` in .github/porter.yml)`
          )
          continue
        }
        if (isInstructionFile(change.path)) instructionFiles.add(change.path)
        if (change._tag === "delete") {
          entries.push(change)
          current.set(change.path, null)
          continue
        }
        const bytes = bytesOf(change.content)
        if (bytes === undefined) {
          problems.push(`\`${change.path}\`: its content is not valid base64`)
          continue
        }
        if (bytes.byteLength > MAX_FILE_BYTES) {
          problems.push(`\`${change.path}\` is ${bytes.byteLength} bytes: files are limited to ${MAX_FILE_BYTES} bytes`)
          continue
        }
        if (change.mode === "120000") {
          const target = linkTarget(change.path, new TextDecoder().decode(bytes))
          if (target === undefined || target.split("/").some((part) => GIT_DIR.test(part))) {
            problems.push(`\`${change.path}\` is a symbolic link pointing outside the repository or into .git`)
            continue
          }
        }
        const lines = textLines(bytes)
        if (lines === undefined) {
          // Binary: one byte per character, so values and shapes written as ASCII inside it are found too.
          const found = options.scanner.scan(latin1.decode(bytes))
          if (found !== undefined) problems.push(`\`${change.path}\` (binary, ${where}) holds ${found.what}`)
        } else {
          const before = previousLines(change.path)
          for (const added of addedLines(before === "unknown" ? undefined : before, lines)) {
            const found = options.scanner.scan(added.text)
            if (found !== undefined) {
              problems.push(`\`${change.path}\` (line ${added.line}, ${where}) holds ${found.what}`)
              break
            }
          }
        }
        entries.push({ _tag: "write", path: change.path, mode: change.mode, content: bytes })
        current.set(change.path, bytes)
      }
      commits.push({ message: commit.message, author: commit.author, entries })
    }
    return problems.length > 0
      ? { _tag: "Refused", problems } satisfies Refused
      : { _tag: "Accepted", commits, instructionFiles: [...instructionFiles].sort() } satisfies Accepted
  })
