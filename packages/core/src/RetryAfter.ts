/**
 * The one retry rule of Porter's HTTP adapters, as an effect `Schedule`: wait what the failure asks for
 * (`Retry-After`, a rate-limit reset) when it asks, bounded by a maximum; otherwise an exponential backoff with
 * jitter; give up after `times` retries, at once when a failure is not worth another attempt, and at once when
 * the wait asked for is longer than the maximum (a long wait belongs to the caller's own schedule — the next
 * sweep — not to one request). Use it with `Effect.retry` or `HttpClient.retryTransient`.
 *
 * Pure Effect: the delays come from the `Clock` and `Random` services, so `TestClock` drives them in tests.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Result, Schedule } from "effect"
import { Headers } from "effect/http"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options<Input> {
  /** Retries after the first attempt. */
  readonly times: number
  /** The first backoff; it doubles on each retry and is jittered (80–120 %, `Schedule.jittered`). */
  readonly base: Duration.Input
  /**
   * The longest wait. A backoff is capped to it; a wait the failure asks for that is longer ends the retries at
   * once, with that failure.
   */
  readonly maxDelay: Duration.Input
  /** Caps the backoff below `maxDelay` (which then bounds only the waits failures ask for); default `maxDelay`. */
  readonly maxBackoff?: Duration.Input | undefined
  /**
   * No retry starts later than this after the first failure: a wait that would end past it ends the retries at
   * once. Default: no budget (only `times` and `maxDelay` bound the retries).
   */
  readonly budget?: Duration.Input | undefined
  /** Whether a failure is worth another attempt; default: every failure is. */
  readonly while?: ((input: Input) => boolean) | undefined
  /** How long the failure asks to wait, measured from `now` (epoch millis); `undefined` when it does not say. */
  readonly requested?: ((input: Input, now: number) => Duration.Duration | undefined) | undefined
}

/**
 * The schedule: its input is the failure of the attempt that just ended, its output the un-jittered backoff.
 * The delay it sleeps is the larger of the backoff and the wait asked for (`Retry-After` is a minimum).
 *
 * @category constructors
 * @since 0.1.0
 */
export const schedule = <Input>(options: Options<Input>): Schedule.Schedule<Duration.Duration, Input> => {
  const maxDelay = Duration.fromInputUnsafe(options.maxDelay)
  const maxBackoff = options.maxBackoff === undefined
    ? maxDelay
    : Duration.min(Duration.fromInputUnsafe(options.maxBackoff), maxDelay)
  const budget = options.budget === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(options.budget))
  return Schedule.exponential(options.base).pipe(
    Schedule.jittered,
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maxBackoff))),
    Schedule.setInputType<Input>(),
    Schedule.modifyDelay(({ duration, input, now }) => {
      const asked = options.requested?.(input, now)
      return Effect.succeed(asked === undefined ? duration : Duration.max(duration, asked))
    }),
    Schedule.while(({ attempt, duration, elapsed, input }) =>
      attempt <= options.times &&
      (options.while?.(input) ?? true) &&
      // Longer than the maximum only when the failure asked for it (the backoff is capped above).
      Duration.isLessThanOrEqualTo(duration, maxDelay) &&
      (budget === undefined || elapsed + Duration.toMillis(duration) <= budget)
    )
  )
}

/**
 * A `Retry-After` header value (whole seconds or an HTTP date, `Headers.parseRetryAfter`) as the wait from `now`
 * (epoch millis); a date in the past is no wait. `undefined` when absent or unreadable (RFC 9110: ignored).
 *
 * @category parsing
 * @since 0.1.0
 */
export const parse = (header: string | undefined, now: number): Duration.Duration | undefined => {
  if (header === undefined) return undefined
  const parsed = Headers.parseRetryAfter(header)
  return Result.isSuccess(parsed) ? Headers.retryAfterDelay(parsed.success, now) : undefined
}
