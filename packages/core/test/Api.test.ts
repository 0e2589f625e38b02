/**
 * Porter's HTTP API (`Api.ts`, served by `HttpApp`): statuses and bodies as a client sees them, through a Web
 * `Request`, and the client derived from the same definition (`HttpApiClient.make(Api)`).
 */
import { assert, describe, it } from "@effect/vitest"
import {
  ApiClient,
  ChangeSet,
  Diagnostics,
  Errors,
  Event,
  HttpApp,
  type Ids,
  Porter,
  SecretStore,
  Settings,
  TaskStore,
  WebhookIntake
} from "@porter/core"
import { Fixtures, Machines, Repositories, TestPorter } from "@porter/testing"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientResponse, HttpRouter, HttpServer, UrlParams } from "effect/http"
import { readFileSync } from "node:fs"

/** A stand-in intake: `x-test-sig: ok` is a good signature; the body is a normalized event as JSON. */
const fakeIntake = Layer.succeed(
  WebhookIntake.WebhookIntake,
  WebhookIntake.WebhookIntake.of({
    parse: (raw) =>
      raw.headers["x-test-sig"] !== "ok"
        ? Effect.fail(new Errors.WebhookUnauthorized({ message: "signature does not match" }))
        : raw.headers["x-test-event"] === "ping"
        ? Effect.succeed(new WebhookIntake.Ignored({ reason: "ping" }))
        : Schema.decodeUnknownEffect(Event.IncomingEventFromJson)(raw.body).pipe(
          Effect.mapError(() => new Errors.WebhookMalformed({ message: "payload does not decode" }))
        )
  })
)

const ADMIN = "admin-token-0123456789"
const KEY = "sk-ant-test-0123456789"

const testLayer = (adminToken: string | undefined) =>
  TestPorter.layer({
    config: { maxWebhookBytes: 4096, ...(adminToken !== undefined ? { adminToken: Redacted.make(adminToken) } : {}) },
    secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: KEY }],
    webhooks: fakeIntake
  })

/** The API as a Web handler over the test's own services, so assertions see what the requests did. */
const makeHandler = Effect.gen(function*() {
  const context = yield* Effect.context<TestPorter.Services | Porter.Services | Diagnostics.Diagnostics>()
  const app = HttpApp.routes.pipe(
    Layer.provide(Layer.mergeAll(Layer.succeedContext(context), HttpServer.layerServices))
  )
  const { dispose, handler } = HttpRouter.toWebHandler(app, { disableLogger: true })
  yield* Effect.addFinalizer(() => Effect.promise(dispose))
  const call = (request: Request) =>
    Effect.promise(async () => {
      const response = await handler(request)
      const text = await response.text()
      return { status: response.status, body: text === "" ? undefined : JSON.parse(text) as Record<string, any> }
    })
  return { handler, call }
})

/** The derived client, its requests answered by the same handler, with `token` as its bearer. */
const clientFor = (handler: (request: Request) => Promise<Response>, token: string) =>
  ApiClient.make({ baseUrl: "http://porter.test", token }).pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.provideService(
      FetchHttpClient.Fetch,
      ((input: string | URL | Request, init?: RequestInit) => handler(new Request(input, init))) as typeof fetch
    )
  )

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  new Request(`http://porter.test${path}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers }
  })

const encode = (event: Event.IncomingEvent) => Schema.encodeSync(Event.IncomingEventFromJson)(event)

/** Starts a task through Porter and returns its id and the token its machine got. */
const startOn = (issueNumber: number) =>
  Effect.gen(function*() {
    const porter = yield* Porter.Porter
    yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude fix it", issueNumber }))
    const created = yield* (yield* Machines).created
    const latest = created[created.length - 1]!
    return { taskId: latest.spec.taskId, token: Redacted.value(latest.spec.secretEnv["CALLBACK_TOKEN"]!) }
  })

const startTask = startOn(1)

describe("HTTP API: webhooks", () => {
  it.effect("202 accepted, 200 ignored or duplicate, 401, 400, 413 (declared and streamed)", () =>
    Effect.gen(function*() {
      const { call } = yield* makeHandler
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      const good = { "x-test-sig": "ok" }

      const accepted = yield* call(post("/webhooks/github", encode(event), good))
      assert.deepStrictEqual([accepted.status, accepted.body], [202, { accepted: true, deliveryId: event.deliveryId }])
      const duplicate = yield* call(post("/webhooks/github", encode(event), good))
      assert.deepStrictEqual([duplicate.status, duplicate.body], [200, { ignored: "duplicate delivery" }])
      const notForUs = yield* call(post("/webhooks/github", encode(Fixtures.commentCreated({ body: "lgtm" })), good))
      assert.deepStrictEqual([notForUs.status, notForUs.body], [200, { ignored: "not addressed to Porter" }])
      const ping = yield* call(post("/webhooks/github", "{}", { ...good, "x-test-event": "ping" }))
      assert.deepStrictEqual([ping.status, ping.body], [200, { ignored: "ping" }])
      const unsigned = yield* call(
        post("/webhooks/github", encode(Fixtures.commentCreated({ body: "@porter claude x" })))
      )
      assert.deepStrictEqual([unsigned.status, unsigned.body], [401, { error: "signature does not match" }])
      const malformed = yield* call(post("/webhooks/github", "{not json", good))
      assert.deepStrictEqual([malformed.status, malformed.body], [400, { error: "payload does not decode" }])
      const huge = yield* call(post("/webhooks/github", "x".repeat(5000), good))
      assert.deepStrictEqual([huge.status, huge.body], [413, { error: "payload larger than 4096 bytes" }])
      // A body that lies about its length is still capped while it streams.
      const stream = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("y".repeat(1000)))
          controller.close()
        }
      })
      const chunked = yield* call(
        new Request(
          "http://porter.test/webhooks/github",
          { method: "POST", body: stream, headers: good, duplex: "half" } as RequestInit
        )
      )
      assert.strictEqual(chunked.status, 413)

      const tasks = yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.list({ limit: 10 }))
      assert.strictEqual(tasks.length, 1, "only the accepted delivery made a task")
    }).pipe(Effect.provide(testLayer(ADMIN))))
})

describe("HTTP API: callbacks and task reads", () => {
  it.effect("the task token is checked before anything is read; bodies are decoded at the edge", () =>
    Effect.gen(function*() {
      const { call } = yield* makeHandler
      const { taskId, token } = yield* startTask
      const auth = { authorization: `Bearer ${token}` }
      const path = `/callbacks/tasks/${taskId}`
      const started = JSON.stringify({ type: "started" })

      const missing = yield* call(post(path, started))
      assert.strictEqual(missing.status, 401)
      assert.strictEqual(missing.body?._tag, "Unauthorized")
      assert.strictEqual((yield* call(post(path, started, { authorization: "Bearer nope" }))).status, 401)
      // Another task's token (another issue's: a second one on this issue would wait for the first), and an id that
      // is not a task id: the same 401, nothing read.
      const other = yield* startOn(2)
      assert.strictEqual((yield* call(post(path, started, { authorization: `Bearer ${other.token}` }))).status, 401)
      assert.strictEqual((yield* call(post("/callbacks/tasks/../../admin", started, auth))).status, 404)
      assert.strictEqual((yield* call(post("/callbacks/tasks/not-a-task", started, auth))).status, 401)
      const bad = yield* call(post(path, JSON.stringify({ type: "exploded" }), auth))
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(bad.body?._tag, "BadRequest")
      assert.match(bad.body?.message, /payload/)
      assert.strictEqual((yield* call(post(path, "{not json", auth))).status, 400)
      const tooLarge = yield* call(post(path, JSON.stringify({ type: "heartbeat", step: "x".repeat(300_000) }), auth))
      assert.include([413, 400], tooLarge.status)
      assert.strictEqual((yield* Effect.flatMap(TaskStore.TaskStore, (s) => s.get(taskId))).state, "provisioning")

      assert.deepStrictEqual(yield* call(post(path, started, auth)), {
        status: 200,
        body: { accepted: true, state: "running" }
      })
      const done = yield* call(post(path, JSON.stringify({ type: "completed", outcome: "no_changes" }), auth))
      assert.deepStrictEqual(done, { status: 200, body: { accepted: true, state: "succeeded" } })
      const late = yield* call(post(path, JSON.stringify({ type: "heartbeat" }), auth))
      assert.deepStrictEqual(late, {
        status: 409,
        body: { _tag: "TaskEnded", state: "succeeded", message: "task is already succeeded" }
      })
    }).pipe(Effect.provide(testLayer(ADMIN))))

  it.effect("GET /tasks/:id: its token or the admin token; 404 for an unknown task", () =>
    Effect.gen(function*() {
      const { call } = yield* makeHandler
      const { taskId, token } = yield* startTask
      const read = (authorization?: string) =>
        call(new Request(`http://porter.test/tasks/${taskId}`, { headers: authorization ? { authorization } : {} }))
      assert.strictEqual((yield* read()).status, 401)
      assert.strictEqual((yield* read("Bearer wrong")).status, 401)
      const mine = yield* read(`Bearer ${token}`)
      assert.deepStrictEqual([mine.status, mine.body?.state, mine.body?.id], [200, "provisioning", taskId])
      assert.notInclude(JSON.stringify(mine.body), KEY)
      assert.strictEqual((yield* read(`Bearer ${ADMIN}`)).status, 200)
      const unknown = yield* call(
        new Request("http://porter.test/tasks/task_00000000000000000000000000", {
          headers: { authorization: `Bearer ${ADMIN}` }
        })
      )
      assert.strictEqual(unknown.status, 404)
      assert.deepStrictEqual(yield* call(new Request("http://porter.test/healthz")), {
        status: 200,
        body: { ok: true }
      })
    }).pipe(Effect.provide(testLayer(ADMIN))))

  it.effect("the runner's client, derived from the API, gets typed answers and errors", () =>
    Effect.gen(function*() {
      const { handler } = yield* makeHandler
      const { taskId, token } = yield* startTask
      const client = yield* clientFor(handler, token)
      const answer = yield* client.callbacks.send({ params: { taskId }, payload: { type: "started" } })
      assert.deepStrictEqual(answer, { accepted: true, state: "running" })
      yield* client.callbacks.send({ params: { taskId }, payload: { type: "completed", outcome: "no_changes" } })
      const ended = yield* Effect.flip(client.callbacks.send({ params: { taskId }, payload: { type: "heartbeat" } }))
      assert.strictEqual(ended._tag, "TaskEnded")
      const wrong = yield* clientFor(handler, "nope")
      const refused = yield* Effect.flip(wrong.callbacks.send({ params: { taskId }, payload: { type: "heartbeat" } }))
      assert.strictEqual(refused._tag, "Unauthorized")
    }).pipe(Effect.provide(testLayer(ADMIN))))
})

describe("HTTP API: admin", () => {
  it.effect("is off (404) without an admin token, and refuses wrong tokens (401)", () =>
    Effect.gen(function*() {
      const { call } = yield* makeHandler
      const off = yield* call(
        new Request("http://porter.test/admin/secrets", { headers: { authorization: "Bearer x" } })
      )
      assert.deepStrictEqual(off, {
        status: 404,
        body: { _tag: "NotFound", message: "the admin API is disabled (no admin token configured)" }
      })
    }).pipe(Effect.provide(testLayer(undefined))))

  it.effect("sets, lists (names only), deletes and rotates secrets", () =>
    Effect.gen(function*() {
      const { call, handler } = yield* makeHandler
      const client = yield* clientFor(handler, ADMIN)
      assert.strictEqual(
        (yield* Effect.flip((yield* clientFor(handler, "wrong")).admin.listSecrets({ query: {} })))._tag,
        "Unauthorized"
      )
      const put = yield* client.admin.setSecret({
        payload: {
          scope: "repository:Octo-Org/Hello-World",
          name: "OPENAI_API_KEY" as SecretStore.SecretName,
          value: "sk-openai-secret-value"
        }
      })
      assert.deepStrictEqual(put, { scope: "repository:octo-org/hello-world", name: "OPENAI_API_KEY" })
      const listed = yield* client.admin.listSecrets({ query: { scope: "repository:octo-org/hello-world" } })
      assert.deepStrictEqual(listed.secrets.map((s) => s.name), ["OPENAI_API_KEY"])
      assert.notInclude(JSON.stringify(listed), "sk-openai-secret-value")
      const stored = yield* (yield* SecretStore.SecretStore).resolve("OPENAI_API_KEY" as SecretStore.SecretName, {
        repo: "octo-org/hello-world"
      })
      assert.strictEqual(Redacted.value(Option.getOrThrow(stored).value), "sk-openai-secret-value")
      const badScope = yield* Effect.flip(
        client.admin.setSecret({ payload: { scope: "planet:mars", name: "X" as SecretStore.SecretName, value: "y" } })
      )
      assert.strictEqual(badScope._tag, "BadRequest")
      const put_ = (body: unknown) =>
        call(
          new Request("http://porter.test/admin/secrets", {
            method: "PUT",
            body: JSON.stringify(body),
            headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }
          })
        )
      assert.strictEqual((yield* put_({ scope: "global", name: "lower-case", value: "y" })).status, 400)
      assert.strictEqual((yield* put_("not an object")).status, 400)
      assert.deepStrictEqual(
        yield* client.admin.deleteSecret({
          query: { scope: "repository:octo-org/hello-world", name: "OPENAI_API_KEY" as SecretStore.SecretName }
        }),
        { deleted: true }
      )
      const rotated = yield* client.admin.rotateSecrets()
      assert.deepStrictEqual([rotated.rotated, rotated.failed], [0, 0])
    }).pipe(Effect.provide(testLayer(ADMIN))))

  it.effect("merges, reads and deletes settings, refusing invalid values", () =>
    Effect.gen(function*() {
      const { call, handler } = yield* makeHandler
      const client = yield* clientFor(handler, ADMIN)
      const scope = "repository:octo-org/hello-world"
      yield* client.admin.setSettings({ payload: { scope, settings: { defaultAgent: "codex" } } })
      const put = yield* client.admin.setSettings({ payload: { scope, settings: { maxActivePerUser: 1 } } })
      assert.deepStrictEqual(put.settings, { defaultAgent: "codex", maxActivePerUser: 1 })
      assert.strictEqual((yield* (yield* Settings.Settings).forRepo("octo-org/hello-world")).defaultAgent, "codex")
      // The client refuses to send it; a request that does is answered 400.
      const refused = yield* Effect.flip(
        client.admin.setSettings({ payload: { scope: "global", settings: { maxActivePerUser: -3 } } })
      )
      assert.strictEqual(refused._tag, "SchemaError")
      const invalid = yield* call(
        new Request("http://porter.test/admin/settings", {
          method: "PUT",
          body: JSON.stringify({ scope: "global", settings: { maxActivePerUser: -3 } }),
          headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }
        })
      )
      assert.deepStrictEqual([invalid.status, invalid.body?._tag], [400, "BadRequest"])
      assert.strictEqual(
        (yield* Effect.flip(client.admin.getSettings({ query: { scope: "user:1" } })))._tag,
        "BadRequest"
      )
      assert.deepStrictEqual(yield* client.admin.deleteSettings({ query: { scope } }), { deleted: true })
    }).pipe(Effect.provide(testLayer(ADMIN))))

  it.effect("lists, shows, cancels and retries tasks; runs the sweep; reports the doctor's checks", () =>
    Effect.gen(function*() {
      const { call, handler } = yield* makeHandler
      const client = yield* clientFor(handler, ADMIN)
      const { taskId } = yield* startTask
      const list = yield* client.admin.listTasks({ query: { state: "provisioning" } })
      assert.deepStrictEqual(list.tasks.map((t) => t.id), [taskId])
      const bogus = yield* call(
        new Request("http://porter.test/admin/tasks?state=bogus", { headers: { authorization: `Bearer ${ADMIN}` } })
      )
      assert.strictEqual(bogus.status, 400)
      const shown = yield* client.admin.getTask({ params: { taskId } })
      assert.strictEqual(shown.task.state, "provisioning")
      assert.deepStrictEqual(shown.events.map((e) => e.kind).slice(0, 2), ["transition", "created"])
      const stillRunning = yield* Effect.flip(client.admin.retryTask({ params: { taskId } }))
      assert.strictEqual(stillRunning._tag, "BadRequest")
      const cancelled = yield* client.admin.cancelTask({ params: { taskId } })
      assert.deepStrictEqual([cancelled.cancelled, cancelled.task.state], [true, "cancelled"])
      assert.isFalse((yield* client.admin.cancelTask({ params: { taskId } })).cancelled)
      const retried = yield* client.admin.retryTask({ params: { taskId } })
      assert.notStrictEqual(retried.task.id, taskId)
      assert.strictEqual(retried.task.state, "provisioning")
      assert.strictEqual((yield* (yield* Machines).created).length, 2, "the retry got its own machine")
      const unknown = yield* Effect.flip(
        client.admin.getTask({ params: { taskId: "task_00000000000000000000000000" as Ids.TaskId } })
      )
      assert.strictEqual(unknown._tag, "NotFound")
      assert.strictEqual((yield* client.admin.sweep()).checked, 0)
      const doctor = yield* client.admin.doctor()
      assert.isTrue(doctor.ok)
      assert.include(doctor.text, "storage")
    }).pipe(Effect.provide(testLayer(ADMIN))))
})

describe("HTTP API: OpenAPI", () => {
  it.effect("GET /openapi.json serves the document generated from the definition", () =>
    Effect.gen(function*() {
      const { call } = yield* makeHandler
      const served = yield* call(new Request("http://porter.test/openapi.json"))
      assert.strictEqual(served.status, 200)
      assert.deepStrictEqual(served.body, JSON.parse(JSON.stringify(HttpApp.openApi())))
      const paths = Object.keys(served.body?.paths ?? {})
      for (
        const path of ["/webhooks/github", "/callbacks/tasks/{taskId}", "/tasks/{taskId}", "/admin/secrets/rotate"]
      ) {
        assert.include(paths, path)
      }
    }).pipe(Effect.provide(testLayer(ADMIN))))
})

describe("HTTP API: the checked-in document", () => {
  it("docs/openapi.json is what the definition generates (regenerate: node --conditions=@porter/source scripts/openapi.ts)", () => {
    const checkedIn = JSON.parse(readFileSync(new URL("../../../docs/openapi.json", import.meta.url), "utf8"))
    assert.deepStrictEqual(JSON.parse(JSON.stringify(HttpApp.openApi())), checkedIn)
  })
})

describe("HTTP API: the machine's change set and read-only git", () => {
  /** The git host as the proxy sees it: records each request, answers like git's smart HTTP. */
  const upstream: Array<{ url: string; headers: Record<string, string> }> = []
  // The capability advertisement a protocol-v2 `info/refs` answers (no refs).
  const V2 = "000eversion 2\n0013ls-refs=unborn\n0000"
  const gitHost = Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) =>
      Effect.sync(() => {
        upstream.push({
          url: `${request.url}?${UrlParams.toString(request.urlParams)}`,
          headers: { ...request.headers }
        })
        return HttpClientResponse.fromWeb(
          request,
          new Response(request.headers["git-protocol"] === "version=2" ? V2 : "001e# service=git-upload-pack\n0000", {
            status: 200,
            headers: { "content-type": "application/x-git-upload-pack-advertisement", "set-cookie": "x=1" }
          })
        )
      })
    )
  )
  const machineLayer = TestPorter.layer({
    secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: KEY }],
    webhooks: fakeIntake,
    httpClient: gitHost
  })

  it.effect("a change set: 401 before anything is read, 413 over the limit, 422 with every reason, 200, then 409", () =>
    Effect.gen(function*() {
      const { call } = yield* makeHandler
      const { taskId, token } = yield* startTask
      const auth = { authorization: `Bearer ${token}` }
      const path = `/callbacks/tasks/${taskId}/changes`
      const base = yield* (yield* Repositories).seed(Fixtures.repo(), { files: [{ path: "a.txt", content: "a\n" }] })
      const good = JSON.stringify(Fixtures.changeSet(base, [{ path: "b.txt", content: "b\n" }]))

      assert.strictEqual((yield* call(post(path, good))).status, 401)
      assert.strictEqual((yield* call(post(path, good, { authorization: "Bearer nope" }))).status, 401)
      const huge = yield* call(post(path, " ".repeat(ChangeSet.MAX_BODY_BYTES + 1), auth))
      assert.strictEqual(huge.status, 413)
      assert.strictEqual((yield* call(post(path, JSON.stringify({ base, commits: [] }), auth))).status, 400)

      const published = yield* call(post(path, good, auth))
      assert.strictEqual(published.status, 200, JSON.stringify(published.body))
      assert.match(published.body?.pullRequest.url, /\/pull\/1$/)

      const workflow = Fixtures.changeSet(published.body?.commits[0], [{
        path: ".github/workflows/x.yml",
        content: "on: push\n"
      }])
      const refused = yield* call(post(path, JSON.stringify(workflow), auth))
      assert.strictEqual(refused.status, 422)
      assert.strictEqual(refused.body?._tag, "Refused")
      assert.deepStrictEqual(refused.body?.problems, [
        "`.github/workflows/x.yml` is a GitHub Actions workflow: this repository's settings do not allow changing workflows"
      ])
      const after = yield* call(post(path, good, auth))
      assert.deepStrictEqual([after.status, after.body?._tag, after.body?.state], [409, "TaskEnded", "failed"])
    }).pipe(Effect.provide(machineLayer)))

  it.effect("git: upload-pack only, with the task token, forwarded with Porter's own token while the task runs", () =>
    Effect.gen(function*() {
      const { handler } = yield* makeHandler
      const { taskId, token } = yield* startTask
      const fetchGit = (path: string, init: RequestInit = {}) =>
        Effect.promise(async () => {
          const response = await handler(new Request(`http://porter.test/git/tasks/${taskId}${path}`, init))
          return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
        })
      const auth = { authorization: `Bearer ${token}` }
      upstream.length = 0

      assert.strictEqual((yield* fetchGit("/info/refs?service=git-upload-pack")).status, 401)
      assert.strictEqual((yield* fetchGit("/info/refs?service=git-receive-pack", { headers: auth })).status, 400)
      assert.strictEqual((yield* fetchGit("/git-receive-pack", { method: "POST", headers: auth })).status, 404)
      assert.deepStrictEqual(upstream, [], "nothing was forwarded")

      const refs = yield* fetchGit("/info/refs?service=git-upload-pack", {
        headers: { ...auth, "git-protocol": "version=2" }
      })
      assert.deepStrictEqual(refs, { status: 200, type: "application/x-git-upload-pack-advertisement", text: V2 })
      assert.strictEqual(upstream.length, 1)
      assert.strictEqual(
        upstream[0]!.url,
        "https://github.com/octo-org/hello-world.git/info/refs?service=git-upload-pack"
      )
      const basic = Buffer.from(`x-access-token:${Redacted.value(TestPorter.GITHUB_TOKEN)}`).toString("base64")
      assert.strictEqual(upstream[0]!.headers["authorization"], `Basic ${basic}`, "Porter's token, not the machine's")
      assert.strictEqual(upstream[0]!.headers["git-protocol"], "version=2")
      assert.notInclude(JSON.stringify(upstream), token)

      // The v2 advertisement says what the host can do, not what the repository holds: the next clone gets it from
      // Porter. Protocol v0's answer lists the refs: always the host's.
      const again = yield* fetchGit("/info/refs?service=git-upload-pack", {
        headers: { ...auth, "git-protocol": "version=2" }
      })
      assert.deepStrictEqual(again, refs)
      assert.strictEqual(upstream.length, 1)
      const v0 = yield* fetchGit("/info/refs?service=git-upload-pack", { headers: auth })
      assert.strictEqual(v0.text, "001e# service=git-upload-pack\n0000")
      assert.strictEqual(upstream.length, 2)
      upstream.length = 1

      const tooLarge = yield* fetchGit("/git-upload-pack", {
        method: "POST",
        headers: auth,
        body: new Uint8Array(5 * 1024 * 1024)
      })
      assert.strictEqual(tooLarge.status, 413)
      const pack = yield* fetchGit("/git-upload-pack", {
        method: "POST",
        headers: { ...auth, "content-type": "application/x-git-upload-pack-request" },
        body: "0032want 0123456789012345678901234567890123456789\n00000009done\n"
      })
      assert.strictEqual(pack.status, 200)
      assert.strictEqual(upstream.length, 2)

      // Once the task has ended its token reads nothing.
      yield* (yield* Porter.Porter).cancelTask(taskId, "test")
      const ended = yield* fetchGit("/info/refs?service=git-upload-pack", { headers: auth })
      assert.strictEqual(ended.status, 409)
      assert.strictEqual(upstream.length, 2)
    }).pipe(Effect.provide(machineLayer)))
})
