/**
 * A tiny HTML template helper (no JSX, no framework): `html` is a tagged template whose interpolations are escaped
 * unless they are `Html` themselves (another `html` result, or `raw` text the caller vouches for). Arrays are joined;
 * `undefined`, `null` and `false` render nothing, so conditional parts read `${cond && html`…`}`.
 *
 * Cannot: know where in the markup a value lands. Attribute values must be quoted in the template (`href="${url}"`):
 * escaping covers quotes, but an unquoted attribute or a value put inside `<script>`/`<style>` is not safe.
 */

const HtmlTypeId: unique symbol = Symbol.for("@porter/web/Html")

/** Markup that is already safe to emit. */
export interface Html {
  readonly [HtmlTypeId]: typeof HtmlTypeId
  readonly text: string
}

/** What an interpolation may be. */
export type Part = Html | string | number | boolean | null | undefined | ReadonlyArray<Part>

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** Escapes text for an element's content or a quoted attribute value. */
export const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

const make = (text: string): Html => ({ [HtmlTypeId]: HtmlTypeId, text })

/** Whether `value` is markup already (not to be escaped again). */
export const isHtml = (value: unknown): value is Html =>
  typeof value === "object" && value !== null && HtmlTypeId in value

/** Markup the caller vouches for (constants, already escaped text). */
export const raw = (text: string): Html => make(text)

const render = (part: Part): string => {
  if (part === undefined || part === null || part === false || part === true) return ""
  if (typeof part === "string") return escape(part)
  if (typeof part === "number") return String(part)
  if (isHtml(part)) return part.text
  let out = ""
  for (const item of part) out += render(item)
  return out
}

/** The tagged template. */
export const html = (strings: TemplateStringsArray, ...parts: ReadonlyArray<Part>): Html => {
  let out = strings[0]!
  for (let i = 0; i < parts.length; i++) out += render(parts[i]!) + strings[i + 1]!
  return make(out)
}

/** `parts` joined with `separator` (escaped like any part). */
export const join = (parts: ReadonlyArray<Part>, separator: Part = ""): Html => {
  let out = ""
  parts.forEach((part, index) => {
    if (index > 0) out += render(separator)
    out += render(part)
  })
  return make(out)
}

/** The text of a fragment. */
export const toString = (fragment: Html): string => fragment.text
