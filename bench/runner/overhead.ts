/**
 * The runner's own time on a repository of realistic size, against plain git doing the same work:
 *
 *   node --conditions=@porter/source bench/runner/overhead.ts [--files 20000] [--history-mb 200] [--runs 5] [--disk]
 *
 * The repository is generated once with `git fast-import` straight into the GitHub emulator's bare repository:
 * `files` files of ~1.5 KB at the tip, and commits each rewriting 1,000 files with new random content until the
 * pack holds about `history-mb` MB (random content: git cannot compress it away). The runner is the bundle the
 * machine image ships (`dist/runner.mjs`), run as a machine runs it — with Node's compile cache warmed by one run
 * beforehand, as the image's build does (`NODE_COMPILE_CACHE`) — with the `script` agent appending one line to a
 * file. Since issue 14 the machine holds no GitHub token: it clones through Porter's read-only git proxy with the
 * task token and sends its work to Porter as a change set. Porter here is the runner tests' fake Porter
 * (`packages/runner/test/support/FakePorter.ts`): its git proxy forwards upload-pack to the emulator with an
 * installation token, and it "publishes" a change set with `git fast-import` on the emulator's bare repository.
 *
 * - **before the agent**: process start → `==> agent` on its stdout (decode the environment, `started` callback,
 *   clone through the proxy, branch); against `git clone --depth 1` of the same repository through the same proxy
 *   with the same task token. The runner runs twice per round: as it is (a full depth-1 clone) and with
 *   `PORTER_CLONE_FILTER=blob:none` (a partial clone: the blobs come in a second fetch during the checkout).
 * - **after the agent**: `==> commit` on its stdout → process exit (commit, change set built and sent, the fake
 *   Porter's publish, `completed` callback); against `git add -A && git commit && git push` of the same change from
 *   a plain clone, pushed straight to the emulator with the installation token (the proxy is read-only). Not the
 *   same work any more: `bench/commits` compares the new path with the real Worker against `git push`.
 *
 * Medians of `runs`; the runs alternate, so a change in the machine's load hits both alike.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { appendFileSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakePorter from "../../packages/runner/test/support/FakePorter.ts"
import * as Forge from "../../packages/runner/test/support/Forge.ts"
import { baseEnv, buildBundle, newTaskId, promptFor, taskEnv } from "../../packages/runner/test/support/Harness.ts"
import { fixed, machine, median, table } from "../worker/support.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback
}
const files = Number(option("files", "20000"))
const historyMb = Number(option("history-mb", "200"))
const runs = Number(option("runs", "5"))

const gitEnv = {
  ...baseEnv(),
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Bench",
  GIT_AUTHOR_EMAIL: "bench@example.com",
  GIT_COMMITTER_NAME: "Bench",
  GIT_COMMITTER_EMAIL: "bench@example.com",
  GIT_TERMINAL_PROMPT: "0"
}

const pathOf = (i: number) => `src/pkg${i % 50}/mod${Math.floor(i / 50) % 20}/file${i}.ts`
const content = () =>
  `export const data = [\n${randomBytes(1100).toString("base64").replace(/.{76}/g, "  \"$&\",\n")}]\n`

/** Writes the history into `bare` with `git fast-import` (replacing `main`); returns commits and pack size. */
const generate = async (bare: string) => {
  const child = spawn("git", ["--git-dir", bare, "fast-import", "--force", "--quiet"], {
    env: gitEnv,
    stdio: ["pipe", "inherit", "inherit"]
  })
  let failed: Error | undefined
  child.stdin.on("error", (error) => (failed = error))
  const write = (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed)
      if (child.stdin.write(text)) resolve()
      else child.stdin.once("drain", resolve)
    })
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`
  const commit = async (n: number, changes: ReadonlyArray<number>) => {
    const time = 1_700_000_000 + n * 3600
    await write(`commit refs/heads/main\ncommitter Bench <bench@example.com> ${time} +0000\n${data(`commit ${n}`)}`)
    if (n === 0) await write("deleteall\n")
    for (const i of changes) await write(`M 100644 inline ${pathOf(i)}\n${data(content())}`)
  }
  let bytes = 0
  let commits = 0
  await commit(commits++, Array.from({ length: files }, (_, i) => i))
  bytes += files * 1500
  while (bytes < historyMb * 1_000_000) {
    await commit(commits++, Array.from({ length: 1000 }, () => Math.floor(Math.random() * files)))
    bytes += 1000 * 1500
    process.stderr.write(`\rgenerating history… ${commits} commits `)
  }
  child.stdin.end()
  await new Promise<void>((resolve, reject) =>
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`fast-import exited ${code}`))))
  )
  process.stderr.write("\n")
  const counted = execFileSync("git", ["--git-dir", bare, "count-objects", "-v"], { env: gitEnv, encoding: "utf8" })
  const packKiB = Number(/size-pack: (\d+)/.exec(counted)?.[1] ?? 0)
  return { commits, packMb: packKiB / 1024 }
}

/** Starts `command`; resolves with the time until each `marks` pattern appeared on stdout and until the exit. */
const timed = (
  command: string,
  argv: ReadonlyArray<string>,
  env: Record<string, string>,
  marks: ReadonlyArray<RegExp>,
  cwd?: string
) =>
  new Promise<
    {
      readonly marks: ReadonlyArray<number | undefined>
      readonly exit: number
      readonly code: number | null
      readonly output: string
    }
  >(
    (resolve, reject) => {
      const started = performance.now()
      const child: ChildProcess = spawn(command, argv, { env, cwd, stdio: ["ignore", "pipe", "pipe"] })
      const seen: Array<number | undefined> = marks.map(() => undefined)
      let output = ""
      const onData = (chunk: Buffer) => {
        const at = performance.now() - started
        output += chunk.toString("utf8")
        marks.forEach((mark, i) => {
          if (seen[i] === undefined && mark.test(output)) seen[i] = at
        })
      }
      child.stdout?.on("data", onData)
      child.stderr?.on("data", onData)
      child.on("error", reject)
      child.on("close", (code) => resolve({ marks: seen, exit: performance.now() - started, code, output }))
    }
  )

const git = (argv: ReadonlyArray<string>, cwd: string) => timed("git", argv, gitEnv, [], cwd)

console.log(`Machine: ${await machine()}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.\n`)
const forge = await Forge.start()
const porter = await FakePorter.start(forge)
// Working trees on a RAM disk when there is one: on this machine's disk (ext4 with `discard`), writing 20,000 files
// right after deleting the previous run's 20,000 became slower run after run (the checkout went from 0.8 s to 7 s),
// which measured the disk, not git or the runner. `--disk` keeps them in the system's temporary directory.
const ramDisk = !args.includes("--disk") && existsSync("/dev/shm") ? "/dev/shm" : tmpdir()
const temp = mkdtempSync(join(ramDisk, "porter-bench-runner-"))
try {
  const entry = await buildBundle()
  // Node's compile cache, warmed like the image's build does (`node runner.mjs` once, with no task).
  const compileCache = join(temp, "compile-cache")
  await timed(process.execPath, [entry], { ...baseEnv(), NODE_COMPILE_CACHE: compileCache }, [])
  const repo = await forge.createRepo("big")
  const generated = performance.now()
  const { commits, packMb } = await generate(forge.barePath(repo))
  const generateSeconds = (performance.now() - generated) / 1000
  // Plain git reads through the same proxy with the same kind of task token, and pushes (which the proxy refuses)
  // straight to the emulator with the installation token, as machines did before issue 14.
  const readAuth = `http.extraHeader=Authorization: Bearer ${porter.token}`
  const pushAuth = `http.extraHeader=Authorization: Basic ${
    Buffer.from(`x-access-token:${forge.token}`).toString("base64")
  }`
  const pushUrl = `${forge.url}/${repo}.git`
  const taskIds: Array<string> = []

  const plainClone: Array<number> = []
  const plainPush: Array<number> = []
  const runnerBefore: Array<number> = []
  const runnerAfter: Array<number> = []
  const runnerTotal: Array<number> = []
  const cloneStep: Array<number> = []
  const partialBefore: Array<number> = []
  const partialClone: Array<number> = []
  for (let run = 0; run < runs; run++) {
    // Plain git: clone, the same one-line change, commit, push to a new branch.
    const dir = join(temp, `plain-${run}`)
    const { cloneUrl } = porter.task(newTaskId(), repo, `plain-${run}`)
    const clone = await git(["-c", readAuth, "clone", "-q", "--depth", "1", cloneUrl, dir], temp)
    if (clone.code !== 0) throw new Error(`git clone failed: ${clone.output}`)
    plainClone.push(clone.exit)
    const started = performance.now()
    appendFileSync(join(dir, "PORTER_BENCH.md"), `- bench run ${run}\n`)
    for (
      const argv of [["add", "-A"], ["commit", "-q", "-m", `bench run ${run}`], [
        "-c",
        pushAuth,
        "push",
        "-q",
        pushUrl,
        `HEAD:refs/heads/plain-${run}`
      ]]
    ) {
      const step = await git(argv, dir)
      if (step.code !== 0) throw new Error(`git ${argv.join(" ")} failed: ${step.output}`)
    }
    plainPush.push(performance.now() - started)
    rmSync(dir, { recursive: true, force: true })

    // The runner, the same change through the script agent: as it is (a full clone), and with a partial clone
    // (`PORTER_CLONE_FILTER=blob:none`).
    for (const filter of ["default", "blob:none"] as const) {
      const taskId = newTaskId()
      taskIds.push(taskId)
      const env = taskEnv({
        taskId,
        repo,
        porter,
        issueNumber: 100 + run,
        agent: "script",
        prompt: promptFor(`append a line\n\n\`\`\`porter-script\nappend PORTER_BENCH.md - bench run ${run}\n\`\`\``),
        deadlineInMs: 600_000,
        extra: {
          PORTER_WORKDIR: join(temp, `runner-${run}-${filter}`),
          NODE_COMPILE_CACHE: compileCache,
          ...(filter === "blob:none" ? { PORTER_CLONE_FILTER: "blob:none" } : {})
        }
      })
      const result = await timed(process.execPath, [entry], { ...baseEnv(), ...env }, [
        /==> branch/,
        /==> agent/,
        /==> commit/
      ])
      if (result.code !== 0) throw new Error(`the runner exited ${result.code}:\n${result.output.slice(-3000)}`)
      const [branch, agent, commit] = result.marks
      if (branch === undefined || agent === undefined || commit === undefined) {
        throw new Error(`steps missing:\n${result.output}`)
      }
      if (filter === "default") {
        cloneStep.push(branch)
        runnerBefore.push(agent)
        runnerAfter.push(result.exit - commit)
        runnerTotal.push(result.exit)
      } else {
        partialClone.push(branch)
        partialBefore.push(agent)
      }
      rmSync(join(temp, `runner-${run}-${filter}`), { recursive: true, force: true })
    }
    process.stderr.write(`\rrun ${run + 1}/${runs} `)
  }
  process.stderr.write("\n")
  const published = taskIds.filter((id) => porter.changes(id).some((c) => c.status === 200)).length

  console.log(
    `### Runner overhead (${files.toLocaleString("en")} files, ${commits} commits, ${packMb.toFixed(0)} MB pack)\n`
  )
  console.log(
    `Medians of ${runs} runs (ms); the runner is the bundle, \`script\` agent appending one line; both clones ` +
      "through the fake Porter's read-only git proxy (task token) in front of the GitHub emulator; working " +
      `trees in ${
        ramDisk === "/dev/shm" ? "a RAM disk (/dev/shm)" : ramDisk
      }; Node's compile cache warmed as in the image.\n`
  )
  const ratio = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => `${fixed(median(a) / median(b))}×`
  // The runs alternate, so each round's own ratio is steadier than the ratio of medians on a busy machine.
  const perRound = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
    `${fixed(median(a.map((x, i) => x / b[i]!)))}×`
  console.log(table(
    ["phase", "runner", "plain git", "runner / plain", "median of per-round ratios", "runs (runner)"],
    [
      [
        "before the agent (start → agent) vs `git clone --depth 1`",
        fixed(median(runnerBefore), 0),
        fixed(median(plainClone), 0),
        ratio(runnerBefore, plainClone),
        perRound(runnerBefore, plainClone),
        runnerBefore.map((t) => t.toFixed(0)).join(" ")
      ],
      [
        "  of which start → clone done",
        fixed(median(cloneStep), 0),
        "",
        "",
        "",
        cloneStep.map((t) => t.toFixed(0)).join(" ")
      ],
      [
        "before the agent, partial clone (`PORTER_CLONE_FILTER=blob:none`)",
        fixed(median(partialBefore), 0),
        fixed(median(plainClone), 0),
        ratio(partialBefore, plainClone),
        perRound(partialBefore, plainClone),
        partialBefore.map((t) => t.toFixed(0)).join(" ")
      ],
      [
        "  of which start → clone done",
        fixed(median(partialClone), 0),
        "",
        "",
        "",
        partialClone.map((t) => t.toFixed(0)).join(" ")
      ],
      [
        "after the agent (commit → exit: change set, fake Porter, callback) vs commit + push",
        fixed(median(runnerAfter), 0),
        fixed(median(plainPush), 0),
        ratio(runnerAfter, plainPush),
        perRound(runnerAfter, plainPush),
        runnerAfter.map((t) => t.toFixed(0)).join(" ")
      ],
      ["whole run", fixed(median(runnerTotal), 0), "", "", "", runnerTotal.map((t) => t.toFixed(0)).join(" ")]
    ]
  ))
  console.log(
    `\nPlain clone runs: ${plainClone.map((t) => t.toFixed(0)).join(" ")} ms; plain commit + push: ` +
      `${plainPush.map((t) => t.toFixed(0)).join(" ")} ms. Generating the history took ${
        generateSeconds.toFixed(0)
      } s. ` +
      `Change sets published by the fake Porter: ${published}/${2 * runs}.`
  )
} finally {
  await porter.close()
  await forge.close()
  rmSync(temp, { recursive: true, force: true })
}
