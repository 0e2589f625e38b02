/**
 * Every failure a user of Porter can meet, as tagged errors. Each carries a `message` that can be
 * shown as is (in an HTTP answer or an issue comment): it says what went wrong and what to do.
 */
import { Schema } from "effect"

/** A task cannot move from its state to the requested one (terminal tasks never move). */
export class IllegalTransition extends Schema.TaggedError<IllegalTransition>()("IllegalTransition", {
  taskId: Schema.String,
  from: Schema.String,
  to: Schema.String
}) {
  override get message(): string {
    return `task ${this.taskId} cannot move from ${this.from} to ${this.to}`
  }
}

/** No task has this id. */
export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()("TaskNotFound", {
  taskId: Schema.String
}) {
  override get message(): string {
    return `no task ${this.taskId}`
  }
}

/** The storage behind `TaskStore`, `SecretStore` or `Settings` failed. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A stored secret could not be decrypted: wrong key, tampered ciphertext, or a row moved elsewhere. */
export class SecretDecryptionFailed extends Schema.TaggedError<SecretDecryptionFailed>()("SecretDecryptionFailed", {
  scope: Schema.String,
  name: Schema.String,
  keyId: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `secret ${this.name} (${this.scope}) cannot be decrypted${
      this.keyId ? ` with key ${this.keyId}` : ""
    }; set it again`
  }
}

/** An agent needs a secret that no scope holds. */
export class MissingSecret extends Schema.TaggedError<MissingSecret>()("MissingSecret", {
  agent: Schema.String,
  /** Alternatives: any one of them would do. */
  names: Schema.Array(Schema.String),
  repo: Schema.String,
  /** The name that addresses Porter on this repository (`porter` unless configured otherwise). */
  mention: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const names = this.names.map((n) => `\`${n}\``).join(" or ")
    return `the \`${this.agent}\` agent needs ${names}, which is not set. Set it for your user, for ` +
      `\`${this.repo}\`, or for the installation (\`porter secrets set ${
        this.names[0]
      } --scope repository:${this.repo}\`, ` +
      `or the admin API \`PUT /admin/secrets\`), then comment \`@${this.mention ?? "porter"} retry\`.`
  }
}

/** Why a provisioner failed: credentials, configuration, not found, conflict, rate limit, unavailable, unknown. */
export const ProvisionFailure = Schema.Literals([
  "unauthorized",
  "bad_config",
  "not_found",
  "conflict",
  "rate_limited",
  "unavailable",
  "unknown"
])
/** Why a provisioner failed: credentials, configuration, not found, conflict, rate limit, unavailable, unknown. */
export type ProvisionFailure = typeof ProvisionFailure.Type

/** A machine could not be created, inspected or destroyed. */
export class ProvisionError extends Schema.TaggedError<ProvisionError>()("ProvisionError", {
  reason: ProvisionFailure,
  message: Schema.String,
  status: Schema.optional(Schema.Number),
  cause: Schema.optional(Schema.Defect())
}) {}

/** What a provider's message ends with when its failure may pass. */
export const PROVISION_RETRY_HINT = "comment `@porter retry` to try again"

/**
 * The `ProvisionError`s of one failed provider call, as its adapter words them: each carries the call's HTTP status
 * when it had one, and the call's error as the cause.
 */
export const provisionErrorsOf =
  (call: { readonly status?: number | undefined }) => (reason: ProvisionFailure, message: string): ProvisionError =>
    new ProvisionError({ reason, message, ...(call.status !== undefined ? { status: call.status } : {}), cause: call })

/** The provisioner has no machine with this id. */
export class MachineNotFound extends Schema.TaggedError<MachineNotFound>()("MachineNotFound", {
  machineId: Schema.String
}) {
  override get message(): string {
    return `no machine ${this.machineId}`
  }
}

/** Talking to GitHub (or whatever the Reporter/IssueReader speaks to) failed. */
export class ReportError extends Schema.TaggedError<ReportError>()("ReportError", {
  message: Schema.String,
  status: Schema.optional(Schema.Number),
  cause: Schema.optional(Schema.Defect())
}) {}

/** The commenter's rights could not be checked (not: the commenter was refused). */
export class AuthorizationError extends Schema.TaggedError<AuthorizationError>()("AuthorizationError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A repository token for a machine could not be minted. */
export class TokenError extends Schema.TaggedError<TokenError>()("TokenError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** Webhook intake refusals; each maps to one HTTP status. */
export class WebhookUnauthorized extends Schema.TaggedError<WebhookUnauthorized>()("WebhookUnauthorized", {
  message: Schema.String
}) {}

/** A webhook body over the size limit (413). */
export class WebhookTooLarge extends Schema.TaggedError<WebhookTooLarge>()("WebhookTooLarge", {
  limitBytes: Schema.Number
}) {
  override get message(): string {
    return `payload larger than ${this.limitBytes} bytes`
  }
}

/** A verified webhook that does not decode (400). */
export class WebhookMalformed extends Schema.TaggedError<WebhookMalformed>()("WebhookMalformed", {
  message: Schema.String
}) {}

/** Callback refusals. */
export class CallbackUnauthorized extends Schema.TaggedError<CallbackUnauthorized>()("CallbackUnauthorized", {
  message: Schema.String
}) {}

/** A machine's callback that does not decode (400). */
export class CallbackMalformed extends Schema.TaggedError<CallbackMalformed>()("CallbackMalformed", {
  message: Schema.String
}) {}
