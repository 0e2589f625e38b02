/** What a comment asks Porter to do, once parsed. */
import { Schema } from "effect"

/** Run an agent: which, with what model, timeout and budget, on what instructions (or a question, `ask`). */
export class Run extends Schema.TaggedClass<Run>()("Run", {
  agent: Schema.String,
  model: Schema.optional(Schema.String),
  timeoutMs: Schema.optional(Schema.Int),
  /** `--budget <usd>`: what the task's model calls may cost. */
  budgetUsd: Schema.optional(Schema.Number),
  instructions: Schema.String,
  /** `@porter [agent] ask <question>`: answer read-only, no branch and no pull request. */
  ask: Schema.optional(Schema.Boolean),
  /** `@porter [agent] fix-ci [instructions]` on a pull request: make its failing checks pass, their logs in the prompt. */
  fixCi: Schema.optional(Schema.Boolean),
  /** No agent was named: `agent` is the deployment's default, and the repository's `.github/porter.yml` may pick another. */
  defaultAgent: Schema.optional(Schema.Boolean),
  /** The command's first word when it named no agent (nor came close to one): the status comment says so. */
  notAnAgent: Schema.optional(Schema.String)
}) {}

/** What a `fix-ci` task is asked when its command (or the automatic fix) adds nothing. */
export const FIX_CI_INSTRUCTIONS = "Make the failing CI checks of this pull request pass."

/** `@porter help`. */
export class Help extends Schema.TaggedClass<Help>()("Help", {}) {}
/** `@porter status`. */
export class Status extends Schema.TaggedClass<Status>()("Status", {}) {}
/** `@porter cancel`. */
export class Cancel extends Schema.TaggedClass<Cancel>()("Cancel", {}) {}
/** `@porter retry`. */
export class Retry extends Schema.TaggedClass<Retry>()("Retry", {}) {}
/**
 * `@porter continue [more instructions]`: a task on the latest task's branch that resumes its agent's session (where
 * the CLI can), else starts afresh with its summary and diff. `instructions` may be empty.
 */
export class Continue extends Schema.TaggedClass<Continue>()("Continue", { instructions: Schema.String }) {}

/** What a continuation is asked when its command adds nothing. */
export const CONTINUE_INSTRUCTIONS = "Continue where you left off and finish the task."
/** `@porter approve`: someone with write access lets the outsiders' requests waiting on this issue run. */
export class Approve extends Schema.TaggedClass<Approve>()("Approve", {}) {}
/** `@porter deny`: someone with write access drops them. */
export class Deny extends Schema.TaggedClass<Deny>()("Deny", {}) {}

/** What a comment asks Porter to do. */
export const Command = Schema.Union([Run, Help, Status, Cancel, Retry, Approve, Deny, Continue])
/** What a comment asks Porter to do. */
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

/** What a comment says: a command, nothing for Porter, or a problem to answer. */
export const ParseResult = Schema.Union([
  Run,
  Help,
  Status,
  Cancel,
  Retry,
  Approve,
  Deny,
  Continue,
  NotForPorter,
  Problem
])
/** What a comment says: a command, nothing for Porter, or a problem to answer. */
export type ParseResult = typeof ParseResult.Type
