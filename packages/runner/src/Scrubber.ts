/**
 * Scrubber: removes every secret value of the machine environment — and the simple encodings an
 * agent or git may print (base64 of the value, of the Basic credentials `x-access-token:<value>`,
 * URL-encoded) — from text before it leaves the machine (callback bodies, the pull request,
 * logs). It cannot recognise a secret the agent transformed in other ways (split, reversed, hashed).
 */
import { Context, Layer, Redacted } from "effect"

export const REDACTED = "[redacted]"

/** Values shorter than this are not scrubbed: replacing "1" everywhere would destroy the text. */
const MIN_LENGTH = 6

export class Scrubber extends Context.Service<Scrubber, {
  readonly scrub: (text: string) => string
  /** How many distinct needles are searched (for tests and `doctor`-style diagnostics). */
  readonly size: number
}>()("@porter/runner/Scrubber") {}

const base64 = (text: string): string => Buffer.from(text, "utf8").toString("base64")
const base64Url = (text: string): string => Buffer.from(text, "utf8").toString("base64url")

/** The encodings of one secret value that are searched for. */
export const variantsOf = (value: string): ReadonlyArray<string> => {
  const variants = new Set<string>([value, value.trim()])
  variants.add(encodeURIComponent(value))
  variants.add(JSON.stringify(value).slice(1, -1))
  for (const wrapped of [value, `x-access-token:${value}`, `${value}:x-oauth-basic`, `${value}:`, `:${value}`]) {
    variants.add(base64(wrapped))
    variants.add(base64(wrapped).replace(/=+$/, ""))
    variants.add(base64Url(wrapped))
  }
  return [...variants].filter((v) => v.length >= MIN_LENGTH)
}

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

export const layer = (secrets: Iterable<Redacted.Redacted<string> | string>): Layer.Layer<Scrubber> =>
  Layer.succeed(Scrubber, make(secrets))
