/**
 * Runs Porter's benchmarks and writes their tables into `bench/RESULTS.md`:
 *
 *   node --conditions=@porter/source bench/run.ts [name…] [--quick] [--no-write]
 *   npm run bench [-- name… --quick --no-write]
 *
 * Names: `intake`, `durable`, `agent-start`, `runner`, `commits`, `watchdog`, `bundle`, `web`, `gateway` (default: all
 * nine, in that order). Each runs as a child process, one after the other (they would disturb each other's figures); its
 * output is shown as it comes, and its tables replace what `RESULTS.md` holds between `<!-- bench:<name> -->` and
 * `<!-- /bench:<name> -->`, with the command that produced them. `--quick` runs smaller versions (to check that
 * everything works; the figures are not worth recording, so `--quick` implies `--no-write`). Never part of
 * `npm test`.
 */
import { spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

interface Bench {
  readonly name: string
  readonly script: string
  readonly args: ReadonlyArray<string>
  readonly quick: ReadonlyArray<string>
}

const BENCHES: ReadonlyArray<Bench> = [
  {
    name: "intake",
    script: "bench/intake/run.ts",
    args: ["--profile"],
    quick: ["--connections", "10", "--requests", "400", "--rounds", "2", "--warmup", "100"]
  },
  {
    name: "durable",
    script: "bench/durable/run.ts",
    args: [],
    quick: ["--connections", "1,10", "--requests", "400", "--rounds", "2", "--warmup", "100"]
  },
  { name: "agent-start", script: "bench/agent-start/run.ts", args: ["--runs", "10"], quick: ["--runs", "2"] },
  {
    name: "runner",
    script: "bench/runner/overhead.ts",
    args: [],
    quick: ["--files", "2000", "--history-mb", "10", "--runs", "2"]
  },
  { name: "commits", script: "bench/commits/run.ts", args: ["--runs", "8"], quick: ["--runs", "1", "--large", "200"] },
  {
    name: "watchdog",
    script: "bench/watchdog/scale.ts",
    args: [],
    quick: ["--sizes", "10000", "--runs", "3", "--due", "30"]
  },
  { name: "bundle", script: "bench/worker/bundle.ts", args: [], quick: ["--runs", "2"] },
  { name: "web", script: "bench/web/tasklist.ts", args: [], quick: ["--requests", "20"] },
  {
    name: "gateway",
    script: "bench/gateway/run.ts",
    args: [],
    quick: ["--calls", "20", "--streams", "10", "--profile-calls", "20", "--first-token-calls", "5"]
  }
]

const root = fileURLToPath(new URL("..", import.meta.url))
const results = fileURLToPath(new URL("./RESULTS.md", import.meta.url))
const args = process.argv.slice(2)
const quick = args.includes("--quick")
const write = !quick && !args.includes("--no-write")
const names = args.filter((a) => !a.startsWith("--"))
const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n))
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; choose from ${BENCHES.map((b) => b.name).join(", ")}`)
  process.exit(2)
}
const selected = names.length === 0 ? BENCHES : BENCHES.filter((b) => names.includes(b.name))

/** Runs one benchmark; its stdout, also shown as it comes (stderr goes straight to the terminal). */
const run = (bench: Bench, argv: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [
      "--conditions=@porter/source",
      "--disable-warning=ExperimentalWarning",
      bench.script,
      ...argv
    ], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
      process.stdout.write(chunk)
    })
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve(output) : reject(new Error(`${bench.name} exited with ${code}`))))
  })

/** Replaces the benchmark's marked block in RESULTS.md (or appends one). */
const record = (bench: Bench, command: string, output: string) => {
  const open = `<!-- bench:${bench.name} -->`
  const close = `<!-- /bench:${bench.name} -->`
  const block = `${open}\n\`${command}\`\n\n${output.trim()}\n${close}`
  const text = readFileSync(results, "utf8")
  const start = text.indexOf(open)
  const end = text.indexOf(close)
  writeFileSync(
    results,
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + close.length)
      : `${text.trimEnd()}\n\n${block}\n`
  )
}

let failed = 0
for (const bench of selected) {
  const argv = quick ? bench.quick : bench.args
  const command = `node --conditions=@porter/source ${[bench.script, ...argv].join(" ")}`
  console.log(`\n=== ${bench.name}: ${command}\n`)
  try {
    const output = await run(bench, argv)
    if (write) record(bench, command, output)
  } catch (error) {
    failed++
    console.error(`\n${bench.name} failed: ${error instanceof Error ? error.message : String(error)}`)
  }
}
if (write && failed < selected.length) console.log(`\nUpdated ${results}.`)
process.exitCode = failed > 0 ? 1 : 0
