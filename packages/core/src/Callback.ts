/**
 * The runner's callbacks: `POST /callbacks/tasks/:taskId` with `Authorization: Bearer <task token>`
 * and one of these JSON bodies.
 */
import { Schema } from "effect"
import { Outcome, Usage } from "./Task.ts"

/** Sent at a steady interval while the runner works; a missing heartbeat ends the task `timed_out`. */
export const HeartbeatEvent = Schema.Struct({
  type: Schema.tag("heartbeat"),
  step: Schema.optional(Schema.String)
})

/** The runner is up and starts cloning. */
export const StartedEvent = Schema.Struct({
  type: Schema.tag("started"),
  machineId: Schema.optional(Schema.String),
  step: Schema.optional(Schema.String)
})

/**
 * The runner is done. `pushed` means its change set was published through Porter (`POST …/changes`); branch, commit
 * and pull request are what Porter recorded then, never the machine's word.
 */
export const CompletedEvent = Schema.Struct({
  type: Schema.tag("completed"),
  outcome: Outcome,
  summary: Schema.optional(Schema.String.pipe(Schema.check(Schema.isMaxLength(20_000)))),
  usage: Schema.optional(Usage),
  logTail: Schema.optional(Schema.String.pipe(Schema.check(Schema.isMaxLength(20_000)))),
  /** For outcome `error` or `agent_failed`: what went wrong, in one sentence. */
  error: Schema.optional(Schema.String.pipe(Schema.check(Schema.isMaxLength(2_000)))),
  /**
   * The runner stopped its agent (the deadline, or Porter's `stop`) and handed over the work so far: the task ends the
   * way its stop says (timed out, cancelled, failed), with the checkpoint's draft pull request, if there was work.
   */
  checkpoint: Schema.optional(Schema.Boolean)
})

/** What a machine tells Porter: started, heartbeat, or completed. */
export const CallbackEvent = Schema.Union([StartedEvent, HeartbeatEvent, CompletedEvent])
/** What a machine tells Porter: started, heartbeat, or completed. */
export type CallbackEvent = typeof CallbackEvent.Type
export type CompletedEvent = typeof CompletedEvent.Type

/** Decodes a callback body (JSON text). */
export const CallbackEventFromJson = Schema.fromJsonString(CallbackEvent)
