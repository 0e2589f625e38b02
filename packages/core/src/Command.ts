/** What a comment asks Porter to do, once parsed. */
import { Schema } from "effect"

export class Run extends Schema.TaggedClass<Run>()("Run", {
  agent: Schema.String,
  model: Schema.optional(Schema.String),
  timeoutMs: Schema.optional(Schema.Int),
  /** `--budget <usd>`: what the task's model calls may cost. */
  budgetUsd: Schema.optional(Schema.Number),
  instructions: Schema.String
}) {}

export class Help extends Schema.TaggedClass<Help>()("Help", {}) {}
export class Status extends Schema.TaggedClass<Status>()("Status", {}) {}
export class Cancel extends Schema.TaggedClass<Cancel>()("Cancel", {}) {}
export class Retry extends Schema.TaggedClass<Retry>()("Retry", {}) {}

export const Command = Schema.Union([Run, Help, Status, Cancel, Retry])
export type Command = typeof Command.Type

/** The comment does not address Porter (no mention at the start of a line outside code and quotes). */
export class NotForPorter extends Schema.TaggedClass<NotForPorter>()("NotForPorter", {}) {}

/**
 * The comment addresses Porter but cannot be run as written: a near-miss agent name, an unknown
 * flag, a bad duration… `message` is the answer for the issue; nothing runs.
 */
export class Problem extends Schema.TaggedClass<Problem>()("Problem", {
  kind: Schema.Literals([
    "did_you_mean",
    "unknown_flag",
    "bad_flag_value",
    "timeout_too_long",
    "budget_too_high",
    "unsupported_flag",
    "empty_instructions"
  ]),
  message: Schema.String
}) {}

export const ParseResult = Schema.Union([Run, Help, Status, Cancel, Retry, NotForPorter, Problem])
export type ParseResult = typeof ParseResult.Type
