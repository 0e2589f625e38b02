import { existsSync, readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { defaultServerConditions } from "vite"
import { configDefaults, defineConfig } from "vitest/config"
import { tiers, tierSuffixes } from "./scripts/tiers.mjs"

// Workspace packages resolve to their TypeScript sources (`@porter/source` export condition),
// so tests never need a build first.
const conditions = ["@porter/source", ...defaultServerConditions]

// Projects: one unit project per package (`packages/<name>`, `examples/<name>`: its test/**/*.test.ts that need
// nothing but Node), and one per tier (scripts/tiers.mjs): `workerd`, `docker`, `agents` (files named
// `*.<tier>.test.ts` in any package) and `reliability` (the packages/reliability suite). `npm test` runs the tiers
// this machine can run and says which it skipped and why.
const tierFiles = tierSuffixes.map((tier: string) => `test/**/*.${tier}.test.ts`)
const tierSetup = fileURLToPath(new URL("./scripts/tier-setup.mjs", import.meta.url))

const unitProjectsIn = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(`${dir}/${entry.name}/test`))
      .filter((entry) => !tiers.some((tier: { package?: string }) => tier.package === `${dir}/${entry.name}`))
      .map((entry) => ({
        extends: true as const,
        test: {
          name: `${dir}/${entry.name}`,
          root: `${dir}/${entry.name}`,
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...tierFiles]
        }
      }))
    : []

const tierProjects = tiers.map((tier: { name: string; include: ReadonlyArray<string> }) => ({
  extends: true as const,
  test: {
    name: tier.name,
    include: [...tier.include],
    globalSetup: [tierSetup]
  }
}))

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    projects: [...unitProjectsIn("packages"), ...unitProjectsIn("examples"), ...tierProjects],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Two cores on CI machines: keep heavy suites from starving each other.
    maxWorkers: 2
  }
})
