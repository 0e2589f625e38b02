// The local machines server in Docker mode, against a real Docker daemon (the docker tier: `npm test` skips it,
// saying why, when no daemon answers; CI starts dockerd). The test image is built here, offline: the host's `sh`,
// `sleep` and `env` with their libraries, imported through the Engine API (the server itself never pulls images).
import { assert, describe, layer } from "@effect/vitest"
import { type Server, start } from "@porter/testkit/fly"
import { Context, Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import { readFileSync, realpathSync, statSync } from "node:fs"
import { request } from "node:http"

const SOCKET = process.env["DOCKER_SOCKET"] ?? "/var/run/docker.sock"
const IMAGE = "porter-machines-test:1"

/** One request to the Docker Engine API over its unix socket. */
const docker = (method: string, path: string, body?: Uint8Array) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({
      socketPath: SOCKET,
      method,
      path,
      headers: body ? { "content-type": "application/x-tar" } : {}
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }))
    })
    req.on("error", reject)
    req.end(body)
  })

/** A ustar archive of `files` (absolute path → content), with their directories. */
const tar = (files: ReadonlyMap<string, Uint8Array>): Uint8Array => {
  const blocks: Array<Uint8Array> = []
  const header = (name: string, size: number, type: "0" | "5", mode: number) => {
    const h = new Uint8Array(512)
    const put = (text: string, at: number, length: number) => h.set(new TextEncoder().encode(text).slice(0, length), at)
    const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, "0")
    put(name, 0, 100)
    put(octal(mode, 8), 100, 8)
    put(octal(0, 8), 108, 8)
    put(octal(0, 8), 116, 8)
    put(octal(size, 12), 124, 12)
    put(octal(0, 12), 136, 12)
    put("        ", 148, 8)
    put(type, 156, 1)
    put("ustar\u000000", 257, 8)
    const sum = h.reduce((a, b) => a + b, 0)
    put(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8)
    return h
  }
  const dirs = new Set<string>()
  for (const path of files.keys()) {
    const parts = path.split("/").filter((p) => p !== "")
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"))
  }
  for (const dir of [...dirs].sort()) blocks.push(header(`${dir}/`, 0, "5", 0o755))
  for (const [path, content] of files) {
    blocks.push(header(path.replace(/^\//, ""), content.length, "0", 0o755))
    blocks.push(content)
    const pad = (512 - (content.length % 512)) % 512
    if (pad > 0) blocks.push(new Uint8Array(pad))
  }
  blocks.push(new Uint8Array(1024))
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0))
  let at = 0
  for (const b of blocks) {
    out.set(b, at)
    at += b.length
  }
  return out
}

const buildImage = async () => {
  const binaries = ["/bin/sh", "/bin/sleep", "/usr/bin/env"]
  const files = new Map<string, Uint8Array>()
  for (const binary of binaries) {
    files.set(binary, readFileSync(realpathSync(binary)))
    for (const line of execFileSync("ldd", [binary], { encoding: "utf8" }).split("\n")) {
      const path = /(\/\S+) \(0x/.exec(line)?.[1]
      if (path && statSync(path).isFile()) files.set(path, readFileSync(realpathSync(path)))
    }
  }
  const answer = await docker("POST", `/images/create?fromSrc=-&repo=porter-machines-test&tag=1`, tar(files))
  if (answer.status !== 200) throw new Error(`docker import failed: ${answer.status} ${answer.text}`)
}

class Local extends Context.Service<Local, Server>()("test/DockerMachines") {}

const SCRIPT = "echo fake container $FLY_MACHINE_ID task=$TASK_ID; env; " +
  "if [ \"$FAKE_MACHINE\" = exit ]; then exit 4; fi; exec sleep 600"

const dockerServer = Layer.effect(
  Local,
  Effect.andThen(
    Effect.acquireRelease(
      Effect.promise(buildImage),
      () => Effect.promise(() => docker("DELETE", `/images/${IMAGE}?force=true`))
    ),
    start({ docker: { socketPath: SOCKET, cmd: ["/bin/sh", "-c", SCRIPT] } })
  )
)

const create = (env: Record<string, string>, image = IMAGE) =>
  Effect.flatMap(Local, (server) =>
    Effect.promise(async () => {
      const response = await fetch(`${server.url}/apps/${server.app}/machines`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
        body: JSON.stringify({
          config: { image, env, auto_destroy: true, guest: { cpu_kind: "shared", cpus: 1, memory_mb: 256 } }
        })
      })
      return { status: response.status, body: await response.json() as { id: string; error?: string } }
    }))

describe("local machines server on Docker", () => {
  layer(dockerServer, { timeout: 120_000, excludeTestServices: true })((it) => {
    it.effect("runs a machine as a container with only its environment, and removes it on destroy", () =>
      Effect.gen(function*() {
        const server = yield* Local
        assert.strictEqual(server.runtime, "docker")
        process.env["PORTER_HOST_ONLY_VARIABLE"] = "must-not-leak"
        const created = yield* create({ TASK_ID: "t-docker", FAKE_MACHINE: "sleep" })
        delete process.env["PORTER_HOST_ONLY_VARIABLE"]
        assert.strictEqual(created.status, 200)
        const id = created.body.id
        const started = yield* Effect.promise(() => server.waitFor(id, "started", 60_000))
        assert.isString(started.containerId)
        for (let i = 0; i < 500 && !server.logs(id).includes("TASK_ID=t-docker"); i++) yield* Effect.sleep(10)
        const logs = server.logs(id)
        assert.include(logs, `fake container ${id} task=t-docker`)
        assert.include(logs, "FLY_APP_NAME=porter-local")
        assert.notInclude(logs, "PORTER_HOST_ONLY_VARIABLE")

        yield* Effect.promise(() =>
          fetch(`${server.url}/apps/${server.app}/machines/${id}?force=true`, {
            method: "DELETE",
            headers: { authorization: `Bearer ${server.token}` }
          })
        )
        yield* Effect.promise(() => server.waitFor(id, "destroyed", 60_000))
        const inspect = yield* Effect.promise(() => docker("GET", `/containers/${started.containerId}/json`))
        assert.strictEqual(inspect.status, 404, "the container is removed")
      }))

    it.effect("a container that exits stops its machine with its exit code; auto_destroy removes it", () =>
      Effect.gen(function*() {
        const server = yield* Local
        const created = yield* create({ TASK_ID: "t-exit", FAKE_MACHINE: "exit" })
        const gone = yield* Effect.promise(() => server.waitFor(created.body.id, "destroyed", 60_000))
        assert.strictEqual(gone.exitCode, 4)
        assert.include(gone.events.map((e) => e.type), "exit")
      }))

    it.effect("an image that is not there locally is refused, never pulled", () =>
      Effect.gen(function*() {
        const created = yield* create({}, "porter-machines-test:does-not-exist")
        assert.strictEqual(created.status, 422)
        assert.include(created.body.error ?? "", "not found locally")
      }))
  })
})
