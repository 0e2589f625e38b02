#!/usr/bin/env node
// Runs a command with a Node >= 22.12 and installed dependencies.
// A fresh machine may only have an older Node and npm: then Node 24 is fetched from the
// npm registry (package node-<platform>-<arch>@24) into .toolchain/, dependencies are
// installed with it (`npm ci`), and the command runs with it first on PATH.
// Usage: node scripts/toolchain.mjs <command> [args...]   (no dependencies, runs on Node >= 18)
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs"
import { delimiter, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const MIN = [22, 12]
const NODE_MAJOR = "24"

const tooOld = (version) => {
  const [major, minor] = version.split(".").map(Number)
  return major < MIN[0] || (major === MIN[0] && minor < MIN[1])
}

const run = (cmd, args, options = {}) => {
  const result = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...options })
  if (result.error) throw result.error
  return result.status ?? 1
}

// npm's own entry point, so npm can run under the fetched Node.
const npmCli = () => {
  const candidates = [
    process.env.npm_execpath,
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js")
  ].filter(Boolean)
  const found = candidates.find((p) => p.endsWith(".js") && existsSync(p))
  if (!found) throw new Error("toolchain: cannot find npm-cli.js; run this through `npm run` or `npm test`")
  return found
}

const ensureNode = () => {
  if (!tooOld(process.versions.node)) return process.execPath
  const pkg = `node-${process.platform}-${process.arch}`
  const dir = join(root, ".toolchain")
  const bin = join(dir, "node_modules", pkg, "bin", "node")
  if (existsSync(bin)) return bin
  console.error(
    `toolchain: Node ${process.versions.node} is older than ${
      MIN.join(".")
    }; fetching ${pkg}@${NODE_MAJOR} from the npm registry`
  )
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "package.json"), JSON.stringify({ private: true, name: "porter-toolchain" }) + "\n")
  const status = run(process.execPath, [
    npmCli(),
    "install",
    "--no-save",
    "--no-package-lock",
    "--no-audit",
    "--no-fund",
    `${pkg}@${NODE_MAJOR}`
  ], { cwd: dir })
  if (status !== 0 || !existsSync(bin)) throw new Error(`toolchain: installing ${pkg}@${NODE_MAJOR} failed`)
  return bin
}

// `npm ci` when node_modules is missing or older than the lockfile.
const ensureDependencies = (node) => {
  const lock = join(root, "package-lock.json")
  const marker = join(root, "node_modules", ".package-lock.json")
  const fresh = existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs
  if (fresh) return
  console.error("toolchain: installing dependencies (npm ci)")
  const status = run(node, [npmCli(), "ci", "--no-audit", "--no-fund"], { env: withPath(node) })
  if (status !== 0) throw new Error("toolchain: npm ci failed")
}

const withPath = (node) => ({
  ...process.env,
  PATH: [dirname(node), join(root, "node_modules", ".bin"), process.env.PATH].join(delimiter),
  PORTER_NODE: node,
  PORTER_NPM_CLI: npmCli()
})

const main = () => {
  const [command, ...args] = process.argv.slice(2)
  const node = ensureNode()
  if (process.env.PORTER_SKIP_INSTALL !== "1") ensureDependencies(node)
  if (!command) return 0
  const env = withPath(node)
  // `node` and `npm` mean the toolchain's, whatever PATH the caller had.
  if (command === "node") return run(node, args, { env })
  if (command === "npm") return run(node, [npmCli(), ...args], { env })
  return run(command, args, { env, shell: false })
}

try {
  process.exitCode = main()
} catch (error) {
  console.error(String(error instanceof Error ? error.message : error))
  process.exitCode = 1
}
