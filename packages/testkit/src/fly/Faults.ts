/**
 * Fault injection for the local machines server: each fault is queued, matches requests by operation, and is used
 * up after `count` matches. At most one delay and one answer fault apply to a request.
 */

/** The API operation a request is for (`any` matches all of them). */
export type Op = "create" | "get" | "list" | "wait" | "stop" | "start" | "destroy" | "apps" | "logs"
/** The operation a fault applies to, or `any`. */
export type OpFilter = Op | "any"

export type AnswerFault =
  /** Answer with `status` (429 adds `Retry-After`) and Fly's `ErrorResponse` body; nothing is done. */
  | {
    readonly _tag: "Status"
    readonly op: OpFilter
    readonly status: number
    readonly retryAfterSeconds?: number
    readonly error: string
    /** `ErrorResponse.status` (`main.statusCode`): `unknown` or `insufficient_capacity`. */
    readonly code?: "unknown" | "insufficient_capacity"
  }
  /** Do the work (create the machine), then close the connection without an answer. */
  | { readonly _tag: "DropResponse"; readonly op: OpFilter }

export interface DelayFault {
  readonly op: OpFilter
  readonly delayMs: number
}

interface Queued<F> {
  readonly fault: F
  remaining: number
}

/** The faults a test scripts on the machines server: rate limits, server errors, delays, dropped answers. */
export interface Faults {
  /** The next `count` (default 1) matching requests get 429 with `Retry-After` (default 1 s). */
  readonly rateLimit: (options?: { count?: number; retryAfterSeconds?: number; op?: OpFilter }) => void
  /** The next `count` (default 1) matching requests get `status` (default 500). */
  readonly serverError: (options?: {
    count?: number
    status?: number
    op?: OpFilter
    error?: string
    /** Fly's `ErrorResponse.status`, e.g. `insufficient_capacity` for a region without room. */
    code?: "unknown" | "insufficient_capacity"
  }) => void
  /** The next `count` (default 1) matching requests are answered `delayMs` late. */
  readonly slow: (options: { delayMs: number; count?: number; op?: OpFilter }) => void
  /** The next `count` (default 1) creates make their machine, then drop the connection without an answer. */
  readonly dropCreateResponse: (count?: number) => void
  /** The next `count` (default 1) machines fail to launch: state `failed`, no process. */
  readonly failLaunch: (count?: number) => void
  /** The next `count` (default 1) machines die (SIGKILL) `afterMs` (default 0) after they started. */
  readonly dieAfterStart: (options?: { count?: number; afterMs?: number }) => void
  /** The machine's process dies now (SIGKILL to its process group, or its container), as if it crashed. */
  readonly kill: (machineId: string) => Promise<void>
  /** Drops every queued fault. */
  readonly clear: () => void
  /** Queued faults not used up yet (a test can assert they all fired). */
  readonly pending: () => number
}

const matches = (filter: OpFilter, op: Op) => filter === "any" || filter === op

/** The queues behind `Faults`; the server consults them. */
export class FaultQueues {
  readonly answers: Array<Queued<AnswerFault>> = []
  readonly delays: Array<Queued<DelayFault>> = []
  readonly launchFailures: Array<Queued<true>> = []
  readonly deaths: Array<Queued<{ afterMs: number }>> = []

  private take<F>(queue: Array<Queued<F>>, predicate: (fault: F) => boolean): F | undefined {
    const index = queue.findIndex((q) => q.remaining > 0 && predicate(q.fault))
    if (index < 0) return undefined
    const entry = queue[index]!
    entry.remaining--
    if (entry.remaining <= 0) queue.splice(index, 1)
    return entry.fault
  }

  answer(op: Op): AnswerFault | undefined {
    return this.take(this.answers, (f) => matches(f.op, op) && (f._tag === "Status" || op === "create"))
  }

  delay(op: Op): number {
    return this.take(this.delays, (f) => matches(f.op, op))?.delayMs ?? 0
  }

  launchFailure(): boolean {
    return this.take(this.launchFailures, () => true) !== undefined
  }

  death(): { afterMs: number } | undefined {
    return this.take(this.deaths, () => true)
  }

  pending(): number {
    return [this.answers, this.delays, this.launchFailures, this.deaths].reduce(
      (sum, queue) => sum + queue.reduce((n, q) => n + q.remaining, 0),
      0
    )
  }

  clear(): void {
    for (const queue of [this.answers, this.delays, this.launchFailures, this.deaths]) queue.length = 0
  }

  api(kill: (machineId: string) => Promise<void>): Faults {
    return {
      rateLimit: (options = {}) => {
        this.answers.push({
          fault: {
            _tag: "Status",
            op: options.op ?? "any",
            status: 429,
            retryAfterSeconds: options.retryAfterSeconds ?? 1,
            error: "rate limit exceeded"
          },
          remaining: options.count ?? 1
        })
      },
      serverError: (options = {}) => {
        this.answers.push({
          fault: {
            _tag: "Status",
            op: options.op ?? "any",
            status: options.status ?? 500,
            error: options.error ?? "internal server error (injected)",
            ...(options.code !== undefined ? { code: options.code } : {})
          },
          remaining: options.count ?? 1
        })
      },
      slow: (options) => {
        this.delays.push({
          fault: { op: options.op ?? "any", delayMs: options.delayMs },
          remaining: options.count ?? 1
        })
      },
      dropCreateResponse: (count = 1) => {
        this.answers.push({ fault: { _tag: "DropResponse", op: "create" }, remaining: count })
      },
      failLaunch: (count = 1) => {
        this.launchFailures.push({ fault: true, remaining: count })
      },
      dieAfterStart: (options = {}) => {
        this.deaths.push({ fault: { afterMs: options.afterMs ?? 0 }, remaining: options.count ?? 1 })
      },
      kill,
      clear: () => this.clear(),
      pending: () => this.pending()
    }
  }
}
