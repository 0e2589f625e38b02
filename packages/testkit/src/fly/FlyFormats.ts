/**
 * Fly's formats as the local machines server reads and writes them: request bodies (decoded leniently, as Fly ignores
 * fields it does not know, but typed where the server uses them), stop signals and restart policies, Go durations,
 * Fly's ids (ULIDs, hex), image references, and Fly's rules for guest sizes.
 */
import { Schema } from "effect"
import { randomBytes } from "node:crypto"
import type { Signal } from "./Runtimes.ts"

// Request bodies, decoded leniently (Fly ignores fields it does not know) but typed where the server uses them.
const Guest = Schema.Struct({
  cpu_kind: Schema.optionalKey(Schema.String),
  cpus: Schema.optionalKey(Schema.Number),
  memory_mb: Schema.optionalKey(Schema.Number)
})
const MachineConfig = Schema.Struct({
  image: Schema.optionalKey(Schema.String),
  env: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  guest: Schema.optionalKey(Guest),
  auto_destroy: Schema.optionalKey(Schema.Boolean),
  restart: Schema.optionalKey(Schema.Struct({ policy: Schema.optionalKey(Schema.String) })),
  stop_config: Schema.optionalKey(Schema.Struct({
    signal: Schema.optionalKey(Schema.String),
    timeout: Schema.optionalKey(Schema.Union([Schema.String, Schema.Number]))
  }))
})
const CreateBody = Schema.Struct({
  config: MachineConfig,
  name: Schema.optionalKey(Schema.String),
  region: Schema.optionalKey(Schema.String),
  skip_launch: Schema.optionalKey(Schema.Boolean)
})
const StopBody = Schema.Struct({
  signal: Schema.optionalKey(Schema.String),
  timeout: Schema.optionalKey(Schema.Union([Schema.String, Schema.Number]))
})
const CreateAppBody = Schema.Struct({ name: Schema.String, org_slug: Schema.optionalKey(Schema.String) })
export const decodeCreate = Schema.decodeUnknownResult(CreateBody)
export const decodeStop = Schema.decodeUnknownResult(StopBody)
export const decodeCreateApp = Schema.decodeUnknownResult(CreateAppBody)

export const SIGNALS: ReadonlyArray<Signal> = [
  "SIGTERM",
  "SIGKILL",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2"
]
export const RESTART_POLICIES = ["no", "always", "on-failure", "spot-price"]

/** Go durations (`"10s"`, `"1m30s"`, `"500ms"`) or nanoseconds, as milliseconds. */
export const parseDuration = (value: string | number | undefined): number | undefined => {
  if (value === undefined) return undefined
  if (typeof value === "number") return value / 1e6
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  let matched = false
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(amount) * units[unit!]!
    matched = true
  }
  return matched ? total : undefined
}

export const hex = (bytes: number) => randomBytes(bytes).toString("hex")

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
export const ulid = () => {
  let out = ""
  let time = Date.now()
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32] + out
    time = Math.floor(time / 32)
  }
  for (const byte of randomBytes(16)) out += CROCKFORD[byte & 31]
  return out
}

export const imageRef = (image: string) => {
  const [path, digest] = image.split("@") as [string, string | undefined]
  const slash = path.indexOf("/")
  const hasRegistry = slash > 0 && /[.:]|localhost/.test(path.slice(0, slash))
  const registry = hasRegistry ? path.slice(0, slash) : "docker.io"
  const rest = hasRegistry ? path.slice(slash + 1) : path
  const colon = rest.lastIndexOf(":")
  return {
    registry,
    repository: colon > 0 ? rest.slice(0, colon) : rest,
    tag: colon > 0 ? rest.slice(colon + 1) : "latest",
    digest: digest ?? "",
    labels: {}
  }
}

/** Fly's guest rules: sizes, and memory per CPU by kind. `undefined` when valid, else the 422 text. */
export const checkGuest = (guest: { cpuKind: string; cpus: number; memoryMb: number }): string | undefined => {
  if (guest.cpuKind !== "shared" && guest.cpuKind !== "performance") {
    return `invalid config.guest.cpu_kind: "${guest.cpuKind}" (must be "shared" or "performance")`
  }
  if (![1, 2, 4, 8, 16].includes(guest.cpus) || (guest.cpuKind === "shared" && guest.cpus > 8)) {
    return `invalid config.guest.cpus: ${guest.cpus} ${guest.cpuKind} CPUs is not an available size`
  }
  if (!Number.isInteger(guest.memoryMb) || guest.memoryMb <= 0 || guest.memoryMb % 256 !== 0) {
    return `invalid config.guest.memory_mb: ${guest.memoryMb} MB (memory must be a multiple of 256 MB)`
  }
  const [perCpuMin, perCpuMax] = guest.cpuKind === "shared" ? [256, 2048] : [2048, 8192]
  const [min, max] = [perCpuMin * guest.cpus, perCpuMax * guest.cpus]
  if (guest.memoryMb < min || guest.memoryMb > max) {
    return `invalid config.guest.memory_mb: ${guest.memoryMb} MB is outside ${min}–${max} MB ` +
      `for ${guest.cpus} ${guest.cpuKind} CPU(s)`
  }
  return undefined
}
