// The test tiers: tests that need a real runtime are vitest projects of their own, one per runtime, next to one
// unit project per package (`packages/<name>`, `examples/<name>`). A tier's files are named after it in any
// package's test directory (`test/**/*.workerd.test.ts`, `*.docker.test.ts`, `*.postgres.test.ts`,
// `*.agents.test.ts`, `*.browser.test.ts`); the reliability suite is its own package; the packaging tier is
// scripts/packaging (the public packages packed and installed outside the workspace). `vitest.config.ts` builds the
// projects from this list, `scripts/test.mjs` (`npm test`) runs the tiers this machine can run and says which it
// skipped and why, and `scripts/tier-setup.mjs` (each tier's globalSetup) fails a tier run on purpose
// (`--project docker`) at once, with the reason, when its runtime is missing.
// No dependencies: it runs before anything else is known to work.
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { request } from "node:http"
import { createRequire } from "node:module"
import { delimiter, join } from "node:path"

/**
 * @typedef {object} Tier
 * @property {string} name the vitest project's name
 * @property {ReadonlyArray<string>} include the project's files, relative to the repository
 * @property {string} [package] a package whose tests are all this tier's (it has no unit project)
 * @property {string} runs what its tests run on
 * @property {ReadonlyArray<string>} [needs] tiers whose runtime its tests use too
 * @property {() => Promise<string | undefined>} [missing] why this machine cannot run it, if it cannot
 * @property {() => ReadonlyArray<string>} [optIn] what it leaves out unless asked (said in `npm test`'s summary)
 */

const suffixed = (tier) => [`packages/*/test/**/*.${tier}.test.ts`, `examples/*/test/**/*.${tier}.test.ts`]

/** Miniflare's own workerd binary: the one every workerd test runs. */
const workerdMissing = async () => {
  let binary
  try {
    const fromMiniflare = createRequire(createRequire(import.meta.url).resolve("miniflare"))
    binary = fromMiniflare("workerd").default
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error)
    return `the workerd package is not installed (${why}; run npm ci)`
  }
  const run = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 15_000 })
  if (run.status === 0) return undefined
  const why = (run.error?.message ?? run.stderr ?? "").trim().split("\n")[0] || `exit ${run.status}`
  return `workerd does not start on this machine (${binary} --version: ${why})`
}

/** Where the Docker Engine API answers: DOCKER_HOST (unix:// or tcp://), else DOCKER_SOCKET, else the default socket. */
export const dockerEndpoint = () => {
  const host = process.env["DOCKER_HOST"]
  if (host?.startsWith("tcp://")) {
    const url = new URL(host.replace(/^tcp:/, "http:"))
    return { label: host, options: { host: url.hostname, port: Number(url.port || 2375) } }
  }
  const socket = host?.startsWith("unix://")
    ? host.slice("unix://".length)
    : process.env["DOCKER_SOCKET"] ?? "/var/run/docker.sock"
  return { label: socket, options: { socketPath: socket } }
}

const engine = (path) =>
  new Promise((resolve) => {
    const req = request({ ...dockerEndpoint().options, path, timeout: 5_000 }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode ?? 0))
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", () => resolve(0))
    req.end()
  })

const onPath = (command) =>
  (process.env["PATH"] ?? "").split(delimiter).some((dir) => dir !== "" && existsSync(join(dir, command)))

/** The image the runner's and `porter dev --docker`'s tests start (built by scripts/docker-test-image.sh). */
export const runnerImage = () => process.env["PORTER_TEST_IMAGE"] ?? "porter-runner:test"

const dockerMissing = async () => {
  if (process.platform !== "linux") return "the Docker tests need Linux (their small images are made of host binaries)"
  const { label } = dockerEndpoint()
  if ((await engine("/_ping")) !== 200) {
    return `no daemon answers on ${label} (scripts/docker-setup.sh installs docker.io and starts dockerd; or set DOCKER_HOST)`
  }
  if (!onPath("docker")) return "the docker command is not on PATH (the runner's image test runs `docker run`)"
  const image = runnerImage()
  if ((await engine(`/images/${encodeURIComponent(image)}/json`)) !== 200) {
    return `the image ${image} is not built (scripts/docker-test-image.sh builds it; PORTER_TEST_IMAGE names another)`
  }
  return undefined
}

/** Where PostgreSQL's `initdb` and `postgres` are: PORTER_PG_BIN, PATH, or Debian's /usr/lib/postgresql/<version>/bin. */
export const postgresBin = () => {
  const given = process.env["PORTER_PG_BIN"]
  if (given) return existsSync(join(given, "initdb")) ? given : undefined
  const found = (process.env["PATH"] ?? "").split(delimiter).find((dir) =>
    dir !== "" && existsSync(join(dir, "initdb"))
  )
  if (found !== undefined) return found
  const debian = "/usr/lib/postgresql"
  if (!existsSync(debian)) return undefined
  return readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    .map((v) => join(debian, v, "bin")).find((dir) => existsSync(join(dir, "initdb")))
}

const postgresMissing = async () => {
  if (process.platform === "win32") return "the PostgreSQL tests need Linux or macOS"
  const bin = postgresBin()
  if (bin === undefined) {
    return "no PostgreSQL binaries (initdb, postgres) found (scripts/postgres-setup.sh installs Debian's postgresql; " +
      "or set PORTER_PG_BIN)"
  }
  // PostgreSQL refuses root: the tests then run the server as `postgres` or `nobody` through setpriv.
  if (process.getuid?.() === 0) {
    if (!onPath("setpriv")) {
      return "running as root, and setpriv (util-linux) is missing to run the server as another user"
    }
    const user = ["postgres", "nobody"].find((name) => spawnSync("id", ["-u", name]).status === 0)
    if (user === undefined) return "running as root, and there is no postgres or nobody user to run the server as"
  }
  const version = spawnSync(join(bin, "postgres"), ["--version"], { encoding: "utf8", timeout: 15_000 })
  if (version.status !== 0) return `${join(bin, "postgres")} --version failed: ${(version.stderr ?? "").trim()}`
  return undefined
}

/** The Chromium the browser tier drives (playwright-core, no browser download): PORTER_CHROMIUM, else Debian's. */
export const chromiumPath = () => process.env["PORTER_CHROMIUM"] ?? "/usr/bin/chromium"

const chromiumMissing = async () => {
  const binary = chromiumPath()
  if (!existsSync(binary)) {
    return `${binary} is not installed (scripts/chromium-setup.sh installs Debian's chromium; or set PORTER_CHROMIUM)`
  }
  const run = spawnSync(binary, ["--headless=new", "--no-sandbox", "--version"], { encoding: "utf8", timeout: 30_000 })
  if (run.status === 0) return undefined
  const why = (run.error?.message ?? run.stderr ?? "").trim().split("\n")[0] || `exit ${run.status}`
  return `${binary} does not start (${why})`
}

/** npm, which packs the packages and installs them (from its cache, or the registry for what is not cached). */
const npmMissing = async () => {
  const run = spawnSync("npm", ["--version"], {
    encoding: "utf8",
    timeout: 30_000,
    shell: process.platform === "win32"
  })
  return run.status === 0 ? undefined : `npm does not run here (${run.error?.message ?? run.stderr?.trim()})`
}

/** @type {ReadonlyArray<Tier>} */
export const tiers = [
  {
    name: "workerd",
    include: suffixed("workerd"),
    runs: "workerd through Miniflare: local D1, the Worker bundle, porter dev and demo",
    missing: workerdMissing
  },
  {
    name: "docker",
    include: suffixed("docker"),
    runs: "a Docker daemon: containers as machines, the runner in its image",
    needs: ["workerd"],
    missing: dockerMissing
  },
  {
    name: "postgres",
    include: suffixed("postgres"),
    runs: "a PostgreSQL server per test file (initdb in a temporary directory): the SQL stores, replicas of the bot",
    missing: postgresMissing
  },
  {
    name: "agents",
    include: suffixed("agents"),
    // Never skipped: the CLIs are pinned devDependencies, so a missing one is a broken install and fails its test.
    runs: "the real agent CLIs from node_modules/.bin against the scripted model server (some through the Worker)",
    needs: ["workerd"],
    optIn: () =>
      process.env["PORTER_SLOW_AGENT_TESTS"] === "1"
        ? []
        : ["the OpenCode test (slow start-up): PORTER_SLOW_AGENT_TESTS=1 runs it"]
  },
  {
    name: "browser",
    include: suffixed("browser"),
    runs: "real Chromium (Debian's, driven by playwright-core) on the web app, served by the Worker in workerd",
    needs: ["workerd"],
    missing: chromiumMissing
  },
  {
    name: "packaging",
    include: ["scripts/packaging/packaging.test.ts", "scripts/docs/api.test.ts"],
    runs: "npm pack of every public package, installed outside the workspace (third-party packages from the " +
      "registry, through npm's cache): files, one copy of effect, sizes, strict typecheck (nodenext, bundler) of a " +
      "fixture and every README snippet, an embedding program, README programs and tests, a test on @porter/local " +
      "with the packaged runner; the API reference builds without warnings",
    missing: npmMissing
  },
  {
    name: "reliability",
    include: ["packages/reliability/test/**/*.test.ts"],
    package: "packages/reliability",
    runs: "the reliability suite's short runs, on the Worker in workerd",
    needs: ["workerd"],
    optIn: () =>
      process.env["PORTER_RELIABILITY"] === "long"
        ? []
        : ["its long runs (30-60 min): npm run reliability:long runs them"]
  }
]

/** The file-name suffixes that put a test in a tier rather than in its package's unit project. */
export const tierSuffixes = tiers.filter((t) => t.include[0]?.endsWith(`.${t.name}.test.ts`)).map((t) => t.name)

/** Why `name` cannot run here (its own runtime or one it needs), or undefined when it can. */
export const whyNot = async (name, seen = new Map()) => {
  if (seen.has(name)) return seen.get(name)
  const tier = tiers.find((t) => t.name === name)
  if (tier === undefined) return undefined
  let why = await tier.missing?.()
  for (const other of tier.needs ?? []) {
    if (why !== undefined) break
    const needed = await whyNot(other, seen)
    if (needed !== undefined) why = `it needs ${other}: ${needed}`
  }
  seen.set(name, why)
  return why
}
