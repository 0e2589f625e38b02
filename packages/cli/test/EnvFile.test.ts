// Values are effect's dotenv parsing (`ConfigProvider.fromDotEnvContents`), the algorithm wrangler runs on
// `.dev.vars`; the statement check before it (file:line errors) is Porter's own: dotenv skips such lines silently.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { EnvFile } from "@porter/cli"
import { Effect } from "effect"

describe("EnvFile.parse", () => {
  it.effect("reads wrangler's .dev.vars format", () =>
    Effect.gen(function*() {
      const env = yield* EnvFile.parse([
        "# Porter's local settings",
        "",
        "PORTER_PUBLIC_URL=http://127.0.0.1:8787",
        "export GITHUB_APP_ID = 12345   # the App's id",
        "EMPTY=",
        "SINGLE='literal \\n $HOME # not a comment'",
        "DOUBLE=\"tab\\there\\nnew line \\\"quoted\\\"\"",
        "GITHUB_APP_PRIVATE_KEY=\"-----BEGIN RSA PRIVATE KEY-----",
        "MIIEow==",
        "-----END RSA PRIVATE KEY-----\"",
        "AFTER_KEY=still read",
        "URL_WITH_HASH=http://x/#frag"
      ].join("\n"))
      assert.deepStrictEqual(env, {
        PORTER_PUBLIC_URL: "http://127.0.0.1:8787",
        GITHUB_APP_ID: "12345",
        EMPTY: "",
        SINGLE: "literal \\n $HOME # not a comment",
        // As wrangler (dotenv) reads it: only `\n` and `\r` are expanded in double quotes; the hand parser this
        // replaced also expanded `\t`, `\"` and `\\`, which the Worker never saw.
        DOUBLE: "tab\\there\nnew line \\\"quoted\\\"",
        GITHUB_APP_PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----",
        AFTER_KEY: "still read",
        // As wrangler reads it: an unquoted value ends at `#` (the hand parser ended it at ` #` only); quote it.
        URL_WITH_HASH: "http://x/"
      })
    }))

  it.effect("quotes of every kind may span lines; an escaped quote does not close the value", () =>
    Effect.gen(function*() {
      const env = yield* EnvFile.parse([
        "QUOTED_HASH=\"http://x/#frag\" # a comment",
        "BACKTICK=`a 'b' \"c\"`",
        "MULTI='line one",
        "line two'",
        "ESCAPED=\"say \\\"hi\\\" then",
        "go\"",
        "CR=\"a\\rb\""
      ].join("\n"))
      assert.deepStrictEqual(env, {
        QUOTED_HASH: "http://x/#frag",
        BACKTICK: "a 'b' \"c\"",
        MULTI: "line one\nline two",
        ESCAPED: "say \\\"hi\\\" then\ngo",
        CR: "a\rb"
      })
    }))

  it.effect("names the file and line of a malformed entry", () =>
    Effect.gen(function*() {
      const missingEquals = yield* Effect.flip(EnvFile.parse("A=1\n\nnot a variable\n", ".dev.vars"))
      assert.strictEqual(missingEquals.message, ".dev.vars:3: expected NAME=value")
      const badName = yield* Effect.flip(EnvFile.parse("1A=x", ".env"))
      assert.strictEqual(badName.message, ".env:1: \"1A\" is not a variable name")
      const unclosed = yield* Effect.flip(EnvFile.parse("A=1\nKEY=\"-----BEGIN\nno end", ".dev.vars"))
      assert.strictEqual(unclosed.message, ".dev.vars:2: the double quote of KEY is never closed")
      const trailing = yield* Effect.flip(EnvFile.parse("K='v' extra", "f"))
      assert.strictEqual(trailing.message, "f:1: unexpected text after the quoted value of K")
    }))

  it.effect("a missing file is named", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(EnvFile.read("/nonexistent/.dev.vars"))
      assert.strictEqual(error.message, "/nonexistent/.dev.vars does not exist")
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
