// Bundles the Worker for `wrangler deploy` (wrangler.jsonc: `build.command` runs this, `main` is its output,
// `no_bundle` keeps wrangler from bundling again). Prints the size and the largest contributors.
//
//   node --conditions=@porter/source scripts/build.ts [outfile]     (default: build/worker.js)
import * as Build from "@porter/worker/build"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const outfile = path.resolve(process.argv[2] ?? fileURLToPath(new URL("../build/worker.js", import.meta.url)))
const built = await Build.buildTo(outfile)
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`
console.log(`${path.relative(process.cwd(), outfile)}: ${kib(built.bytes)}, ${kib(built.gzipBytes)} gzipped`)
for (const { bytes, name } of Build.contributors(built.metafile).slice(0, 8)) {
  console.log(`  ${kib(bytes).padStart(10)}  ${name}`)
}
