/**
 * Bundles the Workers with esbuild (Node only): one ES module each for workerd, which wrangler uploads as it is
 * (`no_bundle`): the API Worker (`index.ts`, `bundle()`) and the App Worker (`app.ts`, `bundleApp()`). Own build instead of wrangler's because
 *
 * - workspace packages resolve to their TypeScript sources through the `@porter/source` export condition,
 *   which wrangler's esbuild does not know (conditions here: `@porter/source`, `workerd`, `worker`, `browser`);
 * - named imports of Effect's barrels (`import { Schema } from "effect"`) are rewritten to namespace imports of
 *   the modules themselves (`import * as Schema from "effect/Schema"`). esbuild keeps every export of a
 *   namespace re-exported by a barrel once it is used (`export * as Schema` → one object with all of Schema),
 *   but tree-shakes a directly imported namespace: the Worker is about half the size this way.
 *
 * - micromark's table of HTML's 2,231 named character references (`character-entities`, 35 KiB minified, 12 KiB
 *   gzipped) is left out (`namedReferences`): the Worker parses comments only to find where a command is, and whether
 *   `&name;` names a character changes no line's start (a reference is never a mention, an unknown name is literal
 *   text; neither is a delimiter). Node hosts keep the table.
 *
 * Cannot: bundle for Node (it targets workerd: `platform: "neutral"`, WebCrypto, `fetch`).
 */
import * as esbuild from "esbuild"
import { readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"

/** The Worker's entry point (its TypeScript source, also when this module runs from `dist/`). */
export const entryPoint: string = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "./index.ts" : "../src/index.ts", import.meta.url)
)

/** The App Worker's entry point (the web app and the MCP server; `wrangler.app.jsonc`). */
export const appEntryPoint: string = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "./app.ts" : "../src/app.ts", import.meta.url)
)

/** Export conditions, in order: the workspace sources, then what wrangler uses for workerd. */
export const conditions: ReadonlyArray<string> = ["@porter/source", "workerd", "worker", "browser"]

const require = createRequire(import.meta.url)

/** `name → module` for a barrel of the `effect` package (`effect`, `effect/http`, …); undefined if none. */
const readBarrel = (specifier: string): ReadonlyMap<string, string> | undefined => {
  let file: string
  try {
    file = require.resolve(specifier)
  } catch {
    return undefined
  }
  if (path.basename(file) !== "index.js") return undefined
  const text = readFileSync(file, "utf8")
  const base = specifier === "effect" ? "effect/" : `${specifier}/`
  const map = new Map<string, string>()
  for (const match of text.matchAll(/export \* as (\w+) from "\.\/([\w/]+)\.js"/g)) {
    map.set(match[1]!, `${base}${match[2]!}`)
  }
  return map.size > 0 ? map : undefined
}

const NAMED_IMPORT = /import\s+(type\s+)?\{([^}]*)\}\s*from\s*"(effect(?:\/[\w-]+)?|@porter\/[\w-]+)"/g

/** Rewrites `import { A, type B, C as D } from "effect…"` into namespace imports of A's and C's modules. */
export const rewriteBarrelImports = (
  source: string,
  barrel: (specifier: string) => ReadonlyMap<string, string> | undefined
) =>
  source.replace(NAMED_IMPORT, (statement, typeOnly: string | undefined, names: string, specifier: string) => {
    if (typeOnly !== undefined) return statement
    const map = barrel(specifier)
    if (map === undefined) return statement
    const kept: Array<string> = []
    const namespaces: Array<string> = []
    for (const item of names.split(",").map((name) => name.trim()).filter((name) => name.length > 0)) {
      const [name = "", alias] = item.split(/\s+as\s+/)
      const module = item.startsWith("type ") ? undefined : map.get(name)
      if (module === undefined) kept.push(item)
      else namespaces.push(`import * as ${alias ?? name} from ${JSON.stringify(module)}`)
    }
    const parts = kept.length > 0 ? [`import { ${kept.join(", ")} } from "${specifier}"`] : []
    // As many lines as before: line numbers in stack traces stay those of the source.
    return [...parts, ...namespaces].join("; ") + "\n".repeat(statement.split("\n").length - 1)
  })

const PORTER_IMPORT = /import\s+(?:type\s+)?\{[^}]*\}\s*from\s*"(@porter\/[\w-]+)"/g

/** `name → module file` for a Porter package's barrel (`src/index.ts`: `export * as X from "./X.ts"`). */
const readPorterBarrel = (index: string): ReadonlyMap<string, string> | undefined => {
  const map = new Map<string, string>()
  for (const match of readFileSync(index, "utf8").matchAll(/export \* as (\w+) from "\.\/([\w/]+\.ts)"/g)) {
    map.set(match[1]!, path.join(path.dirname(index), match[2]!))
  }
  return map.size > 0 ? map : undefined
}

/**
 * The esbuild plugin that applies `rewriteBarrelImports` to TypeScript sources: for Effect's barrels, and for
 * Porter's own packages (`import { HttpApp } from "@porter/core"` becomes a namespace import of `HttpApp.ts`
 * itself, so that what the Worker does not use of it is left out too).
 */
export const effectBarrels = (): esbuild.Plugin => ({
  name: "porter-effect-barrels",
  setup(build) {
    const cache = new Map<string, ReadonlyMap<string, string> | undefined>()
    const barrel = (specifier: string) => {
      if (!cache.has(specifier)) cache.set(specifier, readBarrel(specifier))
      return cache.get(specifier)
    }
    build.onLoad({ filter: /\.m?ts$/ }, async (args) => {
      const source = readFileSync(args.path, "utf8")
      const porter = new Set([...source.matchAll(PORTER_IMPORT)].map((m) => m[1]!))
      for (const specifier of porter) {
        if (cache.has(specifier)) continue
        const resolved = await build.resolve(specifier, {
          kind: "import-statement",
          resolveDir: path.dirname(args.path)
        })
        const index = resolved.errors.length === 0 && resolved.path.endsWith(`${path.sep}src${path.sep}index.ts`)
          ? resolved.path
          : undefined
        cache.set(specifier, index === undefined ? undefined : readPorterBarrel(index))
      }
      return { contents: rewriteBarrelImports(source, barrel), loader: "ts" }
    })
  }
})

/**
 * Resolves `decode-named-character-reference` (micromark's lookup of `&name;`) to a stand-in that knows no name:
 * every named reference reads as literal text, which decides nothing about where a command is (see the module's
 * header).
 */
export const namedReferences = (): esbuild.Plugin => ({
  name: "porter-named-references",
  setup(build) {
    build.onResolve({ filter: /^decode-named-character-reference$/ }, () => ({
      path: "decode-named-character-reference",
      namespace: "porter-named-references"
    }))
    build.onLoad({ filter: /.*/, namespace: "porter-named-references" }, () => ({
      contents: "export const decodeNamedCharacterReference = () => false\n",
      loader: "js"
    }))
  }
})

/**
 * Leaves out two parts of Effect's HTTP modules the API Worker never runs (`apiOnly`):
 *
 * - the OpenAPI generator `HttpApiBuilder` serves `/openapi.json` with (`OpenApi.fromApi`, and the JSON Schema
 *   compiler behind it: 22 KiB minified). The API Worker hands `/openapi.json` to the App Worker, which keeps it;
 *   core's own imports of `OpenApi` (its annotations) still get the real module;
 * - the table of file extensions behind `Mime` (10 KiB), used only to type files served from disk: Workers serve no
 *   file. Every type reads as unknown (`application/octet-stream`).
 */
export const apiOnly = (): esbuild.Plugin => ({
  name: "porter-api-only",
  setup(build) {
    build.onResolve(
      { filter: /^\.\/OpenApi\.js$/ },
      (args) =>
        args.importer.endsWith(path.join("http-api", "HttpApiBuilder.js"))
          ? { path: "openapi", namespace: "porter-api-only" }
          : undefined
    )
    build.onResolve(
      { filter: /^\.\/internal\/mimeTypes\.js$/ },
      (args) =>
        args.importer.endsWith(path.join("http", "Mime.js"))
          ? { path: "mime", namespace: "porter-api-only" }
          : undefined
    )
    build.onLoad({ filter: /^openapi$/, namespace: "porter-api-only" }, () => ({
      contents: "export const fromApi = () => { throw new Error(\"/openapi.json is served by the App Worker\") }\n",
      loader: "js"
    }))
    build.onLoad({ filter: /^mime$/, namespace: "porter-api-only" }, () => ({
      contents: "export default {}\n",
      loader: "js"
    }))
  }
})

/** How to bundle: which Worker, minified or not, with a source map or not. */
export interface BundleOptions {
  /** Default: the Worker (`src/index.ts`). */
  readonly entryPoint?: string
  /** Default true. */
  readonly minify?: boolean
  /** Inline source map (debugging in workerd); default false. */
  readonly sourcemap?: boolean
}

/** A built Worker: its code, sizes and esbuild's metafile. */
export interface Bundle {
  /** The ES module, for workerd / `wrangler deploy` (`no_bundle`). */
  readonly code: string
  readonly bytes: number
  readonly gzipBytes: number
  readonly metafile: esbuild.Metafile
}

/** Bundles the Worker in memory. */
export const bundle = async (options: BundleOptions = {}): Promise<Bundle> => {
  const result = await esbuild.build({
    entryPoints: [options.entryPoint ?? entryPoint],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2023",
    mainFields: ["module", "main"],
    conditions: [...conditions],
    external: ["cloudflare:*"],
    minify: options.minify ?? true,
    sourcemap: options.sourcemap === true ? "inline" : false,
    legalComments: "none",
    metafile: true,
    absWorkingDir: process.cwd(),
    write: false,
    logLevel: "silent",
    plugins: [
      effectBarrels(),
      namedReferences(),
      ...((options.entryPoint ?? entryPoint) === entryPoint ? [apiOnly()] : [])
    ]
  })
  const code = result.outputFiles[0]!.text
  return {
    code,
    bytes: Buffer.byteLength(code),
    gzipBytes: gzipSync(code, { level: 9 }).byteLength,
    metafile: result.metafile
  }
}

/** Bundles the App Worker in memory. */
export const bundleApp = (options: Omit<BundleOptions, "entryPoint"> = {}): Promise<Bundle> =>
  bundle({ ...options, entryPoint: appEntryPoint })

/** Bundles the Worker into `outfile` (and `outfile.meta.json`, esbuild's metafile). */
export const buildTo = async (outfile: string, options: BundleOptions = {}): Promise<Bundle> => {
  const built = await bundle(options)
  await mkdir(path.dirname(outfile), { recursive: true })
  await writeFile(outfile, built.code)
  await writeFile(`${outfile}.meta.json`, JSON.stringify(built.metafile))
  return built
}

/** Bytes in the bundle by package (`effect`, `@porter/core`, `@octokit/…`), largest first. */
export const contributors = (
  metafile: esbuild.Metafile,
  workingDir: string = process.cwd()
): Array<{ readonly name: string; readonly bytes: number }> => {
  const totals = new Map<string, number>()
  for (const output of Object.values(metafile.outputs)) {
    for (const [relative, input] of Object.entries(output.inputs)) {
      const file = path.resolve(workingDir, relative)
      const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)
      const inPackages = /packages\/([^/]+)\//.exec(file)
      const name = inModules ? inModules[1]! : inPackages ? `@porter/${inPackages[1]!}` : file
      totals.set(name, (totals.get(name) ?? 0) + input.bytesInOutput)
    }
  }
  return [...totals].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes)
}

/** Bytes in the bundle by file, largest first. */
export const largestFiles = (
  metafile: esbuild.Metafile,
  count = 15
): Array<{ readonly file: string; readonly bytes: number }> =>
  Object.values(metafile.outputs)
    .flatMap((output) => Object.entries(output.inputs).map(([file, input]) => ({ file, bytes: input.bytesInOutput })))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, count)
