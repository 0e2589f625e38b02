// The doctor's model-gateway check: each provider's upstream an http(s) URL (https unless loopback), and the line that
// says machines hold no provider key — Amp's excepted.
import { assert, describe, it } from "@effect/vitest"
import * as Doctor from "@porter/worker/doctor"
import { Effect } from "effect"
import { FetchHttpClient } from "effect/http"

const gatewayCheck = (env: Record<string, string>) =>
  Doctor.run(env, { offline: true }).pipe(
    Effect.map((report) => report.checks.find((check) => check.name === "model gateway")!),
    Effect.provide(FetchHttpClient.layer)
  )

describe("porter doctor: the model gateway", () => {
  it.effect("the providers' own APIs by default; says Amp keeps its key on the machine", () =>
    Effect.gen(function*() {
      const check = yield* gatewayCheck({})
      assert.strictEqual(check.status, "pass")
      assert.include(check.message, "Anthropic → https://api.anthropic.com")
      assert.include(check.message, "OpenAI → https://api.openai.com/v1")
      assert.include(check.message, "machines get no provider key")
      assert.include(check.message, "AMP_API_KEY goes to its machine")
    }))

  it.effect("a configured upstream: loopback http is fine, another host over http is warned of, a non-URL fails", () =>
    Effect.gen(function*() {
      const local = yield* gatewayCheck({ PORTER_GATEWAY_ANTHROPIC_URL: "http://127.0.0.1:8787" })
      assert.strictEqual(local.status, "pass")
      assert.include(local.message, "Anthropic → http://127.0.0.1:8787")
      const plain = yield* gatewayCheck({ PORTER_GATEWAY_OPENAI_URL: "http://llm-proxy.internal/v1" })
      assert.strictEqual(plain.status, "warn")
      assert.include(plain.message, "PORTER_GATEWAY_OPENAI_URL is plain http")
      const broken = yield* gatewayCheck({ PORTER_GATEWAY_GEMINI_URL: "generativelanguage" })
      assert.strictEqual(broken.status, "fail")
      assert.include(broken.message, "PORTER_GATEWAY_GEMINI_URL is not an absolute URL")
    }))
})
