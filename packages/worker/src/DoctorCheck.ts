/**
 * What one of the doctor's checks returns (`Check`, a verdict and a message) and how checks read the Worker's
 * variables: shared by `Doctor` and the modules holding groups of its checks.
 */

/** A check's verdict: `fail` makes the report fail, `warn` does not, `skip` when it could not run. */
export type Status = "pass" | "fail" | "warn" | "skip"

/** One check of the doctor: what it looked at and what it found. */
export interface Check {
  readonly name: string
  readonly status: Status
  /** What was found; for `fail` and `warn`, what to do about it. */
  readonly message: string
}

export const pass = (name: string, message: string): Check => ({ name, status: "pass", message })
export const fail = (name: string, message: string): Check => ({ name, status: "fail", message })
export const warn = (name: string, message: string): Check => ({ name, status: "warn", message })
export const skip = (name: string, message: string): Check => ({ name, status: "skip", message })

/** A variable as text: strings that are not blank, numbers and booleans; anything else is unset. */
export const text = (env: Readonly<Record<string, unknown>>, name: string): string | undefined => {
  const value = env[name]
  if (typeof value === "string") return value.trim().length > 0 ? value : undefined
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  return undefined
}
