/**
 * Metering and pricing, pure: each provider's final usage read from the answer's first and last bytes however the
 * answer is cut into chunks, an answer without figures estimated (and marked so), and the price table's rules.
 */
import { assert, describe, it } from "@effect/vitest"
import { Metering, Pricing, Settings } from "@porter/core"

const encoder = new TextEncoder()

/** Feeds `text` to a meter in chunks of `size` bytes. */
const meter = (provider: "anthropic" | "openai" | "gemini", text: string, size: number, model?: string) => {
  const m = Metering.make(provider, { requestBytes: 4_000, model })
  const bytes = encoder.encode(text)
  for (let i = 0; i < bytes.length; i += size) m.push(bytes.subarray(i, i + size))
  return m.finish()
}

const sse = (events: ReadonlyArray<readonly [string | undefined, unknown]>) =>
  events.map(([name, data]) => `${name !== undefined ? `event: ${name}\n` : ""}data: ${JSON.stringify(data)}\n\n`)
    .join("")

const longText = "lorem \"usage\": {\"output_tokens\": 999999} ipsum ".repeat(2_000)

const anthropicStream = sse([
  ["message_start", {
    type: "message_start",
    message: {
      id: "msg_1",
      model: "claude-sonnet-4-5-20250929",
      usage: { input_tokens: 1_200, cache_read_input_tokens: 300, cache_creation_input_tokens: 40, output_tokens: 1 }
    }
  }],
  ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: longText } }],
  ["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 321 } }],
  ["message_stop", { type: "message_stop" }]
])

describe("Metering", () => {
  for (const size of [1, 7, 4096, 1_000_000]) {
    it(`Anthropic: input from message_start, output from the last message_delta (chunks of ${size} bytes)`, () => {
      const m = meter("anthropic", anthropicStream, size)
      assert.deepStrictEqual(
        [m.model, m.inputTokens, m.outputTokens, m.cacheReadTokens, m.cacheWriteTokens, m.estimated],
        ["claude-sonnet-4-5-20250929", 1_200, 321, 300, 40, false]
      )
    })
  }

  it("Anthropic: a newer message_delta's cumulative input figures win; a JSON answer's usage is final", () => {
    const newer = sse([
      ["message_start", {
        type: "message_start",
        message: { model: "m", usage: { input_tokens: 5, output_tokens: 1 } }
      }],
      ["message_delta", {
        type: "message_delta",
        usage: { input_tokens: 7, cache_read_input_tokens: 2, cache_creation_input_tokens: 0, output_tokens: 9 }
      }]
    ])
    const m = meter("anthropic", newer, 3)
    assert.deepStrictEqual([m.inputTokens, m.outputTokens, m.cacheReadTokens], [7, 9, 2])
    const json = JSON.stringify({
      type: "message",
      model: "claude-haiku-4-5",
      content: [{ type: "text", text: longText }],
      usage: { input_tokens: 10, output_tokens: 20, cache_read_input_tokens: 0, cache_creation_input_tokens: 5 }
    })
    const j = meter("anthropic", json, 1000)
    assert.deepStrictEqual([j.model, j.inputTokens, j.outputTokens, j.cacheWriteTokens, j.estimated], [
      "claude-haiku-4-5",
      10,
      20,
      5,
      false
    ])
  })

  it("a stream cut before its final event is estimated from its size (input from message_start when known)", () => {
    const cut = anthropicStream.slice(0, anthropicStream.indexOf("event: message_delta"))
    const m = meter("anthropic", cut, 512)
    assert.isTrue(m.estimated)
    assert.strictEqual(m.inputTokens, 1_200)
    assert.strictEqual(m.outputTokens, Math.ceil(encoder.encode(cut).length / 4))
    const nothing = meter("openai", "data: {\"choices\":[]}\n\n", 5)
    assert.deepStrictEqual([nothing.estimated, nothing.inputTokens], [true, 1_000])
  })

  it("OpenAI: Responses' response.completed (cached input apart) and Chat Completions' usage chunk", () => {
    const responses = sse([
      ["response.created", { type: "response.created", response: { model: "gpt-5-codex", usage: null } }],
      ["response.output_text.delta", { type: "response.output_text.delta", delta: longText }],
      ["response.completed", {
        type: "response.completed",
        response: {
          model: "gpt-5-codex",
          output: [{ type: "message", content: [{ type: "output_text", text: longText }] }],
          usage: { input_tokens: 900, input_tokens_details: { cached_tokens: 600 }, output_tokens: 50 }
        }
      }]
    ])
    const r = meter("openai", responses, 333)
    assert.deepStrictEqual([r.model, r.inputTokens, r.cacheReadTokens, r.outputTokens, r.estimated], [
      "gpt-5-codex",
      300,
      600,
      50,
      false
    ])
    const chat = sse([
      [undefined, { model: "gpt-4.1", choices: [{ delta: { content: "hi" } }], usage: null }],
      [undefined, { model: "gpt-4.1", choices: [], usage: { prompt_tokens: 40, completion_tokens: 4 } }]
    ]) + "data: [DONE]\n\n"
    const c = meter("openai", chat, 9)
    assert.deepStrictEqual([c.model, c.inputTokens, c.outputTokens, c.estimated], ["gpt-4.1", 40, 4, false])
  })

  it("Gemini: the last usageMetadata (pretty-printed JSON too), thinking tokens as output, the path's model", () => {
    const stream = sse([
      [undefined, { candidates: [], usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 1 } }],
      [undefined, {
        candidates: [{ content: { parts: [{ text: longText }] } }],
        usageMetadata: {
          promptTokenCount: 100,
          cachedContentTokenCount: 30,
          candidatesTokenCount: 12,
          thoughtsTokenCount: 8
        }
      }]
    ])
    const g = meter("gemini", stream, 77, "gemini-2.5-pro")
    assert.deepStrictEqual([g.model, g.inputTokens, g.cacheReadTokens, g.outputTokens], ["gemini-2.5-pro", 70, 30, 20])
    const pretty = JSON.stringify(
      [{ candidates: [], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 }, modelVersion: "x" }],
      null,
      2
    )
    const p = meter("gemini", pretty, 2)
    assert.deepStrictEqual([p.model, p.inputTokens, p.outputTokens, p.estimated], ["x", 3, 4, false])
  })

  it("objectAt: balanced braces, strings and escapes skipped", () => {
    const text = "x {\"a\": \"}{\\\"\", \"b\": {\"c\": 1}} tail"
    assert.deepStrictEqual(Metering.objectAt(text, 2), { a: "}{\"", b: { c: 1 } })
    assert.isUndefined(Metering.objectAt("{\"open\": ", 0))
  })
})

describe("Pricing", () => {
  it("the longest prefix wins; unknown models pay the * price; provider prefixes are ignored", () => {
    const table = Settings.defaults.prices
    assert.strictEqual(Pricing.priceFor(table, "claude-opus-4-5-20251101").input, 5)
    assert.strictEqual(Pricing.priceFor(table, "claude-opus-4-1-20250805").input, 15)
    assert.strictEqual(Pricing.priceFor(table, "anthropic/claude-sonnet-4-5").output, 15)
    assert.strictEqual(Pricing.priceFor(table, "claude-sonnet-5-5").input, 2)
    assert.strictEqual(Pricing.priceFor(table, "gpt-5-codex").input, 1.25)
    assert.strictEqual(Pricing.priceFor(table, "gpt-5-mini-2025").input, 0.25)
    assert.strictEqual(Pricing.priceFor(table, "models/gemini-2.5-flash-lite").output, 0.4)
    assert.deepStrictEqual(Pricing.priceFor(table, "some-new-model"), Pricing.priceFor(table, "*"))
  })

  it("entries parse (cache prices default to the input price); repositories override one model and keep the rest", () => {
    assert.deepStrictEqual(Pricing.parseEntry("my-model=2/8"), {
      model: "my-model",
      price: { input: 2, output: 8, cacheRead: 2, cacheWrite: 2 }
    })
    assert.isUndefined(Pricing.parseEntry("Bad Model=1/2"))
    const repo = Settings.applyPatch(Settings.defaults, { prices: ["gpt-5=9/9", "mine=1/1/0/0"] })
    assert.strictEqual(Pricing.priceFor(repo.prices, "gpt-5-codex").input, 9)
    assert.strictEqual(Pricing.priceFor(repo.prices, "mine-v2").output, 1)
    assert.strictEqual(Pricing.priceFor(repo.prices, "claude-sonnet-4-5").input, 3)
    assert.approximately(
      Pricing.costOf({ inputTokens: 1e6, outputTokens: 1e6, cacheReadTokens: 1e6, cacheWriteTokens: 1e6 }, {
        input: 3,
        output: 15,
        cacheRead: 0.3,
        cacheWrite: 3.75
      }),
      22.05,
      1e-9
    )
  })
})
