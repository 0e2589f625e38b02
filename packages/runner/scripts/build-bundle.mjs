#!/usr/bin/env node
// Bundles the runner for the worker image: dist/runner.mjs and the chunks it loads beside it
// (dist/runner-*.mjs), with no module resolution over node_modules at start.
//
// runner.mjs itself is tiny: Boot (which starts the clone) and a dynamic import of the program's
// chunk. Node parses a module whole before running any of it, so in one 670 KiB file the clone
// started only after the whole program was parsed (100-190 ms on a busy 2-core machine); now git
// starts ~40 ms after the process, while Node loads the program.
// Usage: node scripts/build-bundle.mjs [outfile]   (the chunks go beside outfile)
import { build } from "esbuild"
import { readdirSync, rmSync } from "node:fs"
import { basename, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const outfile = resolve(process.argv[2] ?? join(root, "dist", "runner.mjs"))
const outdir = dirname(outfile)
const name = basename(outfile, ".mjs")
const isChunk = (file) => file.startsWith(`${name}-`) && file.endsWith(".mjs")
// An earlier build's chunks (their names carry a content hash).
for (const file of readdirSync(outdir, { withFileTypes: true })) {
  if (file.isFile() && isChunk(file.name)) rmSync(join(outdir, file.name))
}

// Porter's packages are side-effect free (like effect's own modules), but only effect says so in
// its package.json: without this, every module of @porter/core (the HTTP app, the orchestration)
// would be kept and initialised at start although the runner uses a few schemas and the catalog.
const sideEffectFree = {
  name: "porter-side-effect-free",
  setup(b) {
    b.onResolve({ filter: /^@porter\// }, async (args) => {
      if (args.pluginData === "porter") return undefined
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: "porter"
      })
      return resolved.errors.length > 0 ? resolved : { path: resolved.path, sideEffects: false }
    })
    b.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData === "porter" || !/\/packages\/(core|testkit)\/src\//.test(args.importer)) return undefined
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: "porter"
      })
      return resolved.errors.length > 0 ? resolved : { path: resolved.path, sideEffects: false }
    })
  }
}

const result = await build({
  plugins: [sideEffectFree],
  // `main.ts`: Boot, then the program through a dynamic import, which becomes its own chunk.
  entryPoints: { [name]: join(root, "src", "main.ts") },
  outdir,
  outExtension: { ".js": ".mjs" },
  splitting: true,
  chunkNames: `${name}-[name]-[hash]`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  conditions: ["@porter/source"],
  minify: true,
  keepNames: false,
  sourcemap: false,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  // A command (the package's `porter-runner` bin); some dependencies still call require() for Node built-ins.
  banner: {
    js: "#!/usr/bin/env node\n" +
      "import { createRequire as __porterCreateRequire } from \"node:module\"; const require = __porterCreateRequire(import.meta.url);"
  }
})
// esbuild also writes a chunk for every dynamic import it met, even one tree-shaking dropped (effect's API docs
// pages, undici): keep only what runner.mjs reaches.
const outputs = result.metafile.outputs
const keyOf = (file) => Object.keys(outputs).find((key) => resolve(key) === resolve(file))
const reached = new Set()
const visit = (key) => {
  if (key === undefined || reached.has(key)) return
  reached.add(key)
  for (const imported of outputs[key].imports) if (!imported.external) visit(keyOf(imported.path))
}
visit(keyOf(outfile))
for (const key of Object.keys(outputs)) if (!reached.has(key)) rmSync(resolve(key))
const bytes = [...reached].reduce((n, key) => n + outputs[key].bytes, 0)
console.error(`runner bundle: ${outfile} and ${reached.size - 1} chunks beside it (${(bytes / 1024).toFixed(0)} KiB)`)
