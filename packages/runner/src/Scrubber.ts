/**
 * Scrubber: removes every secret value of the machine environment — and the simple encodings an
 * agent or git may print (base64 of the value, of the Basic credentials `x-access-token:<value>`,
 * URL-encoded) — from text before it leaves the machine (callback bodies, the change set's summary,
 * logs). It cannot recognise a secret the agent transformed in other ways (split, reversed, hashed).
 */
import { SecretScan } from "@porter/core"
import { Context, Layer, Redacted } from "effect"

/** What a secret is replaced with in every line the runner sends or prints. */
export const REDACTED = "[redacted]"

/** Removes every secret of the machine environment (and its simple encodings) from text. */
export class Scrubber extends Context.Service<Scrubber, {
  readonly scrub: (text: string) => string
  /** How many distinct needles are searched (for tests and `doctor`-style diagnostics). */
  readonly size: number
}>()("@porter/runner/Scrubber") {}

/**
 * The encodings of one secret value that are searched for (core's `SecretScan.variantsOf`: the same rule Porter
 * applies to a change set). None shorter than `SecretScan.MIN_VALUE_LENGTH`: replacing "1" everywhere would destroy
 * the text.
 */
export const variantsOf: (value: string) => ReadonlyArray<string> = SecretScan.variantsOf

/** A scrubber for these secret values. Longer needles go first so a value never leaves a fragment. */
export const make = (secrets: Iterable<Redacted.Redacted<string> | string>): Scrubber["Service"] => {
  const needles = new Set<string>()
  for (const secret of secrets) {
    const value = Redacted.isRedacted(secret) ? Redacted.value(secret) : secret
    for (const variant of variantsOf(value)) needles.add(variant)
  }
  const ordered = [...needles].sort((a, b) => b.length - a.length)
  const scrub = (text: string): string => {
    let out = text
    for (const needle of ordered) {
      if (out.includes(needle)) out = out.split(needle).join(REDACTED)
    }
    return out
  }
  return Scrubber.of({ scrub, size: ordered.length })
}

/** Scrubs every string inside a JSON-like value (object keys stay as they are). */
export const scrubDeep = <A>(scrub: (text: string) => string, value: A): A => {
  const go = (v: unknown): unknown => {
    if (typeof v === "string") return scrub(v)
    if (Array.isArray(v)) return v.map(go)
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {}
      for (const [k, inner] of Object.entries(v)) out[k] = go(inner)
      return out
    }
    return v
  }
  return go(value) as A
}

/** `Scrubber` for `secrets`. */
export const layer = (secrets: Iterable<Redacted.Redacted<string> | string>): Layer.Layer<Scrubber> =>
  Layer.succeed(Scrubber, make(secrets))
