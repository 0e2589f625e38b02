/**
 * CommandSyntax: where a comment addresses Porter, decided the way GitHub renders it. A mention counts only as plain
 * paragraph text at the start of a line: the comment is parsed as GitHub Flavored Markdown (micromark's CommonMark
 * parser with GFM's tables, footnotes and strikethrough — the constructs that can turn a line into something other
 * than paragraph text), and the mention must be the first text of a line of a top-level paragraph, outside any inline
 * construct. So it never counts inside a blockquote (a lazy continuation line included), a list item, a heading (a
 * setext one too), a table, a footnote, code (fenced, indented or inline, however many lines it spans), an HTML block
 * or an HTML comment (one opened mid-line too), emphasis, a link or struck-through text — nor after a raw HTML block
 * that leaves a comment open (GitHub's page then hides, or nests, the rest of the comment). An escaped `\@porter` or a character
 * reference (`&#64;porter`) is text GitHub shows, but not written as a mention: it does not count either.
 *
 * Only comments that contain the mention at all are parsed (the intake sees every comment), and not those that start
 * with it and have no line that could make their first paragraph a heading or a table (`findMention`).
 *
 * Cannot: see mentions in raw inline HTML the way GitHub's sanitizer would (a raw inline tag such as `<b>` is ignored:
 * what follows it is paragraph text), or Markdown inside an HTML block.
 */
import { parse, postprocess, preprocess } from "micromark"
import { gfmFootnote } from "micromark-extension-gfm-footnote"
import { gfmStrikethrough } from "micromark-extension-gfm-strikethrough"
import { gfmTable } from "micromark-extension-gfm-table"

/** The command line of the first mention that addresses Porter, and the rest of the comment after that line. */
export interface Mention {
  /** The rest of the mention's line (a leading `,`, `:`, `;`, `.`, `!` or `?` dropped), trimmed. */
  readonly line: string
  /** Every line after the mention's line. */
  readonly rest: string
}

const extensions = [gfmFootnote(), gfmStrikethrough(), gfmTable()]

/** What may follow the mention: `@porter-bot` and `@porters` are other accounts. */
const BOUNDARY = /^(?:$|[\s,:;.!?])/

/**
 * The source offsets where a line of a top-level paragraph starts with plain text (a `data` token), in order: the
 * only places a mention addresses Porter.
 */
export const lineStarts = (text: string): Array<number> => {
  const events = postprocess(parse({ extensions }).document().write(preprocess()(text, undefined, true)))
  const starts: Array<number> = []
  // Open tokens, innermost last; a top-level paragraph is `content > paragraph` with nothing around it.
  const open: Array<string> = []
  // Inside a top-level paragraph (its direct children only): does the next child start a line?
  let atLineStart = false
  // Raw HTML goes to the page as written. A `<!--` one raw block leaves open (its list item or quote ended first) hides
  // what follows up to a later raw `-->`, and what comes after that is inside the block's container on the page (its
  // end tags were hidden too): no later line counts. A footnote's HTML is not where it was written (GitHub shows
  // footnotes at the end, when they are referenced at all).
  let comment = false
  let hidden = false
  for (const [kind, token] of events) {
    if ((token.type === "htmlFlow" || token.type === "htmlText") && !open.includes("gfmFootnoteDefinition")) {
      if (kind === "enter") comment = false
      else if (comment) hidden = true
    }
    if (kind === "enter" && (token.type === "htmlFlowData" || token.type === "htmlTextData")) {
      comment = commentStateAfter(text.slice(token.start.offset, token.end.offset), comment)
    }
    if (kind === "exit") {
      open.pop()
      if (open.length === 2 && open[1] === "paragraph" && token.type === "lineEnding") atLineStart = true
      continue
    }
    const topLevel = open.length === 2 && open[0] === "content" && open[1] === "paragraph"
    if (open.length === 1 && open[0] === "content" && token.type === "paragraph") atLineStart = true
    else if (topLevel) {
      if (token.type === "data" && atLineStart && !hidden) starts.push(token.start.offset)
      // Indentation of a continuation line (and a hard break's trailing spaces) keep the line's start ahead.
      if (token.type !== "linePrefix" && token.type !== "lineEnding" && token.type !== "hardBreakTrailing") {
        atLineStart = false
      }
    }
    open.push(token.type)
  }
  return starts
}

/** Whether an HTML comment is open after `raw` (raw HTML), given whether one was open before it. */
const commentStateAfter = (raw: string, open: boolean): boolean => {
  let inside = open
  let at = 0
  for (;;) {
    const next = raw.indexOf(inside ? "-->" : "<!--", at)
    if (next < 0) return inside
    at = next + (inside ? 3 : 4)
    inside = !inside
  }
}

/** The mention whose text (`after`) follows the needle: its line and the lines after it. */
const mentionOf = (after: string): Mention => {
  const end = after.search(/\r\n|\r|\n/)
  const line = end < 0 ? after : after.slice(0, end)
  const rest = end < 0 ? "" : after.slice(end + (after.startsWith("\r\n", end) ? 2 : 1))
  return { line: line.replace(/^[,:;.!?]+/, "").trim(), rest }
}

/**
 * A line that could turn the paragraph above it into something else: a setext heading's underline (`===`, `---`), a
 * table's delimiter row (`|---|:-:`), or a thematic break (`***`, `- - -`).
 */
const RESHAPING_LINE = /^[ \t|:=*_-]+$/

/** The first mention of `@<name>` that addresses Porter in `text`, if any. */
export const findMention = (text: string, name: string): Mention | undefined => {
  const needle = `@${name.toLowerCase()}`
  const lower = text.toLowerCase()
  // Most comments never mention Porter: they are not parsed.
  if (!lower.includes(needle)) return undefined
  // Most commands start the comment: a first line that begins with the mention is a paragraph's first text (nothing
  // before it can open a construct, and `@` starts no block), unless a later line turns that paragraph into a heading
  // or a table — the parser decides then. This skips the parse on the intake's common path.
  if (lower.startsWith(needle)) {
    const after = text.slice(needle.length)
    const reshaped = text.split(/\r\n|\r|\n/).some((line, i) => i > 0 && RESHAPING_LINE.test(line))
    if (!reshaped) return BOUNDARY.test(after) ? mentionOf(after) : findParsed(text, lower, needle)
  }
  return findParsed(text, lower, needle)
}

const findParsed = (text: string, lower: string, needle: string): Mention | undefined => {
  for (const start of lineStarts(text)) {
    if (lower.slice(start, start + needle.length) !== needle) continue
    const after = text.slice(start + needle.length)
    if (BOUNDARY.test(after)) return mentionOf(after)
  }
  return undefined
}
