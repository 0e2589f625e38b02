// The web app in process (Porter in memory, GitHub played by the emulator): signing in through the OAuth web flow,
// who sees and steers what (404 for everything else), CSRF on every form, keys shown by fingerprint only, repository
// settings through core's schema, the operator page.
import { assert, describe, it, layer } from "@effect/vitest"
import { ArtifactStore, SecretStore, Task, TaskLifecycle, TaskStore } from "@porter/core"
import { Fixtures } from "@porter/testing"
import { csrfOf } from "@porter/testkit/browser"
import { WebApp } from "@porter/web"
import { Effect, Layer, Option, Redacted } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { App } from "./support/App.ts"
import * as AppLayer from "./support/App.ts"

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0)

layer(AppLayer.layer, { timeout: "60 seconds", excludeTestServices: true })("the web app in process", (it) => {
  it.effect("signing in: the OAuth web flow, a session cookie with its attributes, and signing out", () =>
    Effect.gen(function*() {
      const app = yield* App
      const browser = app.browser()
      const anonymous = yield* Effect.promise(() => browser.go("/app/tasks?state=running"))
      assert.include(anonymous.url, "/login?return=%2Fapp%2Ftasks%3Fstate%3Drunning")
      assert.include(anonymous.text, "Sign in with GitHub")

      const raw = yield* Effect.promise(() => browser.fetch("/login/github?return=/app/keys"))
      assert.strictEqual(raw.status, 303)
      const authorize = new URL(raw.headers.get("location")!)
      assert.strictEqual(`${authorize.origin}${authorize.pathname}`, `${app.emulator.url}/login/oauth/authorize`)
      assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${AppLayer.ORIGIN}/oauth/callback`)
      const oauthCookie = raw.headers.getSetCookie()[0]!
      assert.match(oauthCookie, /^porter_oauth=/)
      assert.include(oauthCookie, "HttpOnly")
      assert.include(oauthCookie, "SameSite=Lax")

      const signedIn = yield* Effect.promise(() => browser.signIn(app.writer.login, "/app/tasks"))
      assert.strictEqual(signedIn.status, 200)
      assert.strictEqual(new URL(signedIn.url).pathname, "/app/tasks")
      assert.include(signedIn.text, `@${app.writer.login}`)
      const session = browser.cookie("porter.test", "porter_session")
      assert.isDefined(session)

      // A callback replayed without the state cookie is refused.
      const replay = yield* Effect.promise(() => app.browser().go("/oauth/callback?code=abc&state=xyz"))
      assert.include(replay.url, "/login?m=retry")

      // A tampered cookie is no session.
      const forged = app.browser()
      const tampered = yield* Effect.promise(() =>
        forged.go("/app/tasks", { headers: { cookie: `porter_session=${session!.slice(0, -2)}xx` } })
      )
      assert.include(tampered.url, "/login")

      // Signing out needs the CSRF token, then the session is gone for good.
      const out = yield* Effect.promise(() => browser.post("/logout", { _csrf: csrfOf(signedIn.text) }))
      assert.include(out.text, "You are signed out.")
      const again = app.browser()
      const stale = yield* Effect.promise(() =>
        again.go("/app/tasks", { headers: { cookie: `porter_session=${session!}` } })
      )
      assert.include(stale.url, "/login")
    }))

  it.effect("readers see tasks without buttons; outsiders get 404 even by direct URL; forged and CSRF-less POSTs fail", () =>
    Effect.gen(function*() {
      const app = yield* App
      const running = Fixtures.storedTask({ repo: app.repo, at: NOW, n: 1, state: "running", login: app.writer.login })
      const ended = Fixtures.storedTask({ repo: app.repo, at: NOW + 1, n: 2, state: "failed", login: app.writer.login })
      yield* Effect.promise(() =>
        app.run(
          Effect.flatMap(TaskStore.TaskStore, (store) => Effect.all([store.create(running), store.create(ended)]))
        )
      )

      const reader = app.browser()
      const list = yield* Effect.promise(() => reader.signIn(app.reader.login, "/app/tasks"))
      assert.include(list.text, running.id.slice(-8))
      const page = yield* Effect.promise(() => reader.go(`/app/tasks/${running.id}`))
      assert.strictEqual(page.status, 200)
      assert.notInclude(page.text, "Cancel task")
      assert.notInclude(page.text, "Retry task")
      // A forged cancel with the reader's own valid token: refused, nothing changes.
      const forged = yield* Effect.promise(() =>
        reader.post(`/app/tasks/${running.id}/cancel`, { _csrf: csrfOf(page.text) })
      )
      assert.strictEqual(forged.status, 404)
      const still = yield* Effect.promise(() => app.run(Effect.flatMap(TaskStore.TaskStore, (s) => s.get(running.id))))
      assert.strictEqual(still.state, "running")

      const outsider = app.browser()
      const theirs = yield* Effect.promise(() => outsider.signIn(app.outsider.login, "/app/tasks"))
      assert.notInclude(theirs.text, running.id.slice(-8))
      const direct = yield* Effect.promise(() => outsider.go(`/app/tasks/${running.id}`))
      assert.strictEqual(direct.status, 404)
      const byRepo = yield* Effect.promise(() => outsider.go(`/app/tasks?repo=${encodeURIComponent(app.repo)}`))
      assert.notInclude(byRepo.text, running.id.slice(-8))
      const live = yield* Effect.promise(() => outsider.go(`/app/tasks/${running.id}/live`))
      assert.strictEqual(live.status, 404)

      // The writer: buttons; a POST without the CSRF token is refused (403) and changes nothing.
      const writer = app.browser()
      const own = yield* Effect.promise(() => writer.signIn(app.writer.login, `/app/tasks/${running.id}`))
      assert.include(own.text, "Cancel task")
      const noToken = yield* Effect.promise(() => writer.post(`/app/tasks/${running.id}/cancel`, {}))
      assert.strictEqual(noToken.status, 403)
      const otherSite = yield* Effect.promise(() =>
        writer.post(`/app/tasks/${running.id}/cancel`, { _csrf: csrfOf(own.text) }, { origin: "https://evil.example" })
      )
      assert.strictEqual(otherSite.status, 403)
      assert.strictEqual(
        (yield* Effect.promise(() => app.run(Effect.flatMap(TaskStore.TaskStore, (s) => s.get(running.id))))).state,
        "running"
      )
      const cancelled = yield* Effect.promise(() =>
        writer.post(`/app/tasks/${running.id}/cancel`, { _csrf: csrfOf(own.text) })
      )
      assert.include(cancelled.text, "The task was cancelled.")
      const view = yield* Effect.promise(() =>
        app.run(Effect.flatMap(TaskLifecycle.TaskLifecycle, (l) => l.view(running.id)))
      )
      assert.strictEqual(view.state, "cancelled")

      // Retry of an ended task: a new task of the same issue, requested by the writer.
      const endedPage = yield* Effect.promise(() => writer.go(`/app/tasks/${ended.id}`))
      assert.include(endedPage.text, "Retry task")
      const retried = yield* Effect.promise(() =>
        writer.post(`/app/tasks/${ended.id}/retry`, { _csrf: csrfOf(endedPage.text) })
      )
      assert.include(retried.text, "This is the retry")
      const retryId = /\/app\/tasks\/(task_[0-9a-z]+)/.exec(retried.url)![1]!
      assert.notStrictEqual(retryId, ended.id)
    }))

  it.effect("my keys: set, replace, delete; only fingerprints are shown, the value in no answer", () =>
    Effect.gen(function*() {
      const app = yield* App
      const value = "sk-ant-web-test-0123456789-secret-value"
      const browser = app.browser()
      const keys = yield* Effect.promise(() => browser.signIn(app.writer.login, "/app/keys"))
      const saved = yield* Effect.promise(() =>
        browser.post("/app/keys", { _csrf: csrfOf(keys.text), name: "ANTHROPIC_API_KEY", value })
      )
      assert.include(saved.text, "Saved ANTHROPIC_API_KEY.")
      const digest = Buffer.from(
        yield* Effect.promise(() => crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)))
      )
      assert.include(saved.text, digest.toString("hex").slice(0, 8))
      const stored = yield* Effect.promise(() =>
        app.run(
          Effect.flatMap(SecretStore.SecretStore, (s) =>
            s.get(SecretStore.scopes.user(app.writer.id), "ANTHROPIC_API_KEY" as SecretStore.SecretName))
        )
      )
      assert.strictEqual(Option.map(stored, Redacted.value).pipe(Option.getOrUndefined), value)

      const bad = yield* Effect.promise(() =>
        browser.post("/app/keys", { _csrf: csrfOf(keys.text), name: "lower", value })
      )
      assert.strictEqual(bad.status, 422)
      const deleted = yield* Effect.promise(() =>
        browser.post("/app/keys/delete", { _csrf: csrfOf(keys.text), name: "ANTHROPIC_API_KEY" })
      )
      assert.include(deleted.text, "Deleted ANTHROPIC_API_KEY.")
      assert.include(deleted.text, "You have no keys yet.")
      for (const page of browser.seen) assert.notInclude(page, value)
    }))

  it.effect("repository settings for admins only, decoded with core's schema; operators only on the operator page", () =>
    Effect.gen(function*() {
      const app = yield* App
      const path = `/app/repos/${app.repo}/settings`
      const writer = app.browser()
      yield* Effect.promise(() => writer.signIn(app.writer.login))
      assert.strictEqual((yield* Effect.promise(() => writer.go(path))).status, 404)
      assert.strictEqual((yield* Effect.promise(() => writer.go("/app/operator"))).status, 404)

      const owner = app.browser()
      const form = yield* Effect.promise(() => owner.signIn(app.owner.login, path))
      assert.include(form.text, "Default agent")
      const refused = yield* Effect.promise(() =>
        owner.post(path, { _csrf: csrfOf(form.text), mentionName: "not a name!" })
      )
      assert.strictEqual(refused.status, 422)
      const saved = yield* Effect.promise(() =>
        owner.post(path, {
          _csrf: csrfOf(form.text),
          defaultAgent: "script",
          maxActivePerRepo: "2",
          defaultTimeoutMs: "15",
          deniedUsers: "mallory\n@eve",
          stateLabels: "true"
        })
      )
      assert.include(saved.text, "Saved.")
      assert.include(saved.text, "mallory\neve")
      const operator = yield* Effect.promise(() => owner.go("/app/operator"))
      assert.strictEqual(operator.status, 200)
      assert.include(operator.text, "Doctor")
      const rotated = yield* Effect.promise(() => owner.post("/app/operator/rotate", { _csrf: csrfOf(operator.text) }))
      assert.include(rotated.text, "Key rotation:")
      const installations = yield* Effect.promise(() => owner.go("/app/installations"))
      assert.include(installations.text, app.repo)
    }))

  it.effect("a task's transcript page: the kept text, as text; linked from the task's page; 404 to outsiders", () =>
    Effect.gen(function*() {
      const app = yield* App
      const earlier = Fixtures.storedTask({
        repo: app.repo,
        at: NOW + 10,
        n: 1,
        state: "timed_out",
        login: app.writer.login
      })
      const ended = new Task.Task({
        ...Fixtures.storedTask({ repo: app.repo, at: NOW + 11, n: 2, state: "succeeded", login: app.writer.login }),
        continuesFrom: earlier.id,
        resumed: "session"
      })
      yield* Effect.promise(() =>
        app.run(Effect.gen(function*() {
          yield* (yield* TaskStore.TaskStore).create(earlier)
          yield* (yield* TaskStore.TaskStore).create(ended)
          yield* (yield* ArtifactStore.ArtifactStore).put(
            new ArtifactStore.Artifact({
              taskId: ended.id,
              kind: "transcript",
              agent: "claude",
              name: "transcript.md",
              content: "### Assistant\n\nWrote <b>plan.md</b> [redacted]",
              storedAt: NOW
            })
          )
        }))
      )
      const reader = app.browser()
      const page = yield* Effect.promise(() => reader.signIn(app.reader.login, `/app/tasks/${ended.id}`))
      assert.include(page.text, `href="/app/tasks/${ended.id}/transcript"`)
      assert.include(page.text, `href="/app/tasks/${earlier.id}"`)
      assert.include(page.text, "(its session resumed)")
      const transcript = yield* Effect.promise(() => reader.go(`/app/tasks/${ended.id}/transcript`))
      assert.strictEqual(transcript.status, 200)
      assert.include(transcript.text, "Wrote &lt;b&gt;plan.md&lt;/b&gt; [redacted]")
      const none = yield* Effect.promise(() => reader.go(`/app/tasks/${earlier.id}/transcript`))
      assert.include(none.text, "No transcript is kept for this task")
      const outsider = app.browser()
      yield* Effect.promise(() => outsider.signIn(app.outsider.login, "/app/tasks"))
      const refused = yield* Effect.promise(() => outsider.go(`/app/tasks/${ended.id}/transcript`))
      assert.strictEqual(refused.status, 404)
    }))
})

describe("the web app when it is off", () => {
  it.effect("without GITHUB_OAUTH_CLIENT_ID every path of it says what to set (404); the rest is untouched", () =>
    Effect.gen(function*() {
      const web = HttpRouter.toWebHandler(
        Layer.merge(
          WebApp.offLayer("GITHUB_OAUTH_CLIENT_ID is not set."),
          HttpRouter.add("GET", "/healthz", HttpServerResponse.text("ok"))
        )
          .pipe(Layer.provide(HttpServer.layerServices)),
        { disableLogger: true }
      )
      for (const path of ["/app", "/app/tasks", "/login", "/login/github", "/oauth/callback"]) {
        const answer = yield* Effect.promise(() => web.handler(new Request(`http://porter.test${path}`)))
        assert.strictEqual(answer.status, 404, path)
        assert.include(yield* Effect.promise(() => answer.text()), "GITHUB_OAUTH_CLIENT_ID")
      }
      const logout = yield* Effect.promise(() =>
        web.handler(new Request("http://porter.test/logout", { method: "POST" }))
      )
      assert.strictEqual(logout.status, 404)
      assert.strictEqual(
        (yield* Effect.promise(() => web.handler(new Request("http://porter.test/healthz")))).status,
        200
      )
      yield* Effect.promise(() => web.dispose())
    }))
})
