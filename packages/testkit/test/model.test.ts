/**
 * The scripted model server, spoken to over HTTP the way agent CLIs speak to it (the real Claude
 * Code CLI drives it in `packages/runner/test/Claude.agents.test.ts`).
 */
import { assert, describe, it } from "@effect/vitest"
import { ModelServer } from "@porter/testkit"
import { Effect } from "effect"

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    })
    return { status: response.status, type: response.headers.get("content-type") ?? "", text: await response.text() }
  })

const claudeTools = [
  {
    name: "Write",
    input_schema: { type: "object", properties: { file_path: { type: "string" }, content: { type: "string" } } }
  },
  {
    name: "Bash",
    input_schema: { type: "object", properties: { command: { type: "string" }, description: { type: "string" } } }
  }
]
const system = [{ type: "text", text: "# Environment\n - Primary working directory: /work/clone\n - Platform: linux" }]

/** Parses an SSE body into its events. */
const events = (text: string) =>
  text.trim().split("\n\n").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1]
    const data = /^data: (.*)$/m.exec(block)?.[1] ?? ""
    return { event, data: data === "[DONE]" ? data : JSON.parse(data) as Record<string, unknown> }
  })

const script = [
  ModelServer.write("notes/a.txt", "hello"),
  [ModelServer.text("Running the tests."), ModelServer.bash("npm test")],
  ModelServer.text("All done.")
]

describe("ModelServer (Anthropic Messages)", () => {
  it.live("plays the script turn by turn; Write and Bash become Claude Code's tools with absolute paths", () =>
    Effect.gen(function*() {
      const server = yield* ModelServer.start({ script })
      const url = `${server.url}/v1/messages?beta=true`
      const user = { role: "user", content: "go" }
      const first = yield* post(url, { model: "m", max_tokens: 100, system, tools: claudeTools, messages: [user] })
      assert.strictEqual(first.status, 200)
      const one = JSON.parse(first.text)
      assert.strictEqual(one.stop_reason, "tool_use")
      assert.deepInclude(one.content[0], {
        type: "tool_use",
        name: "Write",
        input: { file_path: "/work/clone/notes/a.txt", content: "hello" }
      })

      const toolResult = {
        role: "user",
        content: [{ type: "tool_result", tool_use_id: one.content[0].id, content: "ok" }]
      }
      const second = JSON.parse(
        (yield* post(url, {
          model: "m",
          system,
          tools: claudeTools,
          messages: [user, { role: "assistant", content: one.content }, toolResult]
        })).text
      )
      assert.deepStrictEqual(second.content.map((b: { type: string }) => b.type), ["text", "tool_use"])
      assert.deepInclude(second.content[1], {
        name: "Bash",
        input: { command: "npm test", description: "Run a scripted command" }
      })

      const history = [user, { role: "assistant", content: one.content }, toolResult, {
        role: "assistant",
        content: second.content
      }, toolResult]
      const third = JSON.parse((yield* post(url, { model: "m", system, tools: claudeTools, messages: history })).text)
      assert.strictEqual(third.stop_reason, "end_turn")
      assert.deepStrictEqual(third.content, [{ type: "text", text: "All done." }])
      // Past the script: the final text again.
      const again = JSON.parse(
        (yield* post(url, {
          model: "m",
          system,
          tools: claudeTools,
          messages: [...history, { role: "assistant", content: third.content }, user]
        })).text
      )
      assert.deepStrictEqual(again.content, [{ type: "text", text: "Done." }])

      assert.deepStrictEqual(server.requests().map((r) => r.turn), [0, 1, 2, 3])
      const usage = server.usage()
      assert.strictEqual(usage.responses, 4)
      assert.strictEqual(usage.outputTokens, [one, second, third, again].reduce((n, m) => n + m.usage.output_tokens, 0))
      assert.strictEqual(usage.inputTokens, [one, second, third, again].reduce((n, m) => n + m.usage.input_tokens, 0))
    }).pipe(Effect.scoped))

  it.live("streams Server-Sent Events that reassemble into the same message", () =>
    Effect.gen(function*() {
      const server = yield* ModelServer.start({ script })
      const response = yield* post(`${server.url}/v1/messages`, {
        model: "m",
        stream: true,
        system,
        tools: claudeTools,
        messages: [{ role: "user", content: "go" }]
      })
      assert.include(response.type, "text/event-stream")
      const stream = events(response.text)
      assert.deepStrictEqual(stream.map((e) => e.event), [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      const delta = stream[3]!.data as { delta: { type: string; partial_json: string } }
      assert.strictEqual(delta.delta.type, "input_json_delta")
      assert.deepStrictEqual(JSON.parse(delta.delta.partial_json), {
        file_path: "/work/clone/notes/a.txt",
        content: "hello"
      })
      const end = stream[5]!.data as { delta: { stop_reason: string }; usage: { output_tokens: number } }
      assert.strictEqual(end.delta.stop_reason, "tool_use")
      assert.strictEqual(end.usage.output_tokens, server.usage().outputTokens)
    }).pipe(Effect.scoped))

  it.live("answers requests without tools (titles, probes) with text, without advancing the script", () =>
    Effect.gen(function*() {
      const server = yield* ModelServer.start({ script })
      const side = JSON.parse(
        (yield* post(`${server.url}/v1/messages`, { model: "haiku", messages: [{ role: "user", content: "title?" }] }))
          .text
      )
      assert.deepStrictEqual(side.content, [{ type: "text", text: "OK" }])
      const main = JSON.parse(
        (yield* post(`${server.url}/v1/messages`, {
          model: "m",
          tools: claudeTools,
          messages: [{ role: "user", content: "go" }]
        })).text
      )
      assert.strictEqual(main.content[0].name, "Write")
      assert.deepStrictEqual(server.requests().map((r) => r.turn), [undefined, 0])
    }).pipe(Effect.scoped))

  it.live("can answer the first calls with 529 overloaded, and 404 for unknown paths", () =>
    Effect.gen(function*() {
      const server = yield* ModelServer.start({ script, overloadedFirst: 2 })
      const body = { model: "m", tools: claudeTools, messages: [{ role: "user", content: "go" }] }
      assert.strictEqual((yield* post(`${server.url}/v1/messages`, body)).status, 529)
      assert.strictEqual((yield* post(`${server.url}/v1/messages`, body)).status, 529)
      assert.strictEqual((yield* post(`${server.url}/v1/messages`, body)).status, 200)
      assert.strictEqual((yield* post(`${server.url}/elsewhere/v1/messages`, body)).status, 404)
      assert.strictEqual((yield* post(`${server.url}/v1/messages`, { nonsense: true })).status, 400)
    }).pipe(Effect.scoped))
})

describe("ModelServer (OpenAI and Gemini)", () => {
  const chatTools = [
    {
      type: "function",
      function: {
        name: "write",
        parameters: { type: "object", properties: { filePath: { type: "string" }, content: { type: "string" } } }
      }
    },
    {
      type: "function",
      function: {
        name: "bash",
        parameters: { type: "object", properties: { command: { type: "string" }, description: { type: "string" } } }
      }
    }
  ]

  it.live("chat completions: tool_calls mapped onto the declared tools, streamed or not", () =>
    Effect.gen(function*() {
      const server = yield* ModelServer.start({ script, cwd: "/repo" })
      const url = `${server.url}/v1/chat/completions`
      const first = JSON.parse(
        (yield* post(url, { model: "gpt", tools: chatTools, messages: [{ role: "user", content: "go" }] })).text
      )
      assert.strictEqual(first.choices[0].finish_reason, "tool_calls")
      const call = first.choices[0].message.tool_calls[0]
      assert.strictEqual(call.function.name, "write")
      assert.deepStrictEqual(JSON.parse(call.function.arguments), { filePath: "/repo/notes/a.txt", content: "hello" })
      assert.deepStrictEqual(first.usage.total_tokens, first.usage.prompt_tokens + first.usage.completion_tokens)

      const messages = [{ role: "user", content: "go" }, first.choices[0].message, {
        role: "tool",
        tool_call_id: call.id,
        content: "ok"
      }]
      const streamed = events(
        (yield* post(url, {
          model: "gpt",
          stream: true,
          stream_options: { include_usage: true },
          tools: chatTools,
          messages
        })).text
      )
      assert.strictEqual(streamed.at(-1)!.data, "[DONE]")
      const deltas = streamed.slice(0, -1).map((e) =>
        (e.data as {
          choices: Array<
            { delta?: { content?: string; tool_calls?: Array<{ function: { name: string } }> }; finish_reason?: string }
          >
        }).choices[0]
      )
      assert.strictEqual(deltas.map((d) => d?.delta?.content ?? "").join(""), "Running the tests.")
      assert.strictEqual(deltas.find((d) => d?.delta?.tool_calls)!.delta!.tool_calls![0]!.function.name, "bash")
      assert.isTrue(deltas.some((d) => d?.finish_reason === "tool_calls"))
    }).pipe(Effect.scoped))

  it.live("responses API: function_call items, turn counted from the input items", () =>
    Effect.gen(function*() {
      const server = yield* ModelServer.start({ script, cwd: "/repo" })
      const tools = [{
        type: "function",
        name: "shell",
        parameters: { type: "object", properties: { command: { type: "array", items: { type: "string" } } } }
      }]
      const first = JSON.parse((yield* post(`${server.url}/v1/responses`, { model: "gpt-5", input: "go", tools })).text)
      // No file tool declared: the write goes through the shell (argv form).
      assert.strictEqual(first.output[0].type, "function_call")
      const argv = JSON.parse(first.output[0].arguments).command as Array<string>
      assert.deepStrictEqual(argv.slice(0, 2), ["bash", "-lc"])
      assert.include(argv[2], "cat > '/repo/notes/a.txt'")
      const input = [
        { type: "message", role: "user", content: [{ type: "input_text", text: "go" }] },
        first.output[0],
        { type: "function_call_output", call_id: first.output[0].call_id, output: "ok" }
      ]
      const second = events(
        (yield* post(`${server.url}/v1/responses`, { model: "gpt-5", input, tools, stream: true })).text
      )
      assert.strictEqual(second[0]!.event, "response.created")
      const completed = second.at(-1)!
      assert.strictEqual(completed.event, "response.completed")
      const output = (completed.data as { response: { output: Array<{ type: string }> } }).response.output
      assert.deepStrictEqual(output.map((o) => o.type), ["function_call", "message"])
    }).pipe(Effect.scoped))

  it.live("gemini generateContent: functionCall parts", () =>
    Effect.gen(function*() {
      const server = yield* ModelServer.start({ script, cwd: "/repo" })
      const tools = [{
        functionDeclarations: [{
          name: "write_file",
          parametersJsonSchema: { type: "object", properties: { file_path: {}, content: {} } }
        }]
      }]
      const first = JSON.parse(
        (yield* post(`${server.url}/v1beta/models/gemini-2.5-pro:generateContent`, {
          contents: [{ role: "user", parts: [{ text: "go" }] }],
          tools
        })).text
      )
      assert.deepStrictEqual(first.candidates[0].content.parts, [{
        functionCall: { name: "write_file", args: { file_path: "/repo/notes/a.txt", content: "hello" } }
      }])
      assert.strictEqual(first.usageMetadata.totalTokenCount, server.usage().inputTokens + server.usage().outputTokens)
      const streamed = yield* post(`${server.url}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse`, {
        contents: [{ role: "user", parts: [{ text: "go" }] }, first.candidates[0].content, {
          role: "user",
          parts: [{ functionResponse: { name: "write_file", response: {} } }]
        }],
        tools
      })
      assert.include(streamed.type, "text/event-stream")
      assert.strictEqual(server.requests().at(-1)!.turn, 1)
    }).pipe(Effect.scoped))

  it("startPromise serves until closed", async () => {
    const server = await ModelServer.startPromise({ script: [] })
    const response = await fetch(`${server.url}/v1/models`)
    assert.strictEqual(response.status, 200)
    await server.close()
    await fetch(`${server.url}/v1/models`).then(() => assert.fail("still serving"), () => undefined)
  })
})
