// `porter dev --docker`: machines are containers of the runner image. The docker tier: a Docker daemon and the
// local test image (`scripts/docker-test-image.sh` builds `porter-runner:test`; `PORTER_TEST_IMAGE` names another);
// `npm test` skips the tier, saying why, without them — `.ci/run` starts dockerd and builds the image.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import { request as httpRequest } from "node:http"
import { request, startDev, waitForTask } from "./support/Porter.ts"

const SOCKET = process.env["DOCKER_SOCKET"] ?? "/var/run/docker.sock"
const IMAGE = process.env["PORTER_TEST_IMAGE"] ?? "porter-runner:test"

const docker = (path: string) =>
  new Promise<{ status: number; body: string }>((resolve) => {
    const req = httpRequest({ socketPath: SOCKET, path, timeout: 5_000 }, (response) => {
      let body = ""
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
    })
    req.on("error", () => resolve({ status: 0, body: "" }))
    req.end()
  })

describe("porter dev --docker", () => {
  it.live(
    "a comment becomes a pull request from a container; SIGTERM leaves no container behind",
    () =>
      Effect.promise(async () => {
        const adminToken = randomBytes(24).toString("hex")
        const dev = await startDev([
          "--docker",
          "--image",
          IMAGE,
          "--docker-socket",
          SOCKET,
          "--port",
          "0",
          "--admin-token",
          adminToken
        ])
        try {
          const { info } = dev
          const repo = `${info.owner}/hello`
          await request("POST", `${info.github}/repos/${repo}/issues/1/comments`, info.githubAdminToken, {
            body: "@porter script add a changelog line"
          })
          const task = await waitForTask(info.worker, adminToken, repo, 1, [
            "succeeded",
            "failed",
            "timed_out",
            "cancelled"
          ], 90_000)
          assert.strictEqual(task.state, "succeeded", `${task.reason}\n${dev.stdout()}`)
          assert.include(dev.stdout(), "Docker containers")
          await dev.stop()
          assert.deepStrictEqual(await dev.exited, { code: 0, signal: null })
          const left = await docker(
            `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: ["dev.porter.machine"] }))}`
          )
          const containers = JSON.parse(left.body) as ReadonlyArray<{ Names: ReadonlyArray<string> }>
          const mine = containers.filter((c) =>
            c.Names.some((name) => task.machineId !== undefined && name.includes(task.machineId))
          )
          assert.deepStrictEqual(mine, [], "the task's container is gone")
        } finally {
          await dev.stop()
        }
      }),
    150_000
  )
})
