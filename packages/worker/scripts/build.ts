// Bundles a Worker for `wrangler deploy` (wrangler.jsonc / wrangler.app.jsonc: `build.command` runs this, `main` is
// its output, `no_bundle` keeps wrangler from bundling again). Prints the size and the largest contributors.
//
//   node --conditions=@porter/source scripts/build.ts [--app] [outfile]
//
// Default: the API Worker into build/worker.js; `--app`: the App Worker (web app, MCP) into build/app.js.
import * as Build from "@porter/worker/build"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const args = process.argv.slice(2)
const app = args.includes("--app")
const given = args.find((arg) => !arg.startsWith("--"))
const outfile = path.resolve(
  given ?? fileURLToPath(new URL(app ? "../build/app.js" : "../build/worker.js", import.meta.url))
)
const built = await Build.buildTo(outfile, app ? { entryPoint: Build.appEntryPoint } : {})
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`
console.log(`${path.relative(process.cwd(), outfile)}: ${kib(built.bytes)}, ${kib(built.gzipBytes)} gzipped`)
for (const { bytes, name } of Build.contributors(built.metafile).slice(0, 8)) {
  console.log(`  ${kib(bytes).padStart(10)}  ${name}`)
}
