import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { AgentSetup } from "@porter/runner"
import { Effect } from "effect"
import { FileSystem } from "effect/FileSystem"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

describe("AgentSetup", () => {
  it.effect("declares OPENAI_BASE_URL as Codex's provider, and keeps a config the machine already has", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem
      const home = yield* fs.makeTempDirectoryScoped()
      const env = { HOME: home, OPENAI_BASE_URL: "http://127.0.0.1:9/v1/", OPENAI_API_KEY: "k" }
      const first = yield* AgentSetup.prepare("codex", env)
      assert.deepStrictEqual(first.written, [join(home, ".codex", "config.toml")])
      const config = readFileSync(join(home, ".codex", "config.toml"), "utf8")
      assert.include(config, "model_provider = \"porter\"")
      assert.include(config, "base_url = \"http://127.0.0.1:9/v1\"")
      assert.include(config, "env_key = \"OPENAI_API_KEY\"")

      writeFileSync(join(home, ".codex", "config.toml"), "# mine\n")
      assert.deepStrictEqual((yield* AgentSetup.prepare("codex", env)).written, [])
      assert.strictEqual(readFileSync(join(home, ".codex", "config.toml"), "utf8"), "# mine\n")
      // No base URL: Codex's defaults stand.
      assert.deepStrictEqual(
        (yield* AgentSetup.prepare("codex", { HOME: yield* fs.makeTempDirectoryScoped() })).written,
        []
      )
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("points OpenCode's Anthropic and OpenAI providers at the base URLs, keys read from the environment", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem
      const home = yield* fs.makeTempDirectoryScoped()
      const env = {
        HOME: home,
        ANTHROPIC_BASE_URL: "https://porter.example/gateway/tasks/t/anthropic",
        OPENAI_BASE_URL: "https://porter.example/gateway/tasks/t/openai/v1",
        ANTHROPIC_API_KEY: "gateway-credential"
      }
      const { written } = yield* AgentSetup.prepare("opencode", env)
      const file = join(home, ".config", "opencode", "opencode.json")
      assert.deepStrictEqual(written, [file])
      const text = readFileSync(file, "utf8")
      assert.notInclude(text, "gateway-credential", "no credential in the file")
      assert.deepStrictEqual(JSON.parse(text).provider, {
        anthropic: {
          options: {
            baseURL: "https://porter.example/gateway/tasks/t/anthropic/v1",
            apiKey: "{env:ANTHROPIC_API_KEY}"
          }
        },
        openai: {
          options: { baseURL: "https://porter.example/gateway/tasks/t/openai/v1", apiKey: "{env:OPENAI_API_KEY}" }
        }
      })
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("gives a headless Gemini CLI API-key auth and no folder-trust gate; other agents get nothing", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem
      const home = yield* fs.makeTempDirectoryScoped()
      const { written } = yield* AgentSetup.prepare("gemini", { HOME: home, GEMINI_API_KEY: "k" })
      assert.strictEqual(written.length, 1)
      const settings = JSON.parse(readFileSync(join(home, ".gemini", "settings.json"), "utf8"))
      assert.deepStrictEqual(settings, {
        security: { auth: { selectedType: "gemini-api-key" }, folderTrust: { enabled: false } }
      })
      const other = yield* fs.makeTempDirectoryScoped()
      mkdirSync(join(other, ".claude"))
      assert.deepStrictEqual((yield* AgentSetup.prepare("claude", { HOME: other, ANTHROPIC_API_KEY: "k" })).written, [])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
