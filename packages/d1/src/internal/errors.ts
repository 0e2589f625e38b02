/** Turns driver and decoding failures into the ports' `StoreError`, without values in the message. */
import { Errors } from "@porter/core"
import { Effect } from "effect"

const describe = (error: unknown): string => {
  // SqlError → reason (UnknownError …) → the D1 error; its message names the constraint or the
  // syntax problem, never bound values.
  let current: unknown = error
  let message = ""
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if (current.message && !message.includes(current.message)) {
      message = message ? `${message}: ${current.message}` : current.message
    }
    current = current.cause
  }
  return message || String(error)
}

export const storeError = (operation: string) => (cause: unknown): Errors.StoreError =>
  new Errors.StoreError({ message: `D1 ${operation} failed: ${describe(cause)}`, cause })

/** Maps every failure of `effect` to `StoreError`. */
export const orStoreError = (operation: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.mapError(effect, storeError(operation))
