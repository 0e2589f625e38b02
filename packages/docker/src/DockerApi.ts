/**
 * The part of the Docker Engine API Porter uses (paths without a version prefix, so the daemon's own API version
 * applies; checked against Engine 20.10 / API 1.41 and later): request bodies, response schemas (only the fields
 * Porter reads — notably never a container's `Env`, which holds the machine's secrets), Porter's labels, the
 * `DOCKER_HOST` forms, container states onto core's machine states, and the log stream's framing.
 */
import type { MachineProvisioner } from "@porter/core"
import { Schema } from "effect"

/** Label on every container Porter makes. */
export const LABEL_PORTER = "porter"
/** Label with the container's task id. */
export const LABEL_TASK_ID = "porter.task_id"
/** Label naming the Porter deployment, when several share one daemon (`instance` option). */
export const LABEL_INSTANCE = "porter.instance"
/** Label with the task's deadline (epoch millis), enforced by the provisioner (also after a restart). */
export const LABEL_DEADLINE = "porter.deadline_at"

/** Where the Docker daemon listens unless `DOCKER_HOST` says otherwise. */
export const DEFAULT_HOST = "unix:///var/run/docker.sock"

/** Where the daemon listens: a unix socket, or an HTTP base URL (`tcp://` is HTTP). TLS is not supported. */
export type Host =
  | { readonly _tag: "Unix"; readonly socketPath: string; readonly display: string }
  | { readonly _tag: "Http"; readonly baseUrl: string; readonly display: string }

/** Parses `DOCKER_HOST`: `unix:///path`, `/path`, `tcp://host:port`, `http://host:port[/prefix]`. */
export const parseHost = (text: string): Host | undefined => {
  const value = text.trim()
  if (value === "") return undefined
  if (value.startsWith("/")) return { _tag: "Unix", socketPath: value, display: `unix://${value}` }
  if (value.startsWith("unix://")) {
    const socketPath = value.slice("unix://".length)
    return socketPath.startsWith("/") ? { _tag: "Unix", socketPath, display: value } : undefined
  }
  const match = /^(tcp|http):\/\/([^/\s]+)(\/[^\s]*)?$/.exec(value)
  if (match === null) return undefined
  const baseUrl = `http://${match[2]}${(match[3] ?? "").replace(/\/+$/, "")}`
  return { _tag: "Http", baseUrl, display: value }
}

const Labels = Schema.NullOr(Schema.Record(Schema.String, Schema.String))

/** `GET /containers/{id}/json` (the fields Porter reads). */
export const ContainerInspect = Schema.Struct({
  Id: Schema.String,
  Name: Schema.optional(Schema.String),
  Created: Schema.optional(Schema.String),
  State: Schema.Struct({
    Status: Schema.String,
    Running: Schema.optional(Schema.Boolean),
    ExitCode: Schema.optional(Schema.Number),
    OOMKilled: Schema.optional(Schema.Boolean),
    Error: Schema.optional(Schema.String),
    StartedAt: Schema.optional(Schema.String),
    FinishedAt: Schema.optional(Schema.String)
  }),
  Config: Schema.Struct({
    Image: Schema.optional(Schema.String),
    Labels: Schema.optional(Labels)
  }),
  HostConfig: Schema.optional(Schema.Struct({
    NanoCpus: Schema.optional(Schema.Number),
    Memory: Schema.optional(Schema.Number),
    AutoRemove: Schema.optional(Schema.Boolean),
    Init: Schema.optional(Schema.NullOr(Schema.Boolean)),
    NetworkMode: Schema.optional(Schema.String)
  }))
})
export type ContainerInspect = typeof ContainerInspect.Type

/** One entry of `GET /containers/json`. */
export const ContainerSummary = Schema.Struct({
  Id: Schema.String,
  Names: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  Image: Schema.optional(Schema.String),
  /** Epoch seconds. */
  Created: Schema.optional(Schema.Number),
  State: Schema.String,
  Status: Schema.optional(Schema.String),
  Labels: Schema.optional(Labels)
})
export type ContainerSummary = typeof ContainerSummary.Type

/** `GET /containers/json`: the containers' summaries. */
export const ContainerList = Schema.Array(ContainerSummary)

/** `POST /containers/create`. */
export const CreateResponse = Schema.Struct({
  Id: Schema.String,
  Warnings: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
})

/** `POST /containers/{id}/wait`. */
export const WaitResponse = Schema.Struct({
  StatusCode: Schema.Number,
  Error: Schema.optional(Schema.NullOr(Schema.Struct({ Message: Schema.optional(Schema.String) })))
})

/** `GET /info` (the fields Porter reads). */
export const Info = Schema.Struct({
  NCPU: Schema.optional(Schema.Number),
  MemTotal: Schema.optional(Schema.Number),
  ServerVersion: Schema.optional(Schema.String)
})

/** `GET /version`. */
export const Version = Schema.Struct({
  Version: Schema.String,
  ApiVersion: Schema.String
})

/** Every error answer. */
export const ErrorResponse = Schema.Struct({ message: Schema.String })

/** `POST /containers/create` body (the fields Porter sets). */
export interface CreateContainerRequest {
  readonly Image: string
  readonly Env: ReadonlyArray<string>
  readonly Labels: Readonly<Record<string, string>>
  readonly Cmd?: ReadonlyArray<string>
  readonly StopTimeout?: number
  readonly HostConfig: {
    readonly NanoCpus?: number
    readonly Memory?: number
    readonly AutoRemove: boolean
    readonly Init?: boolean
    readonly NetworkMode?: string
    readonly ExtraHosts?: ReadonlyArray<string>
  }
}

/** Docker's container states onto core's. */
export const toMachineState = (status: string): MachineProvisioner.MachineState => {
  switch (status) {
    case "created":
      return "created"
    case "running":
      return "started"
    case "paused":
      return "suspended"
    case "restarting":
      return "starting"
    case "removing":
      return "destroying"
    case "exited":
      return "stopped"
    case "dead":
      return "failed"
    default:
      // An unknown state of a container that exists: keep tracking it.
      return "started"
  }
}

/** One frame of a container's multiplexed log: its stream and text. */
export interface LogFrame {
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/**
 * Splits `GET /containers/{id}/logs` output. Without a TTY it is framed: 8-byte headers (stream 1 = stdout,
 * 2 = stderr; big-endian length) before each payload. With a TTY it is raw text (reported as stdout).
 */
export const demuxLogs = (bytes: Uint8Array): ReadonlyArray<LogFrame> => {
  const framed = bytes.length >= 8 && (bytes[0] === 0 || bytes[0] === 1 || bytes[0] === 2) && bytes[1] === 0 &&
    bytes[2] === 0 && bytes[3] === 0
  if (!framed) return bytes.length === 0 ? [] : [{ stream: "stdout", text: new TextDecoder().decode(bytes) }]
  // One decoder per stream: a character may be split between two frames of its stream.
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() }
  const frames: Array<LogFrame> = []
  let offset = 0
  while (offset + 8 <= bytes.length) {
    const kind = bytes[offset]
    const size = ((bytes[offset + 4]! << 24) >>> 0) + (bytes[offset + 5]! << 16) + (bytes[offset + 6]! << 8) +
      bytes[offset + 7]!
    const end = Math.min(bytes.length, offset + 8 + size)
    const stream = kind === 2 ? "stderr" : "stdout"
    frames.push({ stream, text: decoders[stream].decode(bytes.subarray(offset + 8, end), { stream: true }) })
    offset = end
  }
  return frames
}

/** Log output as lines, stdout and stderr interleaved in order. */
export const logLines = (bytes: Uint8Array): ReadonlyArray<string> => {
  const text = demuxLogs(bytes).map((f) => f.text).join("")
  if (text === "") return []
  const lines = text.split("\n")
  if (lines.at(-1) === "") lines.pop()
  return lines.map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line))
}
