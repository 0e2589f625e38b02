/**
 * ArtifactStore: what a task's run leaves behind besides its pull request — the agent's session (what its CLI needs to
 * resume the conversation: Claude Code's session file) and the run's transcript — kept for a retention period
 * (`RepoSettings.artifactRetentionDays`; `purge` drops older ones). Everything stored here was scrubbed of secrets
 * first (`Artifacts`, with `SecretScan`): a store never sees a secret value it would have to protect.
 *
 * Layers: SQL (`@porter/sql`'s `SqlArtifactStore`: D1 in the Worker, SQLite or PostgreSQL on Node), the filesystem
 * (`@porter/sql/node`'s `FileArtifactStore`), in memory (`@porter/testing`), and secret gists (`@porter/github`'s
 * `GistArtifactStore`), used as an optional mirror (`ArtifactMirror`) whose failures never fail a task.
 *
 * Cannot: hold binary content (artifacts are text: sessions are JSON lines) or more than `MAX_ARTIFACT_BYTES` each.
 */
import { Context, Schema } from "effect"
import type { Effect, Option } from "effect"
import { TaskId } from "./Ids.ts"

/**
 * The largest artifact kept, in UTF-16 code units of its text (under D1's 2 MB a value for text of up to two bytes a
 * character). `Artifacts` clips a longer transcript or diff and drops a longer session (half a session cannot be resumed).
 */
export const MAX_ARTIFACT_BYTES = 1_000_000

/**
 * `session`: the agent CLI's own record of the conversation, to resume it; `transcript`: what the run said, for people
 * to read; `diff`: the changes the run proposed (a unified diff), for a continuation that cannot resume the session.
 */
export const ArtifactKind = Schema.Literals(["session", "transcript", "diff"])
export type ArtifactKind = typeof ArtifactKind.Type

/** One artifact of a task's run, as it is kept (already redacted). */
export class Artifact extends Schema.Class<Artifact>("@porter/core/Artifact")({
  taskId: TaskId,
  kind: ArtifactKind,
  /** The agent whose run made it: a session is resumed only by the same agent's CLI. */
  agent: Schema.String,
  /** What the CLI knows it by (Claude Code's session id), or a file name for a transcript. */
  name: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(200))),
  /** The text, secrets scrubbed. */
  content: Schema.String.pipe(Schema.check(Schema.isMaxLength(MAX_ARTIFACT_BYTES))),
  storedAt: Schema.Number
}) {}

/** The store could not be read or written (a database, a disk, GitHub). */
export class ArtifactError extends Schema.TaggedError<ArtifactError>()("ArtifactError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** The port: where a task's artifacts are kept, by task and kind, for the retention period. */
export class ArtifactStore extends Context.Service<ArtifactStore, {
  /**
   * Keeps `artifact`, replacing the task's artifact of the same kind. Where the store publishes what it keeps (a
   * gist), the address people can read it at.
   */
  readonly put: (artifact: Artifact) => Effect.Effect<Option.Option<string>, ArtifactError>
  /** The task's artifact of `kind`, if one is kept. */
  readonly get: (taskId: TaskId, kind: ArtifactKind) => Effect.Effect<Option.Option<Artifact>, ArtifactError>
  /** Drops every artifact stored before `before` (epoch millis); how many. */
  readonly purge: (before: number) => Effect.Effect<number, ArtifactError>
}>()("@porter/core/ArtifactStore") {}

/**
 * A second store every artifact is copied to after the first (a secret gist), or none. Its failures are logged and
 * recorded in the task's audit trail; they never fail the task or hold it up.
 */
export const ArtifactMirror = Context.Reference<ArtifactStore["Service"] | undefined>(
  "@porter/core/ArtifactStore/ArtifactMirror",
  { defaultValue: () => undefined }
)
