#!/usr/bin/env node
// The API reference: docs/api/<package>.md, one page per public package (its entry points: `.` and each subpath
// export), generated from the TSDoc by TypeDoc with typedoc-plugin-markdown, and docs/api/README.md listing them.
// TypeDoc runs on this workspace's TypeScript 5.9 (the root's TypeScript 7 has no compiler API) over the sources
// (`@porter/source` condition), with every warning an error: a broken `{@link}`, an entry point that does not resolve,
// a type that is used but not exported — and so is an export without a description (a TSDoc comment).
// Usage: node scripts/docs/api.mjs [--out DIR] [--update-baseline]   (default docs/api; `--out` elsewhere checks without
// touching it)
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Application, LogLevel, ReflectionKind } from "typedoc"

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, "..", "..")
const outIndex = process.argv.indexOf("--out")
const out = resolve(outIndex > 0 ? process.argv[outIndex + 1] : join(root, "docs", "api"))

/** The public packages and their entry points (the `@porter/source` file of each export that is not a wildcard). */
const packages = readdirSync(join(root, "packages"))
  .filter((dir) => existsSync(join(root, "packages", dir, "package.json")))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) }))
  .filter(({ manifest }) => manifest.private !== true)
  .map(({ dir, manifest }) => ({
    dir,
    name: manifest.name,
    description: manifest.description,
    entries: Object.entries(manifest.exports ?? {})
      .filter(([key]) => !key.includes("*"))
      // The Worker's own entry imports cloudflare:workers' runtime bindings: documented through its other entries.
      .filter(([key]) => !(manifest.name === "@porter/worker" && key === "."))
      .map(([key, value]) => ({ key, file: join(root, "packages", dir, value["@porter/source"]) }))
  }))

const staging = join(root, "node_modules", ".cache", "porter-api-docs")
rmSync(staging, { recursive: true, force: true })

const app = await Application.bootstrapWithPlugins({
  entryPoints: packages.flatMap((pkg) => pkg.entries.map((e) => e.file)),
  tsconfig: join(here, "tsconfig.json"),
  plugin: ["typedoc-plugin-markdown"],
  out: staging,
  name: "Porter",
  readme: "none",
  outputFileStrategy: "modules",
  hidePageHeader: true,
  hideBreadcrumbs: true,
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  // Links inside members inherited from effect's classes (Schema.Class's make…) point into effect: not documented here.
  externalSymbolLinkMappings: { effect: { "*": "#" } },
  disableSources: true,
  skipErrorChecking: true,
  treatWarningsAsErrors: true,
  logLevel: LogLevel.Warn,
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: false }
})
const project = await app.convert()
if (project !== undefined && !app.logger.hasErrors() && !app.logger.hasWarnings()) app.validate(project)
if (project === undefined || app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error(`api docs: TypeDoc reported problems (above); nothing written to ${relative(root, out)}`)
  process.exit(1)
}
// Every export has a description: each class, interface, type, enum, function and constant a module or namespace
// exports (a member of an inferred type, such as a derived HTTP client's methods, is described by its definition).
const exportKinds = ReflectionKind.Class | ReflectionKind.Interface | ReflectionKind.TypeAlias | ReflectionKind.Enum |
  ReflectionKind.Function | ReflectionKind.Variable
const described = (reflection) =>
  reflection.hasComment() || (reflection.signatures ?? []).some((signature) => signature.hasComment()) ||
  (reflection.type?.declaration?.signatures ?? []).some((signature) => signature.hasComment())
const undescribed = project.getReflectionsByKind(exportKinds)
  .filter((reflection) => reflection.parent?.kindOf(ReflectionKind.SomeModule) === true && !described(reflection))
  .map((reflection) => reflection.getFullName())
  .sort()
// The exports that had no description when the check began (scripts/docs/undocumented.txt): a debt to pay off, not to
// grow. `--update-baseline` rewrites the file (after describing some, or to accept new ones knowingly).
const baselineFile = join(here, "undocumented.txt")
if (process.argv.includes("--update-baseline")) {
  writeFileSync(baselineFile, undescribed.map((name) => `${name}\n`).join(""))
  console.log(`api docs: ${undescribed.length} undescribed exports written to ${relative(root, baselineFile)}`)
}
const baseline = new Set(
  existsSync(baselineFile) ? readFileSync(baselineFile, "utf8").split("\n").filter((l) => l !== "") : []
)
const fresh = undescribed.filter((name) => !baseline.has(name))
if (fresh.length > 0) {
  console.error(
    `api docs: ${fresh.length} export(s) without a description (a TSDoc comment, one line at least):\n  ` +
      fresh.join("\n  ")
  )
  process.exit(1)
}
const paid = [...baseline].filter((name) => !undescribed.includes(name)).length
console.log(
  `api docs: ${undescribed.length} exports still without a description, all in ${relative(root, baselineFile)}` +
    (paid > 0 ? ` (${paid} of its entries are described or gone now: --update-baseline drops them)` : "")
)
await app.generateOutputs(project)
// docs/api/README.md: the packages, each with its entry points' pages (TypeDoc's own module list is replaced).
const pageOf = (file) => {
  const name = relative(join(root, "packages"), file).replace(/\.ts$/, "").replace(/\/index$/, "")
  return existsSync(join(staging, name, "README.md")) ? `${name}/README.md` : `${name}.md`
}
const lines = [
  "# Porter API reference",
  "",
  "Generated from the TSDoc of each public package by `npm run docs:api` (TypeDoc with typedoc-plugin-markdown; a",
  "warning fails it). One index page per package entry point, with a page per module it exports.",
  "",
  "| Package | Entry points | What it is |",
  "|---|---|---|",
  ...packages.map((pkg) => {
    const entries = pkg.entries.map((e) =>
      `[\`${e.key === "." ? pkg.name : `${pkg.name}/${e.key.slice(2)}`}\`](${pageOf(e.file)})`
    )
    return `| ${pkg.name} | ${entries.join("<br>")} | ${pkg.description.replaceAll("|", "\\|")} |`
  }),
  ""
]
writeFileSync(join(staging, "README.md"), lines.join("\n"))
const missing = packages.flatMap((pkg) => pkg.entries.map((e) => pageOf(e.file))).filter((p) =>
  !existsSync(join(staging, p))
)
if (missing.length > 0) {
  console.error(`api docs: no page for ${missing.join(", ")}`)
  process.exit(1)
}
rmSync(out, { recursive: true, force: true })
mkdirSync(dirname(out), { recursive: true })
renameSync(staging, out)
const count = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? count(join(dir, e.name)) : 1), 0)
console.log(`api docs: ${packages.length} packages, ${count(out)} pages in ${relative(root, out) || out}`)
