/**
 * The reference the command detection is checked against: micromark's own GFM rendering to HTML (raw HTML kept, as
 * GitHub keeps it), and where in that HTML a mention is plain paragraph text at the start of a line.
 */
import { micromark } from "micromark"
import { gfm, gfmHtml } from "micromark-extension-gfm"

export const render = (markdown: string) =>
  micromark(markdown, { extensions: [gfm()], htmlExtensions: [gfmHtml()], allowDangerousHtml: true })

// Elements micromark writes for Markdown; raw HTML the generator writes (`div`, `details`) is neither a container nor
// text here (what an HTML block holds is never inside a <p>); in a paragraph, it is what a line starts with.
const VOID = new Set(["br", "img", "hr", "input"])
const RAW = new Set(["div", "details", "summary", "span"])
const TOKEN = /<!--[\s\S]*?(?:-->|$)|<\/?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>|[^<]+|</g

/** Does `@<name>` appear in the HTML as a top-level paragraph's own text at the start of a line? */
export const mentionedInHtml = (html: string, name = "porter"): boolean => {
  const needle = `@${name}`
  const stack: Array<string> = []
  let inParagraph = false
  let depth = 0
  let atStart = false
  let pending: string | undefined
  const tokens = [...html.matchAll(TOKEN)]
  for (const [index, match] of tokens.entries()) {
    const token = match[0]
    const tag = match[1]?.toLowerCase()
    if (token.startsWith("<!--")) {
      atStart = false
      continue
    }
    if (tag !== undefined) {
      const closing = token.startsWith("</")
      if (RAW.has(tag)) {
        // Raw HTML in a paragraph comes before whatever follows it on the line.
        if (inParagraph) atStart = false
        continue
      }
      if (inParagraph) {
        if (tag === "p" && closing && depth === 0) {
          inParagraph = false
          continue
        }
        if (!VOID.has(tag)) depth += closing ? -1 : 1
        atStart = false
        continue
      }
      if (VOID.has(tag)) continue
      // An end tag closes the element it names (and what is open inside it); a stray one is ignored, as browsers do.
      if (closing) {
        if (stack.includes(tag)) stack.splice(stack.lastIndexOf(tag))
      } else if (tag === "p" && stack.length === 0) {
        inParagraph = true
        depth = 0
        atStart = true
      } else stack.push(tag)
      continue
    }
    if (!inParagraph || depth !== 0) continue
    for (let i = 0; i < token.length; i++) {
      if (!(i === 0 ? atStart : token[i - 1] === "\n")) continue
      if (token.slice(i, i + needle.length).toLowerCase() !== needle) continue
      const after = token.slice(i + needle.length)
      if (after.length > 0) {
        if (/^[\s,:;.!?]/.test(after)) return true
        continue
      }
      // The text ends with the mention: the paragraph's end or a line break is a boundary, any other tag is not.
      pending = tokens[index + 1]?.[0]
      if (pending === "</p>" || pending?.startsWith("<br")) return true
    }
    atStart = false
  }
  return false
}
