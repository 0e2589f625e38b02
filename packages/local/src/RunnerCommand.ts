/**
 * Where the Porter runner (`@porter/runner`) is, as a command for a machine: found by walking up from a directory
 * to a `node_modules/@porter/runner`. Inside a checkout (the package's real path is not in a `node_modules`) the
 * TypeScript entry `src/main.ts` runs directly (`node --conditions=@porter/source`), so it is always current;
 * installed from the registry, the bundle `dist/runner.mjs` (made by the runner's `build:bundle` script) runs,
 * because Node does not strip types under `node_modules`.
 */
import { Effect, FileSystem, Option, type PlatformError } from "effect"
import { dirname, join, sep } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * Whether `path` is there. A path that cannot be reached (a missing, non-directory or unsearchable ancestor) is not
 * a runner this host could run either; other failures are errors.
 */
const exists = (fs: FileSystem.FileSystem, path: string) =>
  fs.access(path).pipe(
    Effect.as(true),
    Effect.catchTag("PlatformError", (error) =>
      error.reason._tag === "NotFound" || error.reason._tag === "BadResource" ||
        error.reason._tag === "PermissionDenied"
        ? Effect.succeed(false)
        : Effect.fail(error))
  )

/** The runner package's directory, looking in `node_modules/@porter/runner` from `from` upwards. */
export const findPackage = (
  from: string
): Effect.Effect<Option.Option<string>, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    let dir = from
    for (;;) {
      const candidate = join(dir, "node_modules", "@porter", "runner")
      if (yield* exists(fs, join(candidate, "package.json"))) return Option.some(yield* fs.realPath(candidate))
      const parent = dirname(dir)
      if (parent === dir) return Option.none()
      dir = parent
    }
  })

/** The command that runs the runner in `packageDir` with this Node, if its entry is there. */
export const commandIn = (
  packageDir: string,
  node = process.execPath
): Effect.Effect<Option.Option<ReadonlyArray<string>>, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const source = join(packageDir, "src", "main.ts")
    const bundle = join(packageDir, "dist", "runner.mjs")
    const installed = packageDir.split(sep).includes("node_modules")
    if (!installed && (yield* exists(fs, source))) return Option.some([node, "--conditions=@porter/source", source])
    if (yield* exists(fs, bundle)) return Option.some([node, bundle])
    return Option.none()
  })

/** Where this module lives: the search for the runner starts here. */
export const here = (): string => dirname(fileURLToPath(import.meta.url))

/** The runner's command, searching from `from` (default: this package). */
export const find = (
  from: string = here()
): Effect.Effect<Option.Option<ReadonlyArray<string>>, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.flatMap(findPackage(from), Option.match({ onNone: () => Effect.succeedNone, onSome: (dir) => commandIn(dir) }))

/** What `create` says when no runner is found and no command is set. */
export const notFoundMessage =
  "the Porter runner was not found: install @porter/runner next to @porter/local (in a Porter checkout, " +
  "`npm run build:bundle -w @porter/runner` builds dist/runner.mjs), or set the local provisioner's `command` " +
  "(PORTER_LOCAL_COMMAND)"
