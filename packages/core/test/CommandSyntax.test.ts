// Where a comment addresses Porter, against a reference: micromark's own GFM rendering (to HTML, raw HTML kept as
// GitHub keeps it). A generated comment is a command ⇔ the mention is plain paragraph text at the start of a line of
// the rendered HTML (a top-level <p>'s own text, first in it or right after a line break). Then one test per
// construct that hides a mention (blockquotes with lazy continuation lines, fenced code also in list items, indented
// and inline code, HTML comments also opened mid-line, HTML blocks, …) and the ones that do not.
import { assert, describe, it } from "@effect/vitest"
import { CommandSyntax } from "@porter/core"
import * as fc from "fast-check"
import { mentionedInHtml, render } from "./support/GfmReference.ts"

const isCommand = (text: string) => CommandSyntax.findMention(text, "porter") !== undefined

describe("CommandSyntax", () => {
  it("the reference checker reads HTML as intended", () => {
    assert.isTrue(mentionedInHtml("<p>@porter claude x</p>"))
    assert.isTrue(mentionedInHtml("<p>Thanks\n@porter x</p>"))
    assert.isTrue(mentionedInHtml("<p>a<br />\n@porter</p>"))
    assert.isFalse(mentionedInHtml("<blockquote>\n<p>@porter x</p>\n</blockquote>"))
    assert.isFalse(mentionedInHtml("<p><em>a\n@porter x</em></p>"))
    assert.isFalse(mentionedInHtml("<p>Thanks <!--\n@porter x\n--></p>"))
    assert.isFalse(mentionedInHtml("<p>cc @porter x</p>"))
    assert.isFalse(mentionedInHtml("<p>@porter<em>x</em></p>"))
    assert.isFalse(mentionedInHtml("<p>@porters x</p>"))
  })

  // Fragments of Markdown that open, close or interrupt the constructs a mention may hide in.
  const prefix = fc.constantFrom(
    "",
    "",
    "",
    " ",
    "   ",
    "    ",
    "\t",
    "> ",
    ">",
    "- ",
    "* ",
    "1. ",
    "  ",
    "[^1]: ",
    "[a]: /url ",
    "# ",
    "| "
  )
  const piece = fc.constantFrom(
    "@porter claude fix it",
    "@porter",
    "@PORTER, codex",
    "@porter: help",
    "@porter-bot x",
    "@porters x",
    "@porter*x*",
    "cc @porter x",
    "text",
    "more words",
    " ",
    "  ",
    "`",
    "``",
    "```",
    "~~~",
    "<!--",
    "-->",
    "<div>",
    "</div>",
    "<details>",
    "</details>",
    "*",
    "**",
    "_",
    "~~",
    "~",
    "[",
    "]",
    "](u)",
    "][a]",
    "|",
    " | ",
    "---",
    "===",
    "- - -",
    "&amp;",
    "\\*",
    "\\`",
    "x  "
  )
  const line = fc.tuple(prefix, fc.array(piece, { maxLength: 5 })).map(([p, parts]) => p + parts.join(""))
  const comment = fc.tuple(fc.array(line, { minLength: 1, maxLength: 8 }), fc.boolean()).map(([lines, crlf]) =>
    lines.join(crlf ? "\r\n" : "\n")
  )

  it("a generated comment is a command ⇔ the mention is plain paragraph text at a line's start in GFM's HTML", () => {
    fc.assert(
      fc.property(comment, (text) => {
        assert.strictEqual(isCommand(text), mentionedInHtml(render(text)), `${JSON.stringify(text)}\n${render(text)}`)
      }),
      { numRuns: Number(process.env["PORTER_PROPERTY_RUNS"] ?? 5_000) }
    )
  }, 120_000)

  it.each(
    [
      // Blockquotes, a lazy continuation line included.
      ["> @porter claude fix it", false],
      ["> earlier words\n@porter script echo hi", false],
      ["> quote\n\n@porter claude fix it", true],
      // Fenced code, also in a list item; after the fence closes the mention counts.
      ["```\n@porter claude fix it\n```", false],
      ["~~~md\n@porter claude fix it\n~~~", false],
      ["- item\n\n  ```\n  @porter claude fix it\n  ```", false],
      ["```\nx\n```\n@porter claude fix it", true],
      // Indented code (a paragraph's indented continuation line is not code).
      ["text\n\n    @porter claude fix it", false],
      ["text\n    @porter claude fix it", true],
      // Inline code, on one line or across lines.
      ["`@porter claude fix it`", false],
      ["see `this\n@porter claude fix it` please", false],
      // HTML comments, opened at a line's start or mid-line; an unclosed one is shown as text.
      ["<!--\n@porter claude fix it\n-->", false],
      ["Thanks! <!--\n@porter script echo hi\n-->", false],
      ["Thanks! <!--\n@porter claude fix it", true],
      // HTML blocks; Markdown after a blank line inside one is a paragraph again.
      ["<div>\n@porter claude fix it\n</div>", false],
      ["<details>\n\n@porter claude fix it\n\n</details>", true],
      // Emphasis, links and strikethrough spanning lines.
      ["*note\n@porter claude fix it*", false],
      ["[a link\n@porter claude fix it](https://example.com)", false],
      ["~~old\n@porter claude fix it~~", false],
      // Headings, tables, lists, footnotes.
      ["@porter claude fix it\n---", false],
      ["# @porter claude fix it", false],
      ["@porter claude | fix it\n--- | ---", false],
      ["- @porter claude fix it", false],
      ["1. item\n@porter claude fix it", false],
      ["[^1]: a note\n    @porter claude fix it", false],
      // A comment left open hides the rest of the comment, wherever it was opened.
      ["1. <!--\n@porter claude fix it", false],
      // Plain paragraph text at a line's start: a hard-wrapped paragraph, after a hard break, after a definition.
      ["Thanks for the report.\n@porter claude fix it", true],
      ["Thanks  \n@porter claude fix it", true],
      ["[a]: /url\n@porter claude fix it", true],
      ["   @porter claude fix it", true]
    ] as const
  )("%j → %s", (text, expected) => {
    assert.strictEqual(isCommand(text), expected)
    assert.strictEqual(mentionedInHtml(render(text)), expected, render(text))
  })

  it("an escaped mention, or one spelled as a character reference, is shown but not written as one: no command", () => {
    for (const text of ["\\@porter claude fix it", "&#64;porter claude fix it", "&commat;porter claude fix it"]) {
      assert.isFalse(isCommand(text))
      assert.isTrue(mentionedInHtml(render(text)), render(text))
    }
  })

  it("the command line and the rest of the comment", () => {
    assert.deepStrictEqual(
      CommandSyntax.findMention("> @porter no\n\n@Porter, claude fix it\nsecond\nthird", "porter"),
      {
        line: "claude fix it",
        rest: "second\nthird"
      }
    )
    assert.deepStrictEqual(CommandSyntax.findMention("@porter x\r\ny", "porter"), { line: "x", rest: "y" })
    assert.isUndefined(CommandSyntax.findMention("no mention at all", "porter"))
  })
})
