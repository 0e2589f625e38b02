// Sessions, CSRF and the OAuth state on their own: cookies that are genuine, stored and current only; tokens sealed at
// rest; CSRF tokens per session; the state of a sign-in bound to its cookie and to ten minutes.
import { assert, describe, it } from "@effect/vitest"
import { SessionKeys, Sessions, SessionStore, WebConfig } from "@porter/web"
import { Effect, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"

const config = (publicUrl = "http://localhost:8787") =>
  WebConfig.layer({
    clientId: "Iv23test",
    clientSecret: Redacted.make("client-secret"),
    sessionSecret: Redacted.make("0123456789abcdef0123456789abcdef-session"),
    publicUrl,
    sessionTtlMs: 60 * 60_000
  })

const layer = (publicUrl?: string) =>
  Sessions.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(SessionKeys.layer, SessionStore.layerMemory)),
    Layer.provideMerge(Layer.orDie(config(publicUrl)))
  )

const USER = { id: 1001, login: "wendy" }
const TOKEN = Redacted.make("ghu_userToken0123456789abcdefghijklmnop")

describe("Sessions", () => {
  it.effect("a started session is found by its cookie, with the token; the store holds no id and no token", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const { cookie, session } = yield* sessions.start(USER, TOKEN)
      assert.strictEqual(cookie.name, "porter_session")
      assert.strictEqual(cookie.maxAgeSeconds, 3600)
      const found = yield* sessions.current(cookie.value)
      assert.isTrue(Option.isSome(found))
      assert.strictEqual(Option.getOrThrow(found).login, "wendy")
      assert.strictEqual(Redacted.value(Option.getOrThrow(found).token), Redacted.value(TOKEN))
      assert.strictEqual(Option.getOrThrow(found).csrf, session.csrf)

      const stored = Option.getOrThrow(yield* (yield* SessionStore.SessionStore).get(session.idHash))
      const [id] = cookie.value.split(".")
      assert.notInclude(JSON.stringify(stored), id!)
      assert.notInclude(JSON.stringify(stored), Redacted.value(TOKEN))
    }).pipe(Effect.provide(layer())))

  it.effect("tampered, truncated or foreign cookies are no session", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const { cookie } = yield* sessions.start(USER, TOKEN)
      const [id, tag] = cookie.value.split(".") as [string, string]
      const flip = (text: string) => `${text.slice(0, -1)}${text.endsWith("A") ? "B" : "A"}`
      for (const forged of [`${flip(id)}.${tag}`, `${id}.${flip(tag)}`, id, `${id}.${tag}.x`, "", undefined]) {
        assert.isTrue(Option.isNone(yield* sessions.current(forged)), String(forged))
      }
      // Another deployment's secret signs nothing here.
      const other = yield* Effect.provide(
        Effect.flatMap(Sessions.Sessions, (s) => s.start(USER, TOKEN)),
        // Fresh layers: the same layer values would be shared with the test's own (memoized).
        Layer.fresh(Sessions.layer).pipe(
          Layer.provide(Layer.mergeAll(Layer.fresh(SessionKeys.layer), Layer.fresh(SessionStore.layerMemory))),
          Layer.provide(Layer.orDie(WebConfig.layer({
            clientId: "x",
            clientSecret: Redacted.make("y"),
            sessionSecret: Redacted.make("another-secret-of-at-least-32-characters"),
            publicUrl: "http://localhost"
          })))
        )
      )
      assert.isTrue(Option.isNone(yield* sessions.current(other.cookie.value)))
    }).pipe(Effect.provide(layer())))

  it.effect("sessions expire, and end when signed out", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const first = yield* sessions.start(USER, TOKEN)
      yield* TestClock.adjust("59 minutes")
      assert.isTrue(Option.isSome(yield* sessions.current(first.cookie.value)))
      yield* TestClock.adjust("2 minutes")
      assert.isTrue(Option.isNone(yield* sessions.current(first.cookie.value)))

      const second = yield* sessions.start(USER, TOKEN)
      const cleared = yield* sessions.end(second.session)
      assert.deepStrictEqual(cleared, { name: "porter_session", value: "", maxAgeSeconds: 0 })
      assert.isTrue(Option.isNone(yield* sessions.current(second.cookie.value)))
    }).pipe(Effect.provide(layer())))

  it.effect("CSRF tokens: per session, compared exactly", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const a = yield* sessions.start(USER, TOKEN)
      const b = yield* sessions.start(USER, TOKEN)
      assert.notStrictEqual(a.session.csrf, b.session.csrf)
      assert.isTrue(sessions.checkCsrf(a.session, a.session.csrf))
      assert.isFalse(sessions.checkCsrf(a.session, b.session.csrf))
      assert.isFalse(sessions.checkCsrf(a.session, undefined))
      assert.isFalse(sessions.checkCsrf(a.session, ""))
      assert.isFalse(sessions.checkCsrf(a.session, `${a.session.csrf}x`))
    }).pipe(Effect.provide(layer())))

  it.effect("the OAuth state: the same state, with its cookie, within ten minutes; returns stay on /app", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const started = yield* sessions.beginOAuth("/app/tasks?state=running")
      assert.deepStrictEqual(
        yield* sessions.finishOAuth(started.cookie.value, started.state),
        Option.some("/app/tasks?state=running")
      )
      assert.isTrue(Option.isNone(yield* sessions.finishOAuth(started.cookie.value, "another-state")))
      assert.isTrue(Option.isNone(yield* sessions.finishOAuth(undefined, started.state)))
      const other = yield* sessions.beginOAuth("/app")
      assert.isTrue(Option.isNone(yield* sessions.finishOAuth(other.cookie.value, started.state)))
      yield* TestClock.adjust("11 minutes")
      assert.isTrue(Option.isNone(yield* sessions.finishOAuth(started.cookie.value, started.state)))

      for (const target of ["https://evil.example/app", "//evil.example/app", "/appx", "/app/../admin", "/\\evil"]) {
        const away = yield* sessions.beginOAuth(target)
        const back = Option.getOrThrow(yield* sessions.finishOAuth(away.cookie.value, away.state))
        assert.isTrue(back === "/app" || back.startsWith("/app/"), target)
        assert.notInclude(back, "evil")
      }
    }).pipe(Effect.provide(layer())))

  it.effect("on an https public URL, cookies are __Host- cookies", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      assert.strictEqual(sessions.cookieName, "__Host-porter_session")
      assert.strictEqual(sessions.oauthCookieName, "__Host-porter_oauth")
    }).pipe(Effect.provide(layer("https://porter.example.com"))))

  it.effect("a short session secret is refused, naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(WebConfig.make({
        clientId: "x",
        clientSecret: Redacted.make("y"),
        sessionSecret: Redacted.make("too-short"),
        publicUrl: "http://localhost"
      }))
      assert.include(error.message, "PORTER_SESSION_SECRET")
      assert.notInclude(error.message, "too-short")
    }))
})
