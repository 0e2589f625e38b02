/**
 * TaskTokens: the bearer token a machine presents on callbacks. A token is HMAC-SHA256(secret,
 * "porter-task-token:" + taskId): nothing to store, the dispatcher can re-issue it after a crash,
 * and verification is a constant-time comparison that needs no database read.
 */
import { Config, Context, Effect, Layer, Redacted } from "effect"
import { toBase64Url } from "./Ids.ts"

export class TaskTokens extends Context.Service<TaskTokens, {
  readonly issue: (taskId: string) => Effect.Effect<Redacted.Redacted<string>>
  /** Constant time in the token's length. */
  readonly verify: (taskId: string, presented: string) => Effect.Effect<boolean>
}>()("@porter/core/TaskTokens") {}

const encoder = new TextEncoder()

/** Constant-time equality of two strings (time depends only on the lengths). */
export const timingSafeEqual = (a: string, b: string): boolean => {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ (y[i % Math.max(y.length, 1)] ?? 0)
  return diff === 0
}

export const make = (secret: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const key = yield* Effect.promise(() =>
      crypto.subtle.importKey(
        "raw",
        encoder.encode(Redacted.value(secret)),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"]
      )
    )
    const compute = (taskId: string) =>
      Effect.promise(() => crypto.subtle.sign("HMAC", key, encoder.encode(`porter-task-token:${taskId}`))).pipe(
        Effect.map((mac) => toBase64Url(new Uint8Array(mac)))
      )
    return TaskTokens.of({
      issue: (taskId) => Effect.map(compute(taskId), Redacted.make),
      verify: (taskId, presented) => Effect.map(compute(taskId), (expected) => timingSafeEqual(expected, presented))
    })
  })

export const layer = (secret: Redacted.Redacted<string>): Layer.Layer<TaskTokens> =>
  Layer.effect(TaskTokens, make(secret))

/** Reads the HMAC secret from `PORTER_TASK_TOKEN_SECRET`. */
export const layerConfig = (
  config: Config.Config<Redacted.Redacted<string>> = Config.Redacted("PORTER_TASK_TOKEN_SECRET")
): Layer.Layer<TaskTokens, Config.ConfigError> => Layer.effect(TaskTokens, Effect.flatMap(config, make))
