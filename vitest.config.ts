import { readdirSync, existsSync } from "node:fs"
import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// Workspace packages resolve to their TypeScript sources (`@porter/source` export condition),
// so tests never need a build first.
const conditions = ["@porter/source", ...defaultServerConditions]

const projectsIn = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(`${dir}/${entry.name}/test`))
      .map((entry) => ({
        extends: true as const,
        test: {
          name: `${dir}/${entry.name}`,
          root: `${dir}/${entry.name}`,
          include: ["test/**/*.test.ts"]
        }
      }))
    : []

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    projects: [...projectsIn("packages"), ...projectsIn("examples")],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Two cores on CI machines: keep heavy suites from starving each other.
    maxWorkers: 2
  }
})
