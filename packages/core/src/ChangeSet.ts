/**
 * A change set: what a machine proposes once its agent is done, instead of pushing. The agent's commits on the task
 * branch relative to the commit the machine cloned (`base`), each with its message, author and per path the new mode
 * and content (base64: binary-safe) or a deletion. Porter validates it (`ChangeRules`) and makes the commits itself
 * (`ChangeSets`); nothing the machine says about branches, commit SHAs or pull requests is taken.
 *
 * The machine also sends the base content of the paths it changed that existed at `base` (`bases`): Porter checks
 * each against the base commit's tree (the git blob SHA) before using it to tell added lines from old ones.
 */
import { Effect, Result, Schema } from "effect"
import { Base64 as Base64Encoding } from "effect/encoding"

/** The largest change set body Porter reads (bytes of JSON). */
export const MAX_BODY_BYTES = 32 * 1024 * 1024
/** At most this many commits… */
export const MAX_COMMITS = 100
/** …and this many file changes in all of them. */
export const MAX_FILE_CHANGES = 3_000
/** The largest single file (decoded bytes). */
export const MAX_FILE_BYTES = 8 * 1024 * 1024

const Sha = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[0-9a-f]{40}$/, { expected: "a 40-character commit SHA" }))
)

/** A path as the machine wrote it; `ChangeRules` decides whether it may be used. */
const Path = Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(4_096)))

const Base64 = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Za-z0-9+/]*={0,2}$/, { expected: "base64" }))
)

/** A regular file (`100644`), an executable (`100755`) or a symbolic link (`120000`, the content is its target). */
export const FileMode = Schema.Literals(["100644", "100755", "120000"])
export type FileMode = typeof FileMode.Type

/** A file the commit writes: its path, mode and content (base64). */
export const FileWrite = Schema.TaggedStruct("write", { path: Path, mode: FileMode, content: Base64 })
/** A file the commit deletes. */
export const FileDelete = Schema.TaggedStruct("delete", { path: Path })
/** A file the commit writes or deletes. */
export const FileChange = Schema.Union([FileWrite, FileDelete])
/** A file the commit writes or deletes. */
export type FileChange = typeof FileChange.Type

/** A commit's author or committer, as git recorded them. */
export const Signature = Schema.Struct({
  name: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(256))),
  email: Schema.String.pipe(Schema.check(Schema.isMaxLength(256))),
  /** ISO 8601 with its offset, as git recorded it. */
  date: Schema.String.pipe(Schema.check(Schema.makeFilter((s: string) => Number.isFinite(Date.parse(s)))))
})

/** One commit the machine proposes: its message, author and file changes. */
export const ProposedCommit = Schema.Struct({
  message: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(65_536))),
  author: Signature,
  changes: Schema.Array(FileChange).pipe(Schema.check(Schema.isMaxLength(MAX_FILE_CHANGES)))
})
/** One commit the machine proposes: its message, author and file changes. */
export type ProposedCommit = typeof ProposedCommit.Type

/** The machine's work: the commits it proposes on the base it started from; Porter writes them. */
export const ChangeSet = Schema.Struct({
  /** The commit the machine cloned: the first commit's parent. */
  base: Sha,
  commits: Schema.Array(ProposedCommit).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_COMMITS))),
  /** Base content (base64) of changed paths that existed at `base`, checked against its tree. */
  bases: Schema.optional(Schema.Record(Path, Base64)),
  /** The agent's summary: the pull request's description. */
  summary: Schema.optional(Schema.String.pipe(Schema.check(Schema.isMaxLength(20_000)))),
  /**
   * The work so far of an agent that was stopped (deadline, cancel, budget): committed like any change set, its pull
   * request opened as a draft.
   */
  checkpoint: Schema.optional(Schema.Boolean)
})
/** The machine's work: the commits it proposes on the base it started from; Porter writes them. */
export type ChangeSet = typeof ChangeSet.Type

/** What Porter made of an accepted change set. */
export const Published = Schema.Struct({
  branch: Schema.String,
  /** The commits Porter made, oldest first (the last is the branch's tip). */
  commits: Schema.Array(Sha),
  pullRequest: Schema.Struct({ number: Schema.Number, url: Schema.String })
})
export type Published = typeof Published.Type

const decoder = new TextDecoder("utf-8", { fatal: true })

/** Base64 → bytes; `undefined` when the text is not base64 (the schema checked only the alphabet). */
export const bytesOf = (base64: string): Uint8Array | undefined => Result.getOrUndefined(Base64Encoding.decode(base64))

/** The lines of a file when it is text (UTF-8 without NUL bytes); `undefined` for a binary file. */
export const textLines = (bytes: Uint8Array): ReadonlyArray<string> | undefined => {
  if (bytes.includes(0)) return undefined
  try {
    return decoder.decode(bytes).split(/\r?\n/)
  } catch {
    return undefined
  }
}

const encoder = new TextEncoder()

/** The git blob SHA of `bytes` (SHA-1 of `blob <length>\0` and the bytes): how a tree names a file's content. */
export const blobSha = (bytes: Uint8Array): Effect.Effect<string> =>
  // WebCrypto's digest of bytes cannot fail.
  Effect.promise(() => {
    const header = encoder.encode(`blob ${bytes.byteLength}\0`)
    const all = new Uint8Array(header.byteLength + bytes.byteLength)
    all.set(header)
    all.set(bytes, header.byteLength)
    return crypto.subtle.digest("SHA-1", all)
  }).pipe(Effect.map((digest) => [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")))
