#!/usr/bin/env node
// Bundles the runner into one file, dist/runner.mjs, for the worker image: one file to read and
// parse at start (no module resolution over node_modules), which keeps the time before the
// agent starts close to a plain `git clone`.
// Usage: node scripts/build-bundle.mjs [outfile]
import { build } from "esbuild"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const outfile = resolve(process.argv[2] ?? join(root, "dist", "runner.mjs"))

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
  // The program itself (it imports Boot first): one file, tree-shaken, Boot's code at its top. `main.ts` loads it
  // with a dynamic import, which helps the sources but would keep every module of the bundle whole.
  entryPoints: [join(root, "src", "Program.ts")],
  outfile,
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
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
console.error(`runner bundle: ${outfile} (${(bytes / 1024).toFixed(0)} KiB)`)
