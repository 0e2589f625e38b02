// The packaging tier: Porter as its users get it. Every public package is packed (`npm pack`, which runs each
// package's `prepack`: the build, the runner's bundle, @porter/sql's copy of the migrations), and the tarballs are
// installed into scratch projects in the OS temp directory — outside the workspace, so nothing resolves to the
// sources — with the npm registry (through npm's cache, `--prefer-offline`) for third-party packages only. Then:
// - each tarball holds every file its `exports`, `bin` and programs name, and no private package is depended on;
// - a minimal embedding (core, github, testing, effect) and the full set install with one copy of effect, within
//   80 MB and 200 MB of node_modules (both printed);
// - the fixture (fixture/src/embed.ts, fixture/test/swap.test.ts) and every TypeScript snippet of the READMEs (root,
//   public packages, examples: the examples are packed and installed too) typecheck strictly under `nodenext` and
//   `bundler`; ```ts run snippets run, ```ts test snippets pass under vitest;
// - the embedding program answers a signed webhook with 202, records the task and starts a machine on @porter/local
//   running the packaged runner; the fixture's vitest test swaps the in-memory provisioner for the local one.
// PORTER_PACKAGING_KEEP=1 keeps the scratch directory (its path is printed).
import { spawnSync, type SpawnSyncOptions } from "node:child_process"
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const root = fileURLToPath(new URL("../../", import.meta.url))
const fixture = fileURLToPath(new URL("./fixture/", import.meta.url))
const MB = 1024 * 1024
const MINIMAL_LIMIT_MB = 80
const FULL_LIMIT_MB = 200

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly exports?: Record<string, string | Record<string, string>>
  readonly bin?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly devDependencies?: Record<string, string>
}

const readJson = <A>(file: string): A => JSON.parse(readFileSync(file, "utf8")) as A

const publicPackages = readdirSync(join(root, "packages"))
  .filter((dir) => existsSync(join(root, "packages", dir, "package.json")))
  .map((dir) => ({ dir: `packages/${dir}`, manifest: readJson<Manifest>(join(root, "packages", dir, "package.json")) }))
  .filter((p) => p.manifest.private !== true)

/** The examples: private, but packed and installed too, so that their READMEs' snippets are checked like the rest. */
const examplePackages = readdirSync(join(root, "examples"))
  .filter((dir) => existsSync(join(root, "examples", dir, "package.json")))
  .map((dir) => ({ dir: `examples/${dir}`, manifest: readJson<Manifest>(join(root, "examples", dir, "package.json")) }))

/** The environment for npm and node: this Node first on PATH, nothing inherited from an enclosing `npm run`. */
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))),
  PATH: [dirname(process.execPath), process.env["PATH"] ?? ""].join(delimiter),
  NODE_OPTIONS: "",
  NO_COLOR: "1",
  FORCE_COLOR: "0"
}

const run = (command: string, args: ReadonlyArray<string>, options: SpawnSyncOptions & { cwd: string }) => {
  const started = Date.now()
  const result = spawnSync(command, args, { env, encoding: "utf8", maxBuffer: 64 * MB, ...options })
  const seconds = (Date.now() - started) / 1000
  const plain = (text: unknown) => String(text ?? "").replace(/\u001b\[[0-9;]*m/g, "")
  const output = `${plain(result.stdout)}\n${plain(result.stderr)}`.trim()
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} (in ${options.cwd}) failed (${result.status ?? result.signal}):\n${
        output.slice(-6000)
      }`
    )
  }
  return { stdout: String(result.stdout ?? ""), output, seconds }
}

/** Bytes of the files under `dir` (symbolic links not followed). */
const sizeOf = (dir: string): number => {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += sizeOf(path)
    else if (entry.isFile()) total += lstatSync(path).size
  }
  return total
}

/** Every installed copy of package `name` under `nodeModules`, nested ones included. */
const copiesOf = (nodeModules: string, name: string): Array<string> => {
  const found: Array<string> = []
  const visit = (dir: string) => {
    if (!existsSync(dir)) return
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith(".")) continue
      const path = join(dir, entry.name)
      if (entry.name.startsWith("@")) {
        for (const scoped of readdirSync(path, { withFileTypes: true })) {
          if (scoped.isDirectory()) inspect(join(path, scoped.name), `${entry.name}/${scoped.name}`)
        }
      } else {
        inspect(path, entry.name)
      }
    }
  }
  const inspect = (path: string, dirName: string) => {
    if (dirName === name && existsSync(join(path, "package.json"))) found.push(path)
    visit(join(path, "node_modules"))
  }
  visit(nodeModules)
  return found
}

/** The files an `exports` map names, without wildcards (a wildcard is checked against `src` below). */
const exportTargets = (manifest: Manifest): Array<string> =>
  Object.entries(manifest.exports ?? {}).flatMap(([key, value]) => {
    if (key.includes("*")) return []
    const targets = typeof value === "string" ? [value] : Object.values(value)
    return targets.map((t) => t.replace(/^\.\//, ""))
  })

const work = mkdtempSync(join(tmpdir(), "porter-packaging-"))
const tarballs = join(work, "tarballs")
const tarballOf = new Map<string, string>()
const filesOf = new Map<string, ReadonlySet<string>>()
const figures: Array<string> = []

/** A scratch project: `dependencies` by name (Porter's from the tarballs), every Porter package overridden alike. */
const project = (
  name: string,
  dependencies: ReadonlyArray<string>,
  extra: { readonly dependencies?: Record<string, string>; readonly devDependencies?: Record<string, string> } = {}
) => {
  const dir = join(work, name)
  const file = (pkg: string) => `file:${tarballOf.get(pkg)!}`
  const overrides = Object.fromEntries([...tarballOf.keys()].map((pkg) => [pkg, file(pkg)]))
  cpSync(fixture, dir, { recursive: true })
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify(
      {
        name: `porter-packaging-${name}`,
        private: true,
        type: "module",
        dependencies: { ...Object.fromEntries(dependencies.map((pkg) => [pkg, file(pkg)])), ...extra.dependencies },
        devDependencies: extra.devDependencies ?? {},
        overrides
      },
      null,
      2
    )
  )
  const installed = run(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
    { cwd: dir, timeout: 600_000 }
  )
  return { dir, seconds: installed.seconds }
}

/** A README's TypeScript snippet: ```ts (typechecked), ```ts run (a program, also run), ```ts test (run by vitest). */
interface Snippet {
  readonly file: string
  readonly kind: "check" | "run" | "test"
  readonly code: string
}

/**
 * Every TypeScript snippet of the root README, the public packages' and the examples' READMEs and the testkit's
 * reference pages, as scratch files.
 */
const readmeSnippets = (): Array<Snippet> => {
  const readmes = [
    { name: "root", path: join(root, "README.md") },
    ...publicPackages.map((p) => ({ name: p.dir.split("/")[1]!, path: join(root, p.dir, "README.md") })),
    ...examplePackages.map((p) => ({ name: `example-${p.dir.split("/")[1]!}`, path: join(root, p.dir, "README.md") })),
    // The testkit's reference pages, one per stand-in.
    ...["fly", "github", "model"].map((part) => ({
      name: `testkit-${part}`,
      path: join(root, "packages/testkit/src", part, "README.md")
    }))
  ].filter((r) => existsSync(r.path))
  return readmes.flatMap(({ name, path }) => {
    const snippets: Array<Snippet> = []
    let open: { kind: Snippet["kind"]; lines: Array<string> } | undefined
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const fence = /^```(ts|typescript)(?:\s+(run|test))?\s*$/.exec(line)
      if (open === undefined && fence !== null) {
        open = { kind: (fence[2] ?? "check") as Snippet["kind"], lines: [] }
      } else if (open !== undefined && /^```\s*$/.test(line)) {
        const n = snippets.length + 1
        const test = open.kind === "test" ? ".test" : ""
        snippets.push({ file: `readme/${name}-${n}${test}.ts`, kind: open.kind, code: `${open.lines.join("\n")}\n` })
        open = undefined
      } else {
        open?.lines.push(line)
      }
    }
    return snippets
  })
}

const versionOf = (pkg: string) =>
  readJson<{ version: string }>(join(root, "node_modules", pkg, "package.json")).version

describe("packaging: the public packages from their tarballs, outside the workspace", () => {
  beforeAll(() => {
    mkdirSync(tarballs, { recursive: true })
    const packed = run(
      "npm",
      [
        "pack",
        "--json",
        "--pack-destination",
        tarballs,
        ...[...publicPackages, ...examplePackages].flatMap((p) => ["-w", p.dir])
      ],
      { cwd: root, timeout: 600_000 }
    )
    const json = packed.stdout.slice(packed.stdout.indexOf("["))
    const results = JSON.parse(json) as ReadonlyArray<
      { name: string; filename: string; size: number; unpackedSize: number; files: ReadonlyArray<{ path: string }> }
    >
    for (const r of results) {
      tarballOf.set(r.name, join(tarballs, r.filename))
      filesOf.set(r.name, new Set(r.files.map((f) => f.path)))
    }
    figures.push(`npm pack of ${results.length} packages (the examples included): ${packed.seconds.toFixed(0)} s`)
  }, 900_000)

  afterAll(() => {
    console.log(["packaging figures:", ...figures.map((f) => `  ${f}`)].join("\n"))
    if (process.env["PORTER_PACKAGING_KEEP"] === "1") console.log(`packaging: scratch directory kept: ${work}`)
    else rmSync(work, { recursive: true, force: true })
  })

  it("every public package is packed", () => {
    assert.sameMembers(
      [...tarballOf.keys()],
      [...publicPackages, ...examplePackages].map((p) => p.manifest.name)
    )
  })

  it.each(publicPackages.map((p) => [p.manifest.name, p] as const))("%s holds what it names", (name, { manifest }) => {
    const files = filesOf.get(name)!
    const missing = [
      ...exportTargets(manifest),
      ...Object.values(manifest.bin ?? {}).map((b) => b.replace(/^\.\//, "")),
      "package.json",
      "README.md"
    ].filter((f) => !files.has(f))
    // Wildcard exports (`./*` → dist/*.js): every source module has its built module and declarations.
    if (Object.keys(manifest.exports ?? {}).some((k) => k.includes("*"))) {
      for (const f of files) {
        const m = /^src\/([^/]+)\.ts$/.exec(f)
        if (m === null || m[1]!.endsWith(".d")) continue
        for (const built of [`dist/${m[1]}.js`, `dist/${m[1]}.d.ts`]) if (!files.has(built)) missing.push(built)
      }
    }
    assert.deepStrictEqual(missing, [], `${name}'s tarball lacks files`)
    const porterDeps = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith("@porter/"))
    assert.deepStrictEqual(porterDeps.filter((d) => !tarballOf.has(d)), [], `${name} depends on unpublished packages`)
    for (const one of ["effect", "@effect/platform-node"]) {
      assert.notProperty(manifest.dependencies ?? {}, one, `${name}: ${one} must be a peer dependency`)
    }
  })

  it("the runner ships its bundle and the SQL packages ship every migration", () => {
    assert.isTrue(filesOf.get("@porter/runner")!.has("dist/runner.mjs"))
    const sql = filesOf.get("@porter/sql")!
    const expected = [
      ...readdirSync(join(root, "migrations")).filter((f) => f.endsWith(".sql")).map((f) => `migrations/${f}`),
      ...readdirSync(join(root, "migrations", "postgres")).filter((f) => f.endsWith(".sql")).map((f) =>
        `migrations/postgres/${f}`
      )
    ]
    assert.deepStrictEqual(expected.filter((f) => !sql.has(f)), [], "@porter/sql lacks migrations")
    assert.isFalse(existsSync(join(root, "packages", "sql", "migrations")), "postpack left the copy behind")
  })

  it("a minimal embedding (core, github, testing, effect) installs with one effect, within 80 MB", () => {
    const minimal = project("minimal", ["@porter/core", "@porter/github", "@porter/testing"], {
      dependencies: { effect: `^${versionOf("effect")}` }
    })
    const nodeModules = join(minimal.dir, "node_modules")
    const effects = copiesOf(nodeModules, "effect").map((p) => relative(minimal.dir, p))
    const size = sizeOf(nodeModules) / MB
    figures.push(`minimal embedding: node_modules ${size.toFixed(1)} MB (install ${minimal.seconds.toFixed(0)} s)`)
    assert.deepStrictEqual(effects, ["node_modules/effect"])
    assert.isAtMost(size, MINIMAL_LIMIT_MB)
    // The main entries load without vitest (the conformance suites are at @porter/testing/conformance).
    run("node", [
      "--input-type=module",
      "-e",
      "await import('@porter/core'); await import('@porter/github'); await import('@porter/testing')"
    ], { cwd: minimal.dir })
  }, 900_000)

  describe("the full set, with the fixture and the READMEs' snippets", () => {
    let full = ""
    const snippets = readmeSnippets()

    beforeAll(() => {
      const installed = project("full", [...tarballOf.keys()], {
        dependencies: {
          // Pinned, as an app would (the four copies of effect came from an app pinning its own): Porter's
          // peer ranges must accept the pin. The workspace's versions, so npm's cache has them.
          effect: versionOf("effect"),
          "@effect/platform-node": versionOf("@effect/platform-node")
        },
        devDependencies: {
          vitest: versionOf("vitest"),
          "@effect/vitest": versionOf("@effect/vitest"),
          "@types/node": versionOf("@types/node")
        }
      })
      full = installed.dir
      mkdirSync(join(full, "readme"))
      for (const snippet of snippets) writeFileSync(join(full, snippet.file), snippet.code)
      const total = sizeOf(join(full, "node_modules")) / MB
      figures.push(
        `full set: node_modules ${total.toFixed(1)} MB, with vitest, @effect/vitest and @types/node ` +
          `(install ${installed.seconds.toFixed(0)} s)`
      )
      assert.isAtMost(total, FULL_LIMIT_MB)
    }, 900_000)

    it("one copy of effect", () => {
      const effects = copiesOf(join(full, "node_modules"), "effect").map((p) => relative(full, p))
      assert.deepStrictEqual(effects, ["node_modules/effect"])
    })

    it("the porter command runs; porter dev says what it needs until its optional peers are installed", () => {
      const porter = join(full, "node_modules", ".bin", "porter")
      assert.match(run(porter, ["--help"], { cwd: full, timeout: 60_000 }).output, /porter/i)
      const dev = spawnSync(porter, ["dev", "--port", "0"], { cwd: full, env, encoding: "utf8", timeout: 60_000 })
      assert.strictEqual(dev.status, 1, dev.stderr)
      assert.match(dev.stderr, /needs miniflare and esbuild/)
    }, 120_000)

    it("with porter dev's optional peers (miniflare with workerd, esbuild): sizes stated, still one effect", () => {
      const cli = readJson<Manifest>(join(root, "packages", "cli", "package.json"))
      const peers = ["miniflare", "esbuild"].map((name) => `${name}@${cli.peerDependencies![name]}`)
      const before = sizeOf(join(full, "node_modules")) / MB
      const added = run(
        "npm",
        ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...peers],
        {
          cwd: full,
          timeout: 600_000
        }
      )
      const after = sizeOf(join(full, "node_modules")) / MB
      figures.push(
        `with porter dev's optional peers: node_modules ${after.toFixed(1)} MB (+${(after - before).toFixed(1)} MB; ` +
          `install ${added.seconds.toFixed(0)} s)`
      )
      assert.deepStrictEqual(copiesOf(join(full, "node_modules"), "effect").map((p) => relative(full, p)), [
        "node_modules/effect"
      ])
      const help = run(join(full, "node_modules", ".bin", "porter"), ["dev", "--help"], { cwd: full, timeout: 60_000 })
      assert.match(help.output, /dev/)
    }, 900_000)

    it("@porter/sql reads its packed migrations (both dialects) where it is installed", () => {
      const script = "import * as F from '@porter/sql/files'; import { Effect } from 'effect'; " +
        "const [s, p] = await Effect.runPromise(Effect.all([F.read(F.sqliteDir), F.read(F.postgresDir)])); " +
        "console.log(JSON.stringify({ dir: F.sqliteDir, sqlite: s.length, pg: p.length }))"
      const read = JSON.parse(run("node", ["--input-type=module", "-e", script], { cwd: full }).stdout) as {
        dir: string
        sqlite: number
        pg: number
      }
      assert.strictEqual(read.dir, join(full, "node_modules", "@porter", "sql", "migrations") + "/")
      assert.strictEqual(read.sqlite, readdirSync(join(root, "migrations")).filter((f) => f.endsWith(".sql")).length)
      assert.strictEqual(
        read.pg,
        readdirSync(join(root, "migrations", "postgres")).filter((f) => f.endsWith(".sql")).length
      )
    })

    it.each(["nodenext", "bundler"])("the fixture and every README snippet typecheck (strict, %s)", (mode) => {
      assert.isAbove(snippets.length, 10)
      const tsc = join(root, "node_modules", ".bin", "tsc")
      const checked = run(tsc, ["-p", `tsconfig.${mode}.json`], { cwd: full, timeout: 300_000 })
      figures.push(`typecheck (${mode}, the fixture and ${snippets.length} snippets): ${checked.seconds.toFixed(0)} s`)
    }, 300_000)

    it("the embedding program: a signed webhook → 202, a task, a machine on @porter/local running the runner", () => {
      const ran = run("node", ["src/embed.ts"], { cwd: full, timeout: 120_000 })
      const result = JSON.parse(ran.stdout.trim().split("\n").at(-1)!) as {
        status: number
        tasks: number
        machineId?: string
        runner?: ReadonlyArray<string>
        runnerOutput: ReadonlyArray<string>
      }
      assert.strictEqual(result.status, 202, ran.output)
      assert.strictEqual(result.tasks, 1, ran.output)
      assert.match(result.machineId ?? "", /^local_/, ran.output)
      assert.strictEqual(result.runner?.[1], join(full, "node_modules", "@porter", "runner", "dist", "runner.mjs"))
      assert.isAbove(result.runnerOutput.length, 0, "the runner wrote nothing")
      figures.push(`embedding program: ${ran.seconds.toFixed(1)} s; the runner said: ${result.runnerOutput[0]}`)
    }, 120_000)

    it("the README programs run", () => {
      const programs = snippets.filter((snippet) => snippet.kind === "run")
      assert.isAbove(programs.length, 0)
      for (const program of programs) {
        const ran = run("node", [program.file], { cwd: full, timeout: 120_000 })
        figures.push(`${program.file}: ran in ${ran.seconds.toFixed(1)} s`)
      }
    }, 600_000)

    it("under vitest: the fixture's test (the local provisioner swapped in) and the READMEs' tests pass", () => {
      const tested = run(join(full, "node_modules", ".bin", "vitest"), ["run"], { cwd: full, timeout: 300_000 })
      const files = 1 + snippets.filter((snippet) => snippet.kind === "test").length
      assert.match(tested.output, new RegExp(`Test Files\\s+(?:\\S+\\s+)?${files} passed`), tested.output)
      figures.push(`vitest (${files} files: the fixture's and the READMEs'): ${tested.seconds.toFixed(0)} s`)
    }, 300_000)
  })
})
