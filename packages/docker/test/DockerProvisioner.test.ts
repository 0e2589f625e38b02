// DockerProvisioner and the Engine API client without a daemon: DOCKER_HOST parsing, the requests sent and how
// errors read (a fake Engine API on a local port). Against a real dockerd: DockerProvisioner.docker.test.ts.
import { assert, describe, it } from "@effect/vitest"
import { Ids } from "@porter/core"
import { DockerApi, DockerEngine, DockerProvisioner } from "@porter/docker"
import { Effect, Exit, Layer } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { SECRET, specOf } from "./utils.ts"

describe("DockerApi", () => {
  it("parses DOCKER_HOST", () => {
    assert.deepStrictEqual(DockerApi.parseHost("unix:///var/run/docker.sock"), {
      _tag: "Unix",
      socketPath: "/var/run/docker.sock",
      display: "unix:///var/run/docker.sock"
    })
    assert.deepStrictEqual(DockerApi.parseHost("/run/user/1000/docker.sock")?._tag, "Unix")
    assert.deepStrictEqual(DockerApi.parseHost("tcp://127.0.0.1:2375"), {
      _tag: "Http",
      baseUrl: "http://127.0.0.1:2375",
      display: "tcp://127.0.0.1:2375"
    })
    assert.strictEqual(
      (DockerApi.parseHost("http://docker.internal:2375/prefix/") as { baseUrl: string }).baseUrl,
      "http://docker.internal:2375/prefix"
    )
    for (
      const bad of ["", "unix://relative.sock", "ssh://me@host", "npipe:////./pipe/docker_engine", "https://host:2376"]
    ) {
      assert.isUndefined(DockerApi.parseHost(bad), bad)
    }
  })

  it("maps container states onto machine states", () => {
    assert.deepStrictEqual(
      ["created", "running", "paused", "restarting", "removing", "exited", "dead"].map(DockerApi.toMachineState),
      ["created", "started", "suspended", "starting", "destroying", "stopped", "failed"]
    )
  })

  it("splits framed log output into lines, stdout and stderr in order", () => {
    const frame = (stream: number, text: string) => {
      const payload = new TextEncoder().encode(text)
      const header = new Uint8Array([stream, 0, 0, 0, 0, 0, 0, 0])
      new DataView(header.buffer).setUint32(4, payload.length)
      return [...header, ...payload]
    }
    const bytes = new Uint8Array([...frame(1, "ready\nhalf "), ...frame(2, "line\r\n"), ...frame(1, "last")])
    assert.deepStrictEqual(DockerApi.demuxLogs(bytes).map((f) => f.stream), ["stdout", "stderr", "stdout"])
    assert.deepStrictEqual(DockerApi.logLines(bytes), ["ready", "half line", "last"])
    // A TTY container's output is not framed.
    assert.deepStrictEqual(DockerApi.logLines(new TextEncoder().encode("plain\ntext\n")), ["plain", "text"])
    assert.deepStrictEqual(DockerApi.logLines(new Uint8Array()), [])
  })
})

describe("DockerProvisioner requests and errors", () => {
  it("builds the create request: environment, secrets, labels, limits", () => {
    const taskId = "task_01m84aea2hq379ry400jma9spv" as Ids.TaskId
    const body = DockerProvisioner.createRequest(
      specOf(taskId, { PLAIN: "a=b" }, {
        deadlineAt: 1_700_000_000_123.6,
        guest: { cpuKind: "shared", cpus: 8, memoryMb: 512 }
      }),
      {
        image: "runner:1",
        maxCpus: 2,
        autoRemove: true,
        init: true,
        extraHosts: ["h:host-gateway"],
        stopTimeoutSeconds: 7
      }
    )
    assert.deepStrictEqual(body, {
      Image: "runner:1",
      Env: [`TASK_ID=${taskId}`, "PLAIN=a=b", `CALLBACK_TOKEN=${SECRET}`],
      Labels: { porter: "1", "porter.task_id": taskId, "porter.deadline_at": "1700000000123" },
      StopTimeout: 7,
      HostConfig: {
        NanoCpus: 2_000_000_000,
        Memory: 512 * 1024 * 1024,
        AutoRemove: true,
        Init: true,
        ExtraHosts: ["h:host-gateway"]
      }
    })
  })

  it("explains an unreachable daemon, a missing image and a refused socket", () => {
    const error = (fields: Partial<ConstructorParameters<typeof DockerEngine.DockerEngineError>[0]>) =>
      new DockerEngine.DockerEngineError({
        kind: "status",
        op: "create container",
        host: "unix:///var/run/docker.sock",
        ...fields
      })
    const down = DockerProvisioner.toProvisionError(error({ kind: "transport", code: "ECONNREFUSED" }))
    assert.strictEqual(down.reason, "unavailable")
    assert.include(down.message, "is dockerd running?")
    assert.include(down.message, "DOCKER_HOST")
    const image = DockerProvisioner.toProvisionError(error({ status: 404, engineMessage: "No such image: runner:9" }), {
      image: "runner:9"
    })
    assert.strictEqual(image.reason, "not_found")
    assert.include(image.message, "`runner:9`")
    assert.include(image.message, "docker build -t runner:9 worker-image/")
    assert.include(image.message, "PORTER_MACHINE_IMAGE")
    const denied = DockerProvisioner.toProvisionError(error({ kind: "transport", code: "EACCES" }))
    assert.strictEqual(denied.reason, "unauthorized")
    assert.include(denied.message, "docker")
    const refused = DockerProvisioner.toProvisionError(error({ status: 400, engineMessage: "invalid NanoCPUs" }))
    assert.strictEqual(refused.reason, "bad_config")
    assert.include(refused.message, "invalid NanoCPUs")
    // The Engine's status is kept when there was one, and the Engine's error is the cause.
    assert.strictEqual(refused.status, 400)
    assert.instanceOf(refused.cause, DockerEngine.DockerEngineError)
    assert.isUndefined(down.status)
    assert.instanceOf(down.cause, DockerEngine.DockerEngineError)
  })

  it.effect("without a daemon, every call is a ProvisionError that says to start dockerd or set DOCKER_HOST", () =>
    Effect.gen(function*() {
      const p = yield* DockerProvisioner.DockerProvisioner
      const error = yield* Effect.flip(p.create(specOf(yield* Ids.makeTaskId)))
      assert.strictEqual(error._tag, "ProvisionError")
      assert.strictEqual(error.reason, "unavailable")
      assert.include(error.message, "unix:///nonexistent/docker.sock")
      assert.include(error.message, "is dockerd running?")
      assert.notInclude(error.message, SECRET)
      assert.strictEqual((yield* Effect.flip(p.list())).reason, "unavailable")
      assert.strictEqual((yield* Effect.flip(p.destroy("abc" as Ids.MachineId))).reason, "unavailable")
    }).pipe(
      Effect.provide(DockerProvisioner.layer({ host: "unix:///nonexistent/docker.sock", deadlineCheckMs: false }))
    ))

  it.effect("a DOCKER_HOST Porter cannot use fails the layer and says which forms work", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(DockerProvisioner.layer({ host: "ssh://me@box" })).pipe(Effect.scoped)
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "tcp://host:2375")
    }))

  it.live("a tcp:// DOCKER_HOST speaks HTTP to that address", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const server = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`)
        res.setHeader("content-type", "application/json")
        if (req.url?.startsWith("/containers/json")) {
          res.end(
            JSON.stringify([{
              Id: "c1",
              State: "running",
              Created: 1_700_000_000,
              Labels: { porter: "1", "porter.task_id": "task_x" }
            }])
          )
        } else {
          res.statusCode = 500
          res.end(JSON.stringify({ message: "engine exploded" }))
        }
      })
      yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
      const port = (server.address() as AddressInfo).port
      yield* Effect.gen(function*() {
        const p = yield* DockerProvisioner.DockerProvisioner
        const listed = yield* p.list()
        assert.deepStrictEqual(listed.map((m) => [m.id, m.taskId, m.state, m.createdAt]), [[
          "c1",
          "task_x",
          "started",
          1_700_000_000_000
        ]])
        const error = yield* Effect.flip(p.get("c1" as Ids.MachineId))
        assert.strictEqual(error._tag, "ProvisionError")
        assert.include(error.message, "engine exploded")
        assert.isTrue(seen[0]!.startsWith("GET /containers/json?all=true&filters="))
        assert.deepStrictEqual(JSON.parse(decodeURIComponent(seen[0]!.split("filters=")[1]!)), { label: ["porter=1"] })
      }).pipe(Effect.provide(DockerProvisioner.layer({ host: `tcp://127.0.0.1:${port}`, deadlineCheckMs: false })))
      server.close()
    }))
})
