// Agent sessions on the machine: where Claude Code and Codex keep them, putting one back, and the transcripts rendered
// from them (what people read on the transcript page).
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Sessions } from "@porter/runner"
import { Effect, Option } from "effect"
import { mkdtempSync, readFileSync, utimesSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const place = (): Sessions.Place => ({
  home: mkdtempSync(join(tmpdir(), "porter-sessions-")),
  cwd: "/tmp/porter-Ab1.x/widgets",
  env: {}
})

describe("Sessions", () => {
  it("Claude Code's project folder: every character but letters and digits becomes -", () => {
    assert.strictEqual(Sessions.claudeProjectName("/tmp/cl.cwd_1-fRfhGb"), "-tmp-cl-cwd-1-fRfhGb")
  })

  it.effect("Claude Code: the runner names the session; it is read back, and put back for another directory", () =>
    Effect.gen(function*() {
      const claude = Sessions.kindOf("claude")!
      const at = place()
      const id = claude.newId()!
      assert.match(id, /^[0-9a-f-]{36}$/)
      assert.isTrue(Option.isNone(yield* claude.read(at, id, 0)))
      const resumed = yield* claude.restore({ ...at, cwd: "/tmp/other/widgets" }, { name: id, content: "{}\n" })
      assert.strictEqual(resumed, id)
      assert.strictEqual(
        readFileSync(Sessions.claudeSessionFile(at.home, "/tmp/other/widgets", id), "utf8"),
        "{}\n"
      )
      assert.deepStrictEqual(Option.getOrThrow(yield* claude.read({ ...at, cwd: "/tmp/other/widgets" }, id, 0)), {
        name: id,
        content: "{}\n"
      })
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("Codex: the newest rollout written since the run started is its session; a name that climbs out is refused", () =>
    Effect.gen(function*() {
      const codex = Sessions.kindOf("codex")!
      const at = place()
      assert.isUndefined(codex.newId())
      const old = "2026/12/06/rollout-2026-12-06T10-00-00-aaaa.jsonl"
      const mine = "2026/12/07/rollout-2026-12-07T03-41-07-bbbb.jsonl"
      yield* codex.restore(at, { name: old, content: "old\n" })
      const past = new Date(Date.now() - 3_600_000)
      utimesSync(join(at.home, ".codex", "sessions", old), past, past)
      const since = Date.now()
      yield* codex.restore(at, { name: mine, content: "mine\n" })
      assert.deepStrictEqual(Option.getOrThrow(yield* codex.read(at, undefined, since)), {
        name: mine,
        content: "mine\n"
      })
      const refused = yield* Effect.flip(codex.restore(at, { name: "../../.bashrc", content: "x" }))
      assert.include(String(refused), "is not a Codex rollout file")
      assert.isUndefined(Sessions.kindOf("opencode"))
    }).pipe(Effect.provide(NodeServices.layer)))

  it("transcripts: messages, tool calls and results, from Claude Code's and Codex's records", () => {
    const claude = [
      JSON.stringify({ type: "queue-operation", operation: "enqueue" }),
      JSON.stringify({ type: "user", message: { role: "user", content: "write the plan" } }),
      JSON.stringify({
        type: "assistant",
        message: {
          content: [{ type: "text", text: "On it." }, { type: "tool_use", name: "Write", input: { file_path: "a" } }]
        }
      }),
      JSON.stringify({ type: "user", message: { content: [{ type: "tool_result", content: "File created" }] } })
    ].join("\n")
    const rendered = Sessions.claudeTranscript(claude)
    assert.include(rendered, "### User\n\nwrite the plan")
    assert.include(rendered, "### Assistant\n\nOn it.")
    assert.include(rendered, "### Tool call: Write")
    assert.include(rendered, "### Tool result\n\n```\nFile created\n```")
    const codex = [
      JSON.stringify({ type: "session_meta", payload: { id: "x" } }),
      JSON.stringify({
        type: "response_item",
        payload: { type: "message", role: "user", content: [{ type: "input_text", text: "write one.md" }] }
      }),
      JSON.stringify({
        type: "response_item",
        payload: { type: "function_call", name: "shell", arguments: "{\"command\":[\"ls\"]}" }
      }),
      JSON.stringify({ type: "response_item", payload: { type: "function_call_output", output: "one.md" } })
    ].join("\n")
    const fromCodex = Sessions.codexTranscript(codex)
    assert.include(fromCodex, "### User\n\nwrite one.md")
    assert.include(fromCodex, "### Tool call: shell")
    assert.include(fromCodex, "one.md")
  })
})
