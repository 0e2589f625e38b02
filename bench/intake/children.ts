/** Servers under test started as child processes, so their CPU time is theirs alone (`/proc/<pid>/stat`). */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export interface Child {
  readonly url: string
  readonly pid: number
  readonly stop: () => Promise<void>
}

/** Runs `file` (next to this one) with Node and `env`; resolves once it printed a line `{"url":…}`. */
export const startChild = (file: string, env: Record<string, string>): Promise<Child> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        "--conditions=@porter/source",
        "--disable-warning=ExperimentalWarning",
        fileURLToPath(new URL(file, import.meta.url))
      ],
      { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] }
    )
    let buffered = ""
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      // Log lines may come first (a durable store says where its keys are): the line `{"url":…}` counts.
      const line = buffered.split("\n").slice(0, -1).find((text) => text.startsWith("{\"url\""))
      if (line === undefined) return
      child.stdout?.off("data", onData)
      // Whatever it writes afterwards is read and dropped, so that a full pipe never blocks it.
      child.stdout?.resume()
      const { url } = JSON.parse(line) as { url: string }
      resolve({
        url,
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done()
            const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
            child.once("exit", () => {
              clearTimeout(timer)
              done()
            })
            child.kill("SIGTERM")
          })
      })
    }
    child.stdout?.on("data", onData)
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`${file} exited with ${code} before it listened`)))
  })
