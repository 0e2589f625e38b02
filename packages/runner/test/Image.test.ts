/**
 * The worker image and the root devDependencies (the CLIs the agents tests run) install exactly the agent CLI
 * versions the AgentCatalog pins.
 */
import { assert, describe, it } from "@effect/vitest"
import { AgentCatalog } from "@porter/core"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { runnerRoot } from "./support/Harness.ts"

const repoRoot = join(runnerRoot, "..", "..")
const dockerfile = readFileSync(join(repoRoot, "worker-image", "Dockerfile"), "utf8")
const rootPackage = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  readonly devDependencies: Record<string, string>
}
const pinned = AgentCatalog.builtInAgents.flatMap((
  agent
) => (agent.npmPackage ? [{ agent: agent.name, ...agent.npmPackage }] : []))

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

  it("the root package pins every catalog CLI but Amp (no local stand-in for its service) exactly, and npm ci installed it", () => {
    for (const { agent, name, version } of pinned.filter((p) => p.agent !== "amp")) {
      assert.strictEqual(rootPackage.devDependencies[name], version, `${agent}: ${name} in the root devDependencies`)
      const installed = JSON.parse(
        readFileSync(join(repoRoot, "node_modules", ...name.split("/"), "package.json"), "utf8")
      ) as { version: string }
      assert.strictEqual(installed.version, version, `${agent}: ${name} in node_modules`)
    }
  })

  it("runs as a non-root user with the entrypoint that hides the environment", () => {
    assert.match(dockerfile, /^FROM node:24-slim$/m)
    assert.match(dockerfile, /^USER porter$/m)
    assert.match(dockerfile, /^ENTRYPOINT \["\/opt\/porter\/entrypoint.sh"\]$/m)
    const fly = readFileSync(join(repoRoot, "fly.toml"), "utf8")
    assert.match(fly, /dockerfile = "worker-image\/Dockerfile"/)
  })
})
