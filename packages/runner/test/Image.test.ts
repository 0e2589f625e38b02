/**
 * The worker image and the test CLIs install exactly the agent CLI versions the AgentCatalog pins.
 */
import { assert, describe, it } from "@effect/vitest"
import { AgentCatalog } from "@porter/core"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { runnerRoot } from "./support/Harness.ts"

const repoRoot = join(runnerRoot, "..", "..")
const dockerfile = readFileSync(join(repoRoot, "worker-image", "Dockerfile"), "utf8")
const testClis = JSON.parse(readFileSync(join(runnerRoot, "test", "agents", "package.json"), "utf8")) as {
  readonly dependencies: Record<string, string>
}
const pinned = AgentCatalog.builtInAgents.flatMap((agent) => (agent.npmPackage ? [{ agent: agent.name, ...agent.npmPackage }] : []))

describe("worker image", () => {
  it("installs every catalog CLI at the catalog's version", () => {
    assert.isAtLeast(pinned.length, 5)
    for (const { agent, name, version } of pinned) {
      const line = new RegExp(`"${name.replace(/[/@.-]/g, "\\$&")}@\\$\\{(\\w+)\\}"`).exec(dockerfile)
      assert.isNotNull(line, `${agent}: ${name} is installed by worker-image/Dockerfile`)
      const arg = new RegExp(`^ARG ${line![1]}=(\\S+)$`, "m").exec(dockerfile)
      assert.strictEqual(arg?.[1], version, `${agent}: ${name}`)
    }
  })

  it("the agent CLIs the tests install are the catalog's versions", () => {
    for (const [name, version] of Object.entries(testClis.dependencies)) {
      assert.strictEqual(version, pinned.find((p) => p.name === name)?.version, name)
    }
  })

  it("the root package pins the Claude Code CLI the acceptance test runs", () => {
    const root = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { devDependencies: Record<string, string> }
    const claude = pinned.find((p) => p.agent === "claude")!
    assert.strictEqual(root.devDependencies[claude.name]?.replace(/^\^/, ""), claude.version)
    const installed = JSON.parse(readFileSync(join(repoRoot, "node_modules", ...claude.name.split("/"), "package.json"), "utf8")) as { version: string }
    assert.strictEqual(installed.version, claude.version)
  })

  it("runs as a non-root user with the entrypoint that hides the environment", () => {
    assert.match(dockerfile, /^FROM node:24-slim$/m)
    assert.match(dockerfile, /^USER porter$/m)
    assert.match(dockerfile, /^ENTRYPOINT \["\/opt\/porter\/entrypoint.sh"\]$/m)
    const fly = readFileSync(join(repoRoot, "fly.toml"), "utf8")
    assert.match(fly, /dockerfile = "worker-image\/Dockerfile"/)
  })
})
