// The emulator's OAuth web flow (authorize, the sign-in form, the code exchange) and what a user-to-server token may
// ask (`/user`, `/user/installations`, `…/repositories` with the user's permissions); answers of the REST routes are
// validated against GitHub's OpenAPI description by the Octokit clients of githubSupport.ts.
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { call, Emu, EmuLayer, octokit, statusOf, userAccessToken } from "./githubSupport.ts"

const CALLBACK = "http://127.0.0.1:9/oauth/callback"

const form = (fields: Record<string, string>) => ({
  method: "POST",
  redirect: "manual" as const,
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields)
})

layer(EmuLayer(), { excludeTestServices: true })("GitHub emulator: the OAuth web flow", (it) => {
  it.effect("nobody signed in: the sign-in page; its form signs in, approves and redirects with code and state", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      yield* call(() => emu.createUser("olivia"))
      const query = new URLSearchParams({
        client_id: emu.oauth.clientId,
        redirect_uri: CALLBACK,
        state: "xyz",
        login: "olivia"
      })
      const page = yield* call(() => fetch(`${emu.url}/login/oauth/authorize?${query}`, { redirect: "manual" }))
      assert.strictEqual(page.status, 200)
      const text = yield* call(() => page.text())
      assert.include(text, "<form method=\"post\" action=\"/login/oauth/authorize\">")
      assert.include(text, "value=\"olivia\"")

      const signedIn = yield* call(() =>
        fetch(
          `${emu.url}/login/oauth/authorize`,
          form({ login: "olivia", client_id: emu.oauth.clientId, redirect_uri: CALLBACK, state: "xyz" })
        )
      )
      assert.strictEqual(signedIn.status, 302)
      const location = new URL(signedIn.headers.get("location")!)
      assert.strictEqual(`${location.origin}${location.pathname}`, CALLBACK)
      assert.strictEqual(location.searchParams.get("state"), "xyz")
      assert.match(location.searchParams.get("code")!, /^[0-9a-f]{20}$/)
      const cookie = signedIn.headers.get("set-cookie")!.split(";")[0]!

      // The browser is signed in now: the next authorize approves at once.
      const again = yield* call(() =>
        fetch(`${emu.url}/login/oauth/authorize?${query}`, { redirect: "manual", headers: { cookie } })
      )
      assert.strictEqual(again.status, 302)
      assert.notStrictEqual(
        new URL(again.headers.get("location")!).searchParams.get("code"),
        location.searchParams.get("code")
      )

      // An unknown user gets the form again, with a message; an unknown client a 404 page.
      const unknown = yield* call(() =>
        fetch(
          `${emu.url}/login/oauth/authorize`,
          form({ login: "nobody-here", client_id: emu.oauth.clientId, redirect_uri: CALLBACK })
        )
      )
      assert.strictEqual(unknown.status, 422)
      const wrongClient = yield* call(() =>
        fetch(`${emu.url}/login/oauth/authorize?client_id=nope&redirect_uri=${CALLBACK}`, { redirect: "manual" })
      )
      assert.strictEqual(wrongClient.status, 404)
    }))

  it.effect("the code is exchanged once, with the client's secret and the same redirect URI, as JSON or a form", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      yield* call(() => emu.createUser("oscar"))
      emu.oauth.signInAs("oscar")
      const codeOf = () =>
        call(async () => {
          const query = new URLSearchParams({ client_id: emu.oauth.clientId, redirect_uri: CALLBACK })
          const answer = await fetch(`${emu.url}/login/oauth/authorize?${query}`, { redirect: "manual" })
          return new URL(answer.headers.get("location")!).searchParams.get("code")!
        })
      const exchange = (fields: Record<string, string>, accept = "application/json") =>
        call(async () => {
          const answer = await fetch(`${emu.url}/login/oauth/access_token`, {
            ...form(fields),
            headers: { "content-type": "application/x-www-form-urlencoded", accept }
          })
          return { status: answer.status, type: answer.headers.get("content-type") ?? "", text: await answer.text() }
        })
      const client = { client_id: emu.oauth.clientId, client_secret: emu.oauth.clientSecret }

      const code = yield* codeOf()
      const ok = yield* exchange({ ...client, code, redirect_uri: CALLBACK })
      assert.strictEqual(ok.status, 200)
      const token = JSON.parse(ok.text) as { access_token: string; token_type: string; scope: string }
      assert.match(token.access_token, /^ghu_[A-Za-z0-9]{36}$/)
      assert.deepStrictEqual([token.token_type, token.scope], ["bearer", ""])
      const me = yield* call(() => octokit(emu, token.access_token).request("GET /user"))
      assert.strictEqual(me.data.login, "oscar")

      const reused = yield* exchange({ ...client, code })
      assert.strictEqual(JSON.parse(reused.text).error, "bad_verification_code")
      const badSecret = yield* exchange({ ...client, client_secret: "wrong", code: yield* codeOf() })
      assert.strictEqual(JSON.parse(badSecret.text).error, "incorrect_client_credentials")
      const otherUri = yield* exchange({ ...client, code: yield* codeOf(), redirect_uri: "http://127.0.0.1:9/else" })
      assert.strictEqual(JSON.parse(otherUri.text).error, "redirect_uri_mismatch")

      // Without `Accept: application/json`, GitHub answers form-encoded.
      const asForm = yield* exchange({ ...client, code: yield* codeOf() }, "*/*")
      assert.include(asForm.type, "application/x-www-form-urlencoded")
      assert.match(new URLSearchParams(asForm.text).get("access_token")!, /^ghu_/)

      // Codes last 10 minutes.
      const stale = yield* codeOf()
      yield* call(() =>
        fetch(`${emu.url}/_emulator/clock`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ advanceSeconds: 601 })
        })
      )
      assert.strictEqual(JSON.parse((yield* exchange({ ...client, code: stale })).text).error, "bad_verification_code")
      emu.oauth.signInAs(undefined)
    }))

  it.effect("a user token lists the installations and repositories the user can reach, with permissions", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      yield* call(() => admin.request("POST /user/repos", { name: "oauth-shared", auto_init: true }))
      yield* call(() => admin.request("POST /user/repos", { name: "oauth-private", private: true }))
      yield* call(() => emu.createUser("paula"))
      yield* call(() => emu.createUser("outsider"))
      yield* call(() =>
        admin.request("PUT /repos/{owner}/{repo}/collaborators/{username}", {
          owner,
          repo: "oauth-shared",
          username: "paula",
          permission: "push"
        })
      )

      const paula = octokit(emu, yield* call(() => userAccessToken(emu, "paula")))
      const { data } = yield* call(() => paula.request("GET /user/installations"))
      const ownerInstallation = data.installations.find((i) =>
        i.account !== null && "login" in i.account && i.account.login === owner
      )
      assert.isDefined(ownerInstallation, "the installation on the repository's owner")
      const repos = yield* call(() =>
        paula.request("GET /user/installations/{installation_id}/repositories", {
          installation_id: ownerInstallation!.id
        })
      )
      assert.deepStrictEqual(
        repos.data.repositories.map((r) => [r.full_name, r.permissions?.push, r.permissions?.admin]),
        [[`${owner}/oauth-shared`, true, false]]
      )
      const repo = yield* call(() => paula.request("GET /repos/{owner}/{repo}", { owner, repo: "oauth-shared" }))
      assert.deepStrictEqual(repo.data.permissions?.push, true)

      // Someone with no access sees no installation of the owner, and 404 for it.
      const outsider = octokit(emu, yield* call(() => userAccessToken(emu, "outsider")))
      const theirs = yield* call(() => outsider.request("GET /user/installations"))
      assert.isFalse(theirs.data.installations.some((i) => i.id === ownerInstallation!.id))
      const refused = yield* statusOf(() =>
        outsider.request("GET /user/installations/{installation_id}/repositories", {
          installation_id: ownerInstallation!.id
        })
      )
      assert.strictEqual(refused.status, 404)
      // A personal token may not list installations.
      const classic = yield* statusOf(() => admin.request("GET /user/installations"))
      assert.strictEqual(classic.status, 403)
    }))
})
