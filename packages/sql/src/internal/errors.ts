/** Turns driver and decoding failures into the ports' `StoreError`, without values in the message. */
import { Errors } from "@porter/core"
import { Effect } from "effect"

const describe = (error: unknown): string => {
  // SqlError → reason (UnknownError …) → the driver's error; its message names the constraint or the
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

/** `label` names the database in the message (`SQLite`, `PostgreSQL`, `D1`). */
export const storeError = (operation: string, label = "storage") => (cause: unknown): Errors.StoreError =>
  new Errors.StoreError({ message: `${label} ${operation} failed: ${describe(cause)}`, cause })

/** Maps every failure of `effect` to `StoreError`. */
export const orStoreError = (operation: string, label?: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.mapError(effect, storeError(operation, label))
