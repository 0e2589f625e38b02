/**
 * CPU profiles of a benchmark's child server without its start-up: with `PROFILE_OUT` set, SIGUSR2 starts V8's
 * sampling profiler (through `node:inspector`, in the process itself) and SIGHUP stops it and writes the profile
 * (`.cpuprofile` JSON) to `PROFILE_OUT`. Without `PROFILE_OUT` it does nothing.
 */
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"

export const install = async (): Promise<void> => {
  const out = process.env["PROFILE_OUT"]
  if (!out) return
  const session = new Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 100 })
  process.on("SIGUSR2", () => void session.post("Profiler.start"))
  process.on("SIGHUP", () =>
    void session.post("Profiler.stop").then(({ profile }) => {
      writeFileSync(out, JSON.stringify(profile))
    }))
}
