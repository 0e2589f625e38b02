// `npm test` after lint and `tsc -b`: vitest with every unit project and every tier this machine can run
// (scripts/tiers.mjs), then one line per tier (ran, or skipped and why) and what the tiers left out unless asked.
// Arguments go to vitest (`npm run test:all -- --reporter dot`).
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { tiers, whyNot } from "./tiers.mjs"

const vitest = fileURLToPath(new URL("../node_modules/.bin/vitest", import.meta.url))

const skipped = new Map()
for (const tier of tiers) {
  const why = await whyNot(tier.name)
  if (why !== undefined) skipped.set(tier.name, why)
}
const running = tiers.filter((t) => !skipped.has(t.name))

const projects = ["packages/*", "examples/*", ...running.map((t) => t.name)].flatMap((p) => ["--project", p])
const run = spawnSync(vitest, ["run", ...projects, ...process.argv.slice(2)], { stdio: "inherit" })
if (run.error) console.error(`test: could not start vitest: ${run.error.message}`)

const lines = ["", "Test tiers:"]
for (const tier of tiers) {
  const why = skipped.get(tier.name)
  lines.push(why === undefined ? `  ${tier.name}: ran — ${tier.runs}` : `  ${tier.name}: skipped — ${why}`)
}
for (const tier of running) {
  for (const left of tier.optIn?.() ?? []) lines.push(`  ${tier.name}: not run — ${left}`)
}
console.log(lines.join("\n"))
process.exitCode = run.status ?? 1
