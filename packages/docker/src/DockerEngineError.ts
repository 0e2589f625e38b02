/**
 * What can go wrong talking to the Docker daemon: a failed call (`DockerEngineError`: which call, why — transport,
 * timeout, status, malformed answer — and the daemon's own message or the system error code) and a `DOCKER_HOST`
 * Porter cannot use (`InvalidDockerHost`), with the helpers that read a transport failure's code and text.
 */
import { Data } from "effect"

/** Why a call to the Docker Engine failed. */
export type FailureKind =
  /** The daemon could not be reached (no socket, refused, reset, permission denied). */
  | "transport"
  /** No answer in time. */
  | "timeout"
  /** The daemon answered with an error status. */
  | "status"
  /** The daemon answered 2xx with a body that does not match the API. */
  | "malformed"

/** A failed call to the Docker Engine: which call, why, and the daemon's message. */
export class DockerEngineError extends Data.TaggedError("DockerEngineError")<{
  readonly kind: FailureKind
  /** The call, e.g. `create container`. */
  readonly op: string
  /** `DOCKER_HOST` as given. */
  readonly host: string
  readonly status?: number | undefined
  /** The daemon's own message (`{"message": …}`). */
  readonly engineMessage?: string | undefined
  /** The system error code of a transport failure (`ENOENT`, `ECONNREFUSED`, `EACCES`…). */
  readonly code?: string | undefined
  readonly detail?: string | undefined
}> {
  override get message(): string {
    const what = this.kind === "status" ? `HTTP ${this.status}` : this.kind
    const extra = this.engineMessage ?? [this.code, this.detail].filter(Boolean).join(" ")
    return `Docker ${this.op} at ${this.host} failed (${what}${extra ? `: ${extra}` : ""})`
  }
}

/** A `DOCKER_HOST` Porter cannot use. */
export class InvalidDockerHost extends Data.TaggedError("InvalidDockerHost")<{ readonly host: string }> {
  override get message(): string {
    return `DOCKER_HOST=${this.host} is not a Docker address Porter can use: give unix:///path/to/docker.sock, ` +
      "tcp://host:2375 or http://host:2375 (TLS is not supported)"
  }
}

/** The system error code (`ECONNREFUSED`, `EACCES`…) of a failure or of one of its causes, a few levels down. */
export const errnoOf = (u: unknown): string | undefined => {
  for (let current: unknown = u, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** A failure's text. */
export const describe = (u: unknown): string => (u instanceof Error ? u.message : String(u))
