// The API reference builds: TypeDoc over every public package's entry points with every warning an error (a broken
// {@link}, an entry point that does not resolve, a used type that is not exported), one index page per entry point.
// Part of the packaging tier (scripts/tiers.mjs). `npm run docs:api` regenerates docs/api.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const root = fileURLToPath(new URL("../../", import.meta.url))

const publicPackages = readdirSync(join(root, "packages"))
  .filter((dir) => existsSync(join(root, "packages", dir, "package.json")))
  .map((dir) =>
    JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) as {
      name: string
      private?: boolean
    }
  )
  .filter((manifest) => manifest.private !== true)
  .map((manifest) => manifest.name)

describe("the API reference", () => {
  it("builds without a warning, a page for every public package", () => {
    const out = mkdtempSync(join(tmpdir(), "porter-api-"))
    try {
      const built = spawnSync(process.execPath, [join(root, "scripts", "docs", "api.mjs"), "--out", out], {
        cwd: root,
        encoding: "utf8",
        timeout: 600_000
      })
      assert.strictEqual(built.status, 0, `${built.stdout}\n${built.stderr}`)
      assert.notMatch(`${built.stdout}\n${built.stderr}`, /\[warning\]|\[error\]/)
      const index = readFileSync(join(out, "README.md"), "utf8")
      for (const name of publicPackages) assert.include(index, `| ${name} |`)
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  }, 600_000)

  it("the committed reference lists every public package (npm run docs:api regenerates it)", () => {
    const index = readFileSync(join(root, "docs", "api", "README.md"), "utf8")
    for (const name of publicPackages) assert.include(index, `| ${name} |`)
  })
})
