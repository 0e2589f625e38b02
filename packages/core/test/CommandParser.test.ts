import { assert, describe, it } from "@effect/vitest"
import { AgentCatalog, CommandParser, Settings } from "@porter/core"
import * as fc from "fast-check"

const parser = CommandParser.make(AgentCatalog.make(AgentCatalog.builtInAgents))
const parse = (text: string, settings = Settings.defaults) => parser.parse(text, settings)

describe("CommandParser", () => {
  it.each(
    [
      ["@porter claude make the date parser accept ISO weeks", {
        _tag: "Run",
        agent: "claude",
        instructions: "make the date parser accept ISO weeks"
      }],
      ["@porter claude-code fix it", { _tag: "Run", agent: "claude", instructions: "fix it" }],
      ["@porter Codex: add tests", { _tag: "Run", agent: "codex", instructions: "add tests" }],
      ["@porter fix the flaky test", {
        _tag: "Run",
        agent: "claude",
        defaultAgent: true,
        instructions: "fix the flaky test"
      }],
      ["@porter help me understand the parser", {
        _tag: "Run",
        agent: "claude",
        defaultAgent: true,
        notAnAgent: "help",
        instructions: "help me understand the parser"
      }],
      ["@porter refactor the parser", {
        _tag: "Run",
        agent: "claude",
        defaultAgent: true,
        notAnAgent: "refactor",
        instructions: "refactor the parser"
      }],
      ["@porter ask why is the parser slow?", {
        _tag: "Run",
        agent: "claude",
        defaultAgent: true,
        ask: true,
        instructions: "why is the parser slow?"
      }],
      ["@porter codex ask: where are tokens checked?", {
        _tag: "Run",
        agent: "codex",
        ask: true,
        instructions: "where are tokens checked?"
      }],
      ["@porter fix-ci", {
        _tag: "Run",
        agent: "claude",
        defaultAgent: true,
        fixCi: true,
        instructions: "Make the failing CI checks of this pull request pass."
      }],
      ["@porter codex --timeout 20m fix-ci: keep the old parser\nand its tests", {
        _tag: "Run",
        agent: "codex",
        timeoutMs: 1_200_000,
        fixCi: true,
        instructions: "keep the old parser\nand its tests"
      }],
      ["@porter gemini --model gemini-pro ask what does Intake do\nin detail", {
        _tag: "Run",
        agent: "gemini",
        model: "gemini-pro",
        ask: true,
        instructions: "what does Intake do\nin detail"
      }],
      ["@porter opencode --model anthropic/claude-opus-4 --timeout 1h30m refactor\nsecond line", {
        _tag: "Run",
        agent: "opencode",
        model: "anthropic/claude-opus-4",
        timeoutMs: 5_400_000,
        instructions: "refactor\nsecond line"
      }],
      ["@porter --timeout=20m make it faster", {
        _tag: "Run",
        agent: "claude",
        defaultAgent: true,
        timeoutMs: 1_200_000,
        instructions: "make it faster"
      }],
      ["Thanks!\n\n  @PORTER, gemini summarize", { _tag: "Run", agent: "gemini", instructions: "summarize" }],
      ["@porter", { _tag: "Help" }],
      ["@porter help", { _tag: "Help" }],
      ["@porter status", { _tag: "Status" }],
      ["@porter cancel", { _tag: "Cancel" }],
      ["@porter stop!", { _tag: "Cancel" }],
      ["@porter retry\nplease", { _tag: "Retry" }],
      ["@porter approve", { _tag: "Approve" }],
      ["@porter Deny.", { _tag: "Deny" }]
    ] as const
  )("%s", (text, expected) => {
    const result = parse(text)
    assert.deepStrictEqual({ ...result }, { ...expected })
  })

  it.each([
    "no mention here",
    "> @porter claude fix it",
    "  > @porter claude fix it",
    "```\n@porter claude fix it\n```",
    "~~~md\n@porter claude fix it\n~~~",
    "text\n\n    @porter claude fix it",
    "<!--\n@porter claude fix it\n-->",
    "cc @porter claude fix it",
    "`@porter claude fix it`",
    "@porter-bot claude fix it",
    "@porters claude fix it",
    "mail me at foo@porter.dev"
  ])("does not trigger on %j", (text) => {
    assert.strictEqual(parse(text)._tag, "NotForPorter")
  })

  it.each(
    [
      ["@porter claud fix it", "did_you_mean", "Did you mean `claude`?"],
      ["@porter opencod fix it", "did_you_mean", "Did you mean `opencode`?"],
      ["@porter codx fix it", "did_you_mean", "Did you mean `codex`?"],
      ["@porter geminy fix it", "did_you_mean", "Did you mean `gemini`?"],
      ["@porter claude --modle opus fix", "unknown_flag", "Unknown flag `--modle`"],
      ["@porter claude --timeout forever fix", "bad_flag_value", "is not a duration"],
      ["@porter claude --timeout 9h fix", "timeout_too_long", "longer than this repository allows (2h 0m)"],
      ["@porter claude --model", "bad_flag_value", "`--model` needs a model id"],
      ["@porter claude", "empty_instructions", "Tell `claude` what to do"],
      ["@porter ask", "empty_instructions", "Ask a question"]
    ] as const
  )("%s → %s", (text, kind, message) => {
    const result = parse(text)
    assert.strictEqual(result._tag, "Problem")
    if (result._tag === "Problem") {
      assert.strictEqual(result.kind, kind)
      assert.include(result.message, message)
    }
  })

  it("respects a configured mention name and default agent", () => {
    const settings = new Settings.RepoSettings({ ...Settings.defaults, mentionName: "robo", defaultAgent: "codex" })
    assert.strictEqual(parse("@porter claude fix", settings)._tag, "NotForPorter")
    assert.deepStrictEqual({ ...parse("@robo add a flag", settings) }, {
      _tag: "Run",
      agent: "codex",
      defaultAgent: true,
      instructions: "add a flag"
    })
  })

  it("parses durations", () => {
    assert.strictEqual(CommandParser.parseDuration("90s"), 90_000)
    assert.strictEqual(CommandParser.parseDuration("45min"), 2_700_000)
    assert.strictEqual(CommandParser.parseDuration("1h30m"), 5_400_000)
    assert.isUndefined(CommandParser.parseDuration("0m"))
    assert.isUndefined(CommandParser.parseDuration("soon"))
  })

  it("never throws, whatever the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 400 }), (text) => {
        const result = parse(text)
        assert.isString(result._tag)
      }),
      { numRuns: 10_000 }
    )
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(
            "@porter",
            " ",
            "\n",
            "claude",
            "--model",
            "--timeout",
            "5m",
            "x",
            "`",
            ">",
            "```",
            "<!--",
            "-->",
            ","
          ),
          { maxLength: 30 }
        ),
        (parts) => {
          assert.isString(parse(parts.join(""))._tag)
        }
      ),
      { numRuns: 10_000 }
    )
  })

  it("quoted or fenced mentions never trigger", () => {
    const line = fc.string({ maxLength: 60 }).map((s) => s.replaceAll("\n", " "))
    fc.assert(
      fc.property(fc.array(line, { maxLength: 5 }), line, (lines, rest) => {
        const command = `@porter claude ${rest}`
        const quoted = [...lines.map((l) => `> ${l}`), `> ${command}`].join("\n")
        const fenced = ["```", ...lines, command, "```"].join("\n")
        assert.strictEqual(parse(quoted)._tag, "NotForPorter")
        assert.strictEqual(parse(fenced)._tag, "NotForPorter")
      }),
      { numRuns: 5_000 }
    )
  })
})
