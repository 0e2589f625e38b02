import { assert, describe, it } from "@effect/vitest"
import { SecretScan } from "@porter/core"
import { REDACTED, Scrubber } from "@porter/runner"
import { Redacted } from "effect"

const token = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"

describe("Scrubber", () => {
  it("removes a secret and its common encodings wherever they appear", () => {
    const { scrub } = Scrubber.make([Redacted.make(token)])
    const basic = Buffer.from(`x-access-token:${token}`).toString("base64")
    const text = [
      `token=${token}`,
      `Authorization: Basic ${basic}`,
      `b64=${Buffer.from(token).toString("base64")}`,
      `url=${encodeURIComponent(`${token}/`).slice(0, -3)}`,
      `https://x-access-token:${token}@github.com/o/r.git`
    ].join("\n")
    const out = scrub(text)
    assert.notInclude(out, token)
    assert.notInclude(out, basic)
    assert.notInclude(out, Buffer.from(token).toString("base64"))
    assert.strictEqual(out.split(REDACTED).length - 1, 5)
  })

  it("leaves text without secrets alone and ignores values too short to scrub safely", () => {
    const { scrub } = Scrubber.make(["1", "abc", token])
    assert.strictEqual(scrub("1 abc 123 hello"), "1 abc 123 hello")
  })

  it("scrubs every string of a JSON value", () => {
    const { scrub } = Scrubber.make([token])
    const out = Scrubber.scrubDeep(scrub, { a: token, b: [1, `x${token}y`], c: { d: token } })
    assert.deepStrictEqual(out, { a: REDACTED, b: [1, `x${REDACTED}y`], c: { d: REDACTED } })
  })

  it("looks for the encodings Porter's own secret scan looks for (one rule, core's)", () => {
    assert.strictEqual(Scrubber.variantsOf, SecretScan.variantsOf)
    assert.include(Scrubber.variantsOf(token), Buffer.from(`x-access-token:${token}`).toString("base64"))
  })
})
