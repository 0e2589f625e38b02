/**
 * Artifacts: what Porter keeps of a task's run (`ArtifactStore`): the agent's session, the transcript and the diff the
 * machine hands over. Everything is redacted before it is stored — every secret value the task's machine could have
 * seen or Porter holds for its chain (`TaskSecrets`), in their common encodings, and credential-shaped strings
 * (`SecretScan.redactor`) — whatever the runner already scrubbed.
 *
 * Each artifact is then copied to the mirror (`ArtifactMirror`, a secret gist), when there is one, within
 * `MIRROR_TIMEOUT_MS`; a mirror that fails or is slow is logged and written in the task's audit trail
 * (`mirror_failed`), and never fails the task. The transcript's address — the web app's page
 * (`PorterConfig.transcriptBaseUrl`), else the mirror's — is recorded on the task for its final status comment.
 *
 * A continuation (`@porter continue`) starts from what was kept (`continuation`): the earlier session when the agent's
 * CLI resumes sessions and one was kept, else the earlier task's summary and diff for a fresh prompt; the task records
 * which (`resumed`), and its audit trail has a `continues` line.
 *
 * Retention: `purge` drops artifacts older than the deployment's `artifactRetentionDays` (the global settings'); the
 * watchdog calls it on every sweep. A mirror keeps its copies: a gist is the user's to delete.
 */
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import type { AgentSpec } from "./Agent.ts"
import {
  Artifact,
  type ArtifactError,
  type ArtifactKind,
  ArtifactMirror,
  ArtifactStore,
  MAX_ARTIFACT_BYTES
} from "./ArtifactStore.ts"
import { Audit } from "./Audit.ts"
import type { StoreError } from "./Errors.ts"
import type { TaskId } from "./Ids.ts"
import { PorterConfig } from "./PorterConfig.ts"
import type { Continuation } from "./PromptBuilder.ts"
import * as SecretScan from "./SecretScan.ts"
import { SecretStore } from "./SecretStore.ts"
import { defaults, Settings } from "./Settings.ts"
import type { Task } from "./Task.ts"
import * as TaskSecrets from "./TaskSecrets.ts"
import { TaskStore } from "./TaskStore.ts"
import { TaskTokens } from "./TaskTokens.ts"

/** How long the mirror may take for one artifact before it counts as failed (the machine waits for the answer). */
export const MIRROR_TIMEOUT_MS = 10_000

const DAY_MS = 86_400_000

/** What the machine hands over. */
export interface Handover {
  readonly kind: ArtifactKind
  readonly name: string
  readonly content: string
}

/** Keeps what a run hands over (redacted, mirrored), finds what a continuation starts from, purges by retention. */
export class Artifacts extends Context.Service<Artifacts, {
  /** Redacts and keeps one of `task`'s artifacts, copies it to the mirror; where people can read it, if anywhere. */
  readonly save: (task: Task, handover: Handover) => Effect.Effect<Option.Option<string>, ArtifactError | StoreError>
  /** The agent session a continuation resumes: its earlier task's, when the same agent made it. */
  readonly sessionFor: (task: Task) => Effect.Effect<Option.Option<Artifact>, ArtifactError>
  /** An earlier task's artifact of `kind` (a fresh continuation's diff). */
  readonly of: (taskId: TaskId, kind: ArtifactKind) => Effect.Effect<Option.Option<Artifact>, ArtifactError>
  /**
   * How `task`, a continuation of `earlierId`, starts: `resume` (the earlier session is there for its agent), or
   * `fresh` with what the prompt says of the earlier task. Recorded on the task. Never fails (a store that does not
   * answer means afresh).
   */
  readonly continuation: (
    task: Task,
    agent: AgentSpec,
    earlierId: TaskId
  ) => Effect.Effect<{ readonly resume: true } | { readonly resume: false; readonly fresh: Continuation }>
  /** Drops what the retention period no longer keeps; how many. Never fails (a failure is logged). */
  readonly purge: Effect.Effect<number>
}>()("@porter/core/Artifacts") {}

/** `text` within `MAX_ARTIFACT_BYTES`, its end kept (a transcript's last turns matter most). */
const clipped = (text: string): string =>
  text.length <= MAX_ARTIFACT_BYTES ? text : `[… clipped]\n${text.slice(text.length - MAX_ARTIFACT_BYTES + 12)}`

/** The service over the ambient `ArtifactStore` (and its optional `ArtifactMirror`). */
export const make = Effect.gen(function*() {
  const store = yield* ArtifactStore
  const mirror = yield* ArtifactMirror
  const audit = yield* Audit
  const config = yield* PorterConfig
  const settings = yield* Settings
  const tasks = yield* TaskStore
  const secrets = yield* SecretStore
  const tokens = yield* TaskTokens

  const redactorFor = (task: Task) =>
    TaskSecrets.valuesFor(task).pipe(
      Effect.provideService(SecretStore, secrets),
      Effect.provideService(TaskTokens, tokens),
      Effect.map((values) => SecretScan.redactor(values))
    )

  const mirrored = (artifact: Artifact) =>
    mirror === undefined ? Effect.succeed(Option.none<string>()) : mirror.put(artifact).pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(MIRROR_TIMEOUT_MS),
        orElse: () => Effect.fail({ message: `no answer within ${MIRROR_TIMEOUT_MS / 1000} s` })
      }),
      Effect.catch((error) =>
        Effect.gen(function*() {
          yield* Effect.logWarning("mirroring an artifact failed", { taskId: artifact.taskId, error: error.message })
          yield* audit.record(artifact.taskId, "mirror_failed", `${artifact.kind}: ${error.message}`.slice(0, 500))
          return Option.none<string>()
        })
      )
    )

  const save = Effect.fn("Artifacts.save")(function*(task: Task, handover: Handover) {
    const redact = yield* redactorFor(task)
    const content = redact(handover.content)
    // Half a session cannot be resumed: one too long is not kept (a continuation then starts afresh).
    if (handover.kind === "session" && content.length > MAX_ARTIFACT_BYTES) {
      yield* audit.record(task.id, "artifact_dropped", `the session is longer than ${MAX_ARTIFACT_BYTES} characters`)
      return Option.none<string>()
    }
    const artifact = new Artifact({
      taskId: task.id,
      kind: handover.kind,
      agent: task.agent,
      name: redact(handover.name).slice(0, 200),
      content: clipped(content),
      storedAt: yield* Clock.currentTimeMillis
    })
    yield* store.put(artifact)
    yield* audit.record(task.id, "artifact", `${artifact.kind} (${artifact.content.length} characters)`)
    const copy = yield* mirrored(artifact)
    if (artifact.kind !== "transcript") return copy
    const url = config.transcriptBaseUrl !== undefined
      ? Option.some(`${config.transcriptBaseUrl}/${task.id}/transcript`)
      : copy
    if (Option.isSome(url)) {
      yield* tasks.update(task.id, { transcriptUrl: url.value }, artifact.storedAt).pipe(
        Effect.catchTag("IllegalTransition", () => Effect.void),
        Effect.catchTag("TaskNotFound", () => Effect.void)
      )
    }
    return url
  })

  const of = (taskId: TaskId, kind: ArtifactKind) => store.get(taskId, kind)

  const sessionFor = Effect.fn("Artifacts.sessionFor")(function*(task: Task) {
    if (task.continuesFrom === undefined) return Option.none<Artifact>()
    const session = yield* store.get(task.continuesFrom, "session")
    return Option.filter(session, (artifact) => artifact.agent === task.agent)
  })

  const continuation = Effect.fn("Artifacts.continuation")(function*(task: Task, agent: AgentSpec, earlierId: TaskId) {
    const session = agent.resumes === true
      ? yield* sessionFor(task).pipe(Effect.orElseSucceed(() => Option.none()))
      : Option.none()
    const resumed = Option.isSome(session) ? "session" as const : "summary" as const
    yield* tasks.update(task.id, { resumed }, yield* Clock.currentTimeMillis, ["provisioning", "running"]).pipe(
      Effect.ignore
    )
    yield* audit.record(task.id, "continues", `${earlierId}: ${resumed === "session" ? "session resumed" : "afresh"}`)
    if (resumed === "session") return { resume: true } as const
    const earlier = yield* tasks.find(earlierId).pipe(Effect.orElseSucceed(() => Option.none<Task>()))
    const diff = yield* store.get(earlierId, "diff").pipe(Effect.orElseSucceed(() => Option.none()))
    const fresh: Continuation = {
      taskId: earlierId,
      state: Option.match(earlier, { onNone: () => "earlier", onSome: (t) => t.state }),
      summary: Option.getOrUndefined(Option.flatMapNullishOr(earlier, (t) => t.summary)),
      diff: Option.getOrUndefined(Option.map(diff, (d) => d.content)),
      reason: Option.getOrUndefined(Option.flatMapNullishOr(earlier, (t) => t.reason))
    }
    return { resume: false, fresh } as const
  })

  const purge = Effect.gen(function*() {
    const global = yield* settings.get({ _tag: "global" })
    const days = global.artifactRetentionDays ?? defaults.artifactRetentionDays
    return yield* store.purge((yield* Clock.currentTimeMillis) - days * DAY_MS)
  }).pipe(
    Effect.catch((error) => Effect.as(Effect.logWarning("purging artifacts failed", { error: error.message }), 0))
  )

  return Artifacts.of({ save, sessionFor, of, continuation, purge })
})

/** `make` as a layer. */
export const layer: Layer.Layer<
  Artifacts,
  never,
  ArtifactStore | Audit | PorterConfig | Settings | TaskStore | SecretStore | TaskTokens
> = Layer.effect(Artifacts, make)
