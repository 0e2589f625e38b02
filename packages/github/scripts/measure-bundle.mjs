// Measures what the Octokit client adds to a Worker bundle: esbuild (bundle, minify, ESM,
// platform neutral, the conditions wrangler resolves with) of a file importing `GitHub.layerConfig`,
// built three ways — with @octokit/core (what the package uses), with @octokit/rest in its place,
// and with Octokit stubbed out (the baseline) — then gzipped.
//
//   node --conditions=@porter/source packages/github/scripts/measure-bundle.mjs
import * as esbuild from "esbuild"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"

const here = dirname(fileURLToPath(import.meta.url))
const entry = `
import { GitHub } from "@porter/github"
export const layer = GitHub.layerConfig
`

const swap = (contents) => ({
  name: "swap-octokit",
  setup(build) {
    build.onResolve(
      { filter: /^@octokit\/core$/ },
      (args) => args.importer.endsWith("octokit-shim.js") ? undefined : { path: "octokit-shim.js", namespace: "shim" }
    )
    build.onLoad({ filter: /.*/, namespace: "shim" }, () => ({ contents, resolveDir: here, loader: "js" }))
  }
})

const variants = {
  "@octokit/core": [],
  "@octokit/rest": [swap(`export { Octokit } from "@octokit/rest"`)],
  "no Octokit (baseline)": [swap(`export class Octokit { constructor() {} request() { throw new Error("stub") } }`)]
}

const sizes = {}
for (const [name, plugins] of Object.entries(variants)) {
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: here, loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["@porter/source", "workerd", "worker", "browser"],
    write: false,
    logLevel: "error",
    plugins
  })
  const bytes = result.outputFiles[0].contents
  sizes[name] = { minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length }
}

const base = sizes["no Octokit (baseline)"]
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`
console.log("| bundle | minified | gzipped | added by Octokit (gzipped) |")
console.log("|---|---|---|---|")
for (const [name, size] of Object.entries(sizes)) {
  const added = name.startsWith("no Octokit") ? "—" : kb(size.gzipped - base.gzipped)
  console.log(`| ${name} | ${kb(size.minified)} | ${kb(size.gzipped)} | ${added} |`)
}
console.log(`\nesbuild ${esbuild.version}`)
