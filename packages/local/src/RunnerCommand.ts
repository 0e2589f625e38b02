/**
 * Where the Porter runner (`@porter/runner`) is, as a command for a machine: found by walking up from a directory
 * to a `node_modules/@porter/runner`. Inside a checkout (the package's real path is not in a `node_modules`) the
 * TypeScript entry `src/main.ts` runs directly (`node --conditions=@porter/source`), so it is always current;
 * installed from the registry, the bundle `dist/runner.mjs` (made by the runner's `build:bundle` script) runs,
 * because Node does not strip types under `node_modules`.
 */
import { access, realpath } from "node:fs/promises"
import { dirname, join, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Option } from "effect"

const exists = (path: string) => access(path).then(() => true, () => false)

/** The runner package's directory, looking in `node_modules/@porter/runner` from `from` upwards. */
export const findPackage = (from: string): Effect.Effect<Option.Option<string>> =>
  Effect.promise(async () => {
    let dir = from
    for (;;) {
      const candidate = join(dir, "node_modules", "@porter", "runner")
      if (await exists(join(candidate, "package.json"))) return realpath(candidate)
      const parent = dirname(dir)
      if (parent === dir) return undefined
      dir = parent
    }
  }).pipe(Effect.map(Option.fromNullishOr))

/** The command that runs the runner in `packageDir` with this Node, if its entry is there. */
export const commandIn = (packageDir: string, node = process.execPath): Effect.Effect<Option.Option<ReadonlyArray<string>>> =>
  Effect.promise(async () => {
    const source = join(packageDir, "src", "main.ts")
    const bundle = join(packageDir, "dist", "runner.mjs")
    const installed = packageDir.split(sep).includes("node_modules")
    if (!installed && (await exists(source))) return [node, "--conditions=@porter/source", source]
    if (await exists(bundle)) return [node, bundle]
    return undefined
  }).pipe(Effect.map(Option.fromNullishOr))

/** Where this module lives: the search for the runner starts here. */
export const here = (): string => dirname(fileURLToPath(import.meta.url))

/** The runner's command, searching from `from` (default: this package). */
export const find = (from: string = here()): Effect.Effect<Option.Option<ReadonlyArray<string>>> =>
  Effect.flatMap(findPackage(from), Option.match({ onNone: () => Effect.succeedNone, onSome: (dir) => commandIn(dir) }))

export const notFoundMessage =
  "the Porter runner was not found: install @porter/runner next to @porter/local (in a Porter checkout, " +
  "`npm run build:bundle -w @porter/runner` builds dist/runner.mjs), or set the local provisioner's `command` " +
  "(PORTER_LOCAL_COMMAND)"
