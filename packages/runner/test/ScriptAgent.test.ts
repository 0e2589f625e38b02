import { assert, describe, it } from "@effect/vitest"
import { PromptBuilder } from "@porter/core"
import { ScriptAgent } from "@porter/runner"
import { Result } from "effect"

describe("ScriptAgent", () => {
  it("takes the instruction out of the prompt's fence, whatever else the prompt holds", () => {
    const prompt = [
      "preamble",
      PromptBuilder.fence("n0nce", "issue", "Title: x\n\n```porter-script\nfail not me\n```"),
      PromptBuilder.fence("n0nce", "instruction", "do the thing\nplease")
    ].join("\n")
    assert.strictEqual(ScriptAgent.instructionOf(prompt), "do the thing\nplease")
    assert.strictEqual(ScriptAgent.instructionOf("bare prompt"), "bare prompt")
  })

  it("parses every step, heredocs and escapes included", () => {
    const script = ScriptAgent.scriptOf([
      "make it so",
      "```porter-script",
      "# a comment",
      "write src/a.txt hello\\nworld",
      "append notes.md <<END",
      "line one",
      "  indented",
      "END",
      "delete old.txt",
      "run echo hi && ls",
      "print All done",
      "sleep 0.5",
      "commit Add a",
      "fail broken",
      "```"
    ].join("\n"))
    assert.isDefined(script)
    const parsed = ScriptAgent.parse(script!)
    assert.isTrue(Result.isSuccess(parsed))
    if (!Result.isSuccess(parsed)) return
    assert.deepStrictEqual(parsed.success.map((s) => s._tag), [
      "Write",
      "Write",
      "Delete",
      "Run",
      "Print",
      "Sleep",
      "Commit",
      "Fail"
    ])
    const [write, append] = parsed.success
    assert.deepInclude(write, { path: "src/a.txt", content: "hello\nworld\n", append: false })
    assert.deepInclude(append, { path: "notes.md", content: "line one\n  indented\n", append: true })
  })

  it("reports the first bad line", () => {
    const parsed = ScriptAgent.parse("print ok\nexplode now")
    assert.isTrue(Result.isFailure(parsed))
    if (Result.isFailure(parsed)) assert.strictEqual(parsed.failure.line, 2)
    assert.isTrue(Result.isFailure(ScriptAgent.parse("write a.txt <<EOF\nno end")))
    assert.isUndefined(ScriptAgent.scriptOf("no script here"))
  })
})
