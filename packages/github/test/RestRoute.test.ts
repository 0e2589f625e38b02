// Routes as GitHubClient sends them (its `internal/RestRoute`): the path, query and body GitHub gets for a route
// string and its parameters — the same as `@octokit/endpoint` makes (checked against it when Octokit was replaced) —
// and answers' bodies read by type, as `@octokit/request` reads them.
import { assert, describe, it } from "@effect/vitest"
import { GitHubClient } from "@porter/github"
import { Effect } from "effect"
import * as FakeGitHub from "./utils/FakeGitHub.ts"

const sent = (route: string, params: Record<string, unknown>) =>
  Effect.gen(function*() {
    const server = yield* FakeGitHub.start
    server.route(() => ({ status: 200, body: {} }))
    const gh = yield* GitHubClient.make({ apiUrl: `${server.url}/api/v3/`, retry: { times: 0 } })
    yield* gh.request(route, { params })
    const [request] = server.requests
    return request!
  })

const answered = (answer: FakeGitHub.Answer, method = "GET") =>
  Effect.gen(function*() {
    const server = yield* FakeGitHub.start
    server.route(() => answer)
    const gh = yield* GitHubClient.make({ apiUrl: server.url, retry: { times: 0 } })
    return (yield* gh.request(`${method} /x`)).data
  })

describe("GitHubClient's routes", () => {
  it.live("`{name}` is percent-encoded (a ref's `/` too), `{+name}` keeps slashes", () =>
    Effect.gen(function*() {
      const ref = yield* sent("PATCH /repos/{owner}/{repo}/git/refs/{ref}", {
        owner: "o",
        repo: "r",
        ref: "heads/porter/fix (1)!",
        sha: "abc",
        force: false
      })
      assert.strictEqual(ref.method, "PATCH")
      assert.strictEqual(ref.url, "/api/v3/repos/o/r/git/refs/heads%2Fporter%2Ffix%20%281%29%21")
      assert.deepStrictEqual(ref.json, { sha: "abc", force: false })
      assert.strictEqual(ref.headers["content-type"], "application/json; charset=utf-8")
      const file = yield* sent("GET /repos/{owner}/{repo}/contents/{+path}", {
        owner: "o",
        repo: "r",
        path: "dir/ä b[1].md",
        ref: "main"
      })
      assert.strictEqual(file.url, "/api/v3/repos/o/r/contents/dir/%C3%A4%20b[1].md?ref=main")
      assert.strictEqual(file.body, "")
    }))

  it.live("a GET's other parameters make the query; other methods' the JSON body, and none left: no body", () =>
    Effect.gen(function*() {
      const list = yield* sent("GET /repos/{owner}/{repo}/pulls", {
        owner: "o",
        repo: "r",
        head: "o:porter/x&y",
        per_page: 100,
        skipped: undefined
      })
      assert.strictEqual(list.url, "/api/v3/repos/o/r/pulls?head=o%3Aporter%2Fx%26y&per_page=100")
      const search = yield* sent("GET /search/issues", { q: "repo:o/r+is:open" })
      assert.strictEqual(search.url, "/api/v3/search/issues?q=repo%3Ao%2Fr+is%3Aopen")
      const token = yield* sent("POST /app/installations/{installation_id}/access_tokens", { installation_id: 7 })
      assert.strictEqual(token.url, "/api/v3/app/installations/7/access_tokens")
      assert.strictEqual(token.body, "")
      assert.isUndefined(token.headers["content-type"])
      const label = yield* sent("DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", {
        owner: "o",
        repo: "r",
        issue_number: 3,
        name: "porter: running"
      })
      assert.strictEqual(label.method, "DELETE")
      assert.strictEqual(label.url, "/api/v3/repos/o/r/issues/3/labels/porter%3A%20running")
    }))

  it.live("answers are read by type: JSON, text, bytes, or nothing", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* answered({ status: 200, body: { id: 1 } }), { id: 1 })
      const notJson = { "content-type": "application/json" }
      assert.strictEqual(yield* answered({ status: 200, raw: "not json", headers: notJson }), "not json")
      const text = { "content-type": "text/plain" }
      assert.strictEqual(yield* answered({ status: 200, raw: "a log line", headers: text }), "a log line")
      const bytes = yield* answered({
        status: 200,
        raw: "\u0001\u0002",
        headers: { "content-type": "application/octet-stream" }
      })
      assert.instanceOf(bytes, ArrayBuffer)
      assert.strictEqual((bytes as ArrayBuffer).byteLength, 2)
      assert.isUndefined(yield* answered({ status: 204 }, "DELETE"))
    }))
})
