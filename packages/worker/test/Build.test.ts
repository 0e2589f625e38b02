// The bundle `wrangler deploy` uploads, and the deployment files: wrangler.jsonc and the GitHub App manifest.
import { assert, describe, it } from "@effect/vitest"
import * as Build from "@porter/worker/build"
import * as WorkerConfig from "@porter/worker/config"
import { COMPATIBILITY_DATE, D1_DATABASE_ID } from "@porter/worker/local"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const BUDGET_GZIP_BYTES = 225 * 1024
// The App Worker (web app, MCP server) has no target of its own: this only catches a runaway (Cloudflare's own limit
// is 3 MiB gzipped on the Free plan).
const APP_BUDGET_GZIP_BYTES = 400 * 1024

/** JSON with comments (what wrangler reads): comments outside strings are dropped. */
const parseJsonc = (text: string): unknown => {
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (char === "\"") {
      let j = i + 1
      while (j < text.length && text[j] !== "\"") j += text[j] === "\\" ? 2 : 1
      out += text.slice(i, j + 1)
      i = j
    } else if (char === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++
      out += "\n"
    } else if (char === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2) + 1
    } else {
      out += char
    }
  }
  return JSON.parse(out)
}

interface WranglerConfig {
  readonly compatibility_date: string
  readonly main: string
  readonly no_bundle: boolean
  readonly build: { readonly command: string }
  readonly triggers?: { readonly crons: ReadonlyArray<string> }
  readonly services?: ReadonlyArray<{ readonly binding: string; readonly service: string }>
  readonly name: string
  readonly d1_databases: ReadonlyArray<{ binding: string; database_id: string; migrations_dir: string }>
  readonly vars: Readonly<Record<string, string>>
  readonly secrets: { readonly required: ReadonlyArray<string> }
}

const readWrangler = (file: string) => parseJsonc(readFileSync(path.join(packageDir, file), "utf8")) as WranglerConfig
const wrangler = readWrangler("wrangler.jsonc")
const wranglerApp = readWrangler("wrangler.app.jsonc")

/** Only `cloudflare:workers` is left to import: no Node built-ins, nothing left to resolve. */
const importsOf = (code: string) => [
  ...new Set(
    [...code.matchAll(/\bimport\s*\{[^}]*\}\s*from\s*"([^"]+)"|\bimport\("([^"]+)"\)/g)].map((m) => m[1] ?? m[2])
  )
]

describe("the bundle", () => {
  it.effect("rewrites named imports of Effect's barrels into namespace imports of the modules", () =>
    Effect.sync(() => {
      const barrel = (specifier: string) =>
        specifier === "effect"
          ? new Map([["Effect", "effect/Effect"], ["Layer", "effect/Layer"], ["Context", "effect/Context"]])
          : specifier === "effect/http"
          ? new Map([["HttpRouter", "effect/http/HttpRouter"]])
          : undefined
      const source = [
        "import { Effect, Layer as L, type Context, pipe } from \"effect\"",
        "import type { Layer } from \"effect\"",
        "import {",
        "  HttpRouter",
        "} from \"effect/http\"",
        "import { Other } from \"effect/nowhere\"",
        "const x = 1"
      ].join("\n")
      const out = Build.rewriteBarrelImports(source, barrel).split("\n")
      assert.strictEqual(
        out[0],
        "import { type Context, pipe } from \"effect\"; import * as Effect from \"effect/Effect\"; " +
          "import * as L from \"effect/Layer\""
      )
      assert.strictEqual(out[1], "import type { Layer } from \"effect\"")
      assert.strictEqual(out[2], "import * as HttpRouter from \"effect/http/HttpRouter\"")
      // Line numbers after a multi-line import are kept.
      assert.strictEqual(out[5], "import { Other } from \"effect/nowhere\"")
      assert.strictEqual(out[6], "const x = 1")
      // Porter's own barrels likewise, to the module's file.
      const porter = Build.rewriteBarrelImports(
        "import { HttpApp, type Task } from \"@porter/core\"",
        (specifier) => specifier === "@porter/core" ? new Map([["HttpApp", "/src/HttpApp.ts"]]) : undefined
      )
      assert.strictEqual(
        porter,
        "import { type Task } from \"@porter/core\"; import * as HttpApp from \"/src/HttpApp.ts\""
      )
    }))

  it.effect(
    "is one ES module for workerd, within the size budget, with the Effect fix evaluated first",
    () =>
      Effect.gen(function*() {
        const built = yield* Effect.promise(() => Build.bundle())
        assert.isBelow(built.gzipBytes, BUDGET_GZIP_BYTES, `${(built.gzipBytes / 1024).toFixed(1)} KiB gzipped`)
        assert.deepStrictEqual(importsOf(built.code), ["cloudflare:workers"], "no Node built-ins, nothing to resolve")
        const order = Object.keys(Object.values(built.metafile.outputs)[0]!.inputs)
        const prelude = order.findIndex((file) => file.endsWith("src/WorkerAsyncHooks.ts"))
        const runtime = order.findIndex((file) => file.endsWith("effect/dist/internal/effect.js"))
        assert.isAtLeast(prelude, 0)
        assert.isBelow(prelude, runtime, "AsyncResource must be hidden before Effect's runtime module is evaluated")
        const packages = Build.contributors(built.metafile).map((c) => c.name)
        assert.includeMembers(packages, ["effect", "@porter/core", "@porter/github", "@porter/d1", "@porter/fly"])
        assert.notInclude(packages, "@porter/web", "the web app is the App Worker's")
        assert.notInclude(packages, "@porter/mcp", "the MCP server is the App Worker's")
        const files = Object.keys(Object.values(built.metafile.outputs)[0]!.inputs)
        assert.isFalse(
          files.some((file) => file.endsWith("internal/schema/toJsonSchemaDocument.js")),
          "no OpenAPI generator"
        )
        assert.isFalse(files.some((file) => file.endsWith("http/internal/mimeTypes.js")), "no table of file types")
      }),
    60_000
  )

  it.effect(
    "the App Worker is one ES module too, with the web app and the MCP server",
    () =>
      Effect.gen(function*() {
        const built = yield* Effect.promise(() => Build.bundleApp())
        const size = `${(built.gzipBytes / 1024).toFixed(1)} KiB gzipped`
        assert.isBelow(built.gzipBytes, APP_BUDGET_GZIP_BYTES, size)
        assert.deepStrictEqual(importsOf(built.code), ["cloudflare:workers"], "no Node built-ins, nothing to resolve")
        const packages = Build.contributors(built.metafile).map((c) => c.name)
        assert.includeMembers(packages, ["effect", "@porter/core", "@porter/web", "@porter/mcp", "@porter/d1"])
      }),
    60_000
  )
})

describe("wrangler.jsonc", () => {
  it("deploys the bundle this package builds, with the D1 binding, the cron and the secrets", () => {
    assert.strictEqual(wrangler.compatibility_date, COMPATIBILITY_DATE)
    assert.strictEqual(wrangler.main, "build/worker.js")
    assert.isTrue(wrangler.no_bundle)
    assert.include(wrangler.build.command, "scripts/build.ts")
    assert.deepStrictEqual(wrangler.triggers?.crons, ["* * * * *"])
    assert.deepStrictEqual(wrangler.services, [{ binding: "APP", service: wranglerApp.name }])
    const [db] = wrangler.d1_databases
    assert.strictEqual(db?.binding, "DB")
    assert.strictEqual(db?.database_id, D1_DATABASE_ID)
    assert.isTrue(existsSync(path.join(packageDir, db!.migrations_dir, "0001_init.sql")))
    for (const requirement of WorkerConfig.required.filter((r) => r.kind === "var")) {
      assert.property(wrangler.vars, requirement.name)
    }
    const secrets = [
      ...WorkerConfig.required.filter((r) => r.kind === "secret").map((r) => r.name),
      ...WorkerConfig.recommended.map((r) => r.name),
      "GITHUB_APP_ID",
      "GITHUB_APP_PRIVATE_KEY"
    ]
    assert.sameMembers([...wrangler.secrets.required], secrets)
  })

  it("wrangler.app.jsonc deploys the App Worker on the same D1, with the same secrets and no Cron Trigger", () => {
    assert.strictEqual(wranglerApp.name, "porter-app")
    assert.strictEqual(wranglerApp.compatibility_date, COMPATIBILITY_DATE)
    assert.strictEqual(wranglerApp.main, "build/app.js")
    assert.isTrue(wranglerApp.no_bundle)
    assert.include(wranglerApp.build.command, "scripts/build.ts --app")
    assert.isUndefined(wranglerApp.triggers)
    assert.deepStrictEqual(wranglerApp.d1_databases, wrangler.d1_databases)
    for (const requirement of WorkerConfig.required.filter((r) => r.kind === "var")) {
      assert.property(wranglerApp.vars, requirement.name)
    }
    assert.sameMembers([...wranglerApp.secrets.required], [...wrangler.secrets.required])
  })

  it.effect(
    "both are accepted by wrangler (`wrangler deploy --dry-run` builds and would upload each bundle)",
    () =>
      Effect.gen(function*() {
        const outdir = mkdtempSync(path.join(tmpdir(), "porter-wrangler-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(outdir, { recursive: true, force: true })))
        const api = yield* dryRun(["--outdir", path.join(outdir, "api")])
        assert.strictEqual(api.code, 0, api.output)
        assert.include(api.output, "Total Upload")
        assert.match(api.output, /env\.DB \(porter\)\s+D1 Database/)
        assert.match(api.output, /env\.APP \(porter-app\)\s+Worker/)
        assert.isTrue(existsSync(path.join(outdir, "api", "worker.js")))
        const app = yield* dryRun(["-c", "wrangler.app.jsonc", "--outdir", path.join(outdir, "app")])
        assert.strictEqual(app.code, 0, app.output)
        assert.match(app.output, /env\.DB \(porter\)\s+D1 Database/)
        assert.isTrue(existsSync(path.join(outdir, "app", "app.js")))
      }).pipe(Effect.scoped),
    180_000
  )
})

/** `wrangler deploy --dry-run` with `args`, in this package. */
const dryRun = (args: ReadonlyArray<string>) =>
  Effect.promise(() =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      // The package's main module is `wrangler-dist/cli.js`; its bin sits next to that folder.
      const wranglerBin = path.join(
        path.dirname(createRequire(import.meta.url).resolve("wrangler")),
        "../bin/wrangler.js"
      )
      execFile(
        process.execPath,
        [wranglerBin, "deploy", "--dry-run", ...args],
        {
          cwd: packageDir,
          // wrangler runs `build.command` with the `node` on PATH: make it this Node (it runs TypeScript).
          env: {
            ...process.env,
            PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env["PATH"] ?? ""}`,
            WRANGLER_SEND_METRICS: "false",
            CI: "1",
            NO_COLOR: "1"
          },
          timeout: 90_000
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: `${stdout}${stderr}` })
      )
    })
  )

describe("the GitHub App manifest", () => {
  it("asks for what Porter uses and nothing more", () => {
    const manifest = JSON.parse(readFileSync(path.join(packageDir, "github-app-manifest.json"), "utf8")) as {
      default_permissions: Record<string, string>
      default_events: Array<string>
      hook_attributes: { url: string; active: boolean }
      public: boolean
    }
    assert.deepStrictEqual(manifest.default_permissions, {
      contents: "write",
      issues: "write",
      pull_requests: "write",
      metadata: "read",
      checks: "read",
      actions: "read"
    })
    assert.sameMembers(manifest.default_events, [
      "issue_comment",
      "issues",
      "pull_request_review_comment",
      "check_suite",
      "workflow_run"
    ])
    assert.isTrue(manifest.hook_attributes.url.endsWith("/webhooks/github"))
    assert.isTrue(manifest.hook_attributes.active)
    assert.isFalse(manifest.public)
  })
})
