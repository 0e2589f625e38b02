/**
 * Finding secrets in text: known values (a deployment's keys and tokens) in the encodings an agent or git may print
 * them in, and the shapes of common credentials. The runner scrubs what leaves the machine with the first; Porter
 * refuses a change set whose added lines hold either. A finding names what was found, never the value.
 *
 * Cannot: recognise a value transformed in other ways (split, reversed, hashed), or a credential of a shape not
 * listed here.
 */

/** Values shorter than this are not looked for: replacing or refusing "1" everywhere would be absurd. */
export const MIN_VALUE_LENGTH = 6

const utf8 = new TextEncoder()
const base64 = (text: string): string => btoa(String.fromCharCode(...utf8.encode(text)))
const base64Url = (text: string): string => base64(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")

/** The encodings of one secret value that are looked for: as is, URL- and JSON-escaped, base64 of common wrappings. */
export const variantsOf = (value: string): ReadonlyArray<string> => {
  const variants = new Set<string>([value, value.trim()])
  variants.add(encodeURIComponent(value))
  variants.add(JSON.stringify(value).slice(1, -1))
  for (const wrapped of [value, `x-access-token:${value}`, `${value}:x-oauth-basic`, `${value}:`, `:${value}`]) {
    variants.add(base64(wrapped))
    variants.add(base64(wrapped).replace(/=+$/, ""))
    variants.add(base64Url(wrapped))
  }
  return [...variants].filter((v) => v.length >= MIN_VALUE_LENGTH)
}

/** Shapes of credentials worth refusing wherever they come from. */
export const tokenShapes: ReadonlyArray<{ readonly name: string; readonly pattern: RegExp }> = [
  { name: "a GitHub token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/ },
  { name: "an Anthropic API key", pattern: /\bsk-ant-[A-Za-z0-9_-]{20,}/ },
  { name: "an OpenAI API key", pattern: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}/ },
  { name: "a Google API key", pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { name: "an AWS access key id", pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { name: "a Slack token", pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/ },
  { name: "a Fly.io token", pattern: /\bFlyV1 fm\d_[A-Za-z0-9_=+/-]{20,}|\bfo1_[A-Za-z0-9_-]{20,}/ },
  { name: "a private key", pattern: /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/ }
]

/** A secret in a text: which one (a secret's name, or a credential shape), never its value. */
export interface Finding {
  readonly what: string
}

/** Searches for named values (and their encodings) and credential shapes. */
export interface Scanner {
  /** What `line` holds, if anything: the first match. */
  readonly scan: (line: string) => Finding | undefined
}

/** A scanner for these named values (`name` → value); shapes too unless `shapes` is false. */
export const scanner = (
  values: ReadonlyArray<{ readonly name: string; readonly value: string }>,
  options: { readonly shapes?: boolean } = {}
): Scanner => {
  const needles: Array<readonly [string, string]> = []
  for (const { name, value } of values) {
    if (value.trim().length < MIN_VALUE_LENGTH) continue
    for (const variant of variantsOf(value)) needles.push([name, variant])
  }
  const shapes = options.shapes === false ? [] : tokenShapes
  return {
    scan: (line) => {
      for (const [name, needle] of needles) if (line.includes(needle)) return { what: `the value of ${name}` }
      for (const shape of shapes) if (shape.pattern.test(line)) return { what: shape.name }
      return undefined
    }
  }
}

/** What a redacted secret is replaced with. */
export const REDACTED = "[redacted]"

/**
 * A function that replaces every named value (in every encoding `variantsOf` knows) and, unless `shapes` is false,
 * every credential-shaped string with `REDACTED`: for text Porter keeps or shows (transcripts, sessions). Longer
 * needles go first, so a value never leaves a fragment behind.
 */
export const redactor = (
  values: ReadonlyArray<{ readonly value: string }>,
  options: { readonly shapes?: boolean } = {}
): (text: string) => string => {
  const needles = new Set<string>()
  for (const { value } of values) for (const variant of variantsOf(value)) needles.add(variant)
  const ordered = [...needles].sort((a, b) => b.length - a.length)
  const shapes = options.shapes === false
    ? []
    : tokenShapes.map(({ pattern }) =>
      new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`)
    )
  return (text) => {
    let out = text
    for (const needle of ordered) if (out.includes(needle)) out = out.split(needle).join(REDACTED)
    for (const shape of shapes) out = out.replace(shape, REDACTED)
    return out
  }
}
