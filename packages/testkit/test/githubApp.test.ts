// The emulated GitHub App: JWTs signed with the PKCS#1 key the emulator hands out, installations,
// installation tokens (expiry, repository scoping, permissions) and what the bot may do with them.
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { generateKeyPairSync } from "node:crypto"
import { appJwt, call, Emu, EmuLayer, octokit, statusOf } from "./githubSupport.ts"

const advanceClock = (url: string, seconds: number) =>
  call(() =>
    fetch(`${url}/_emulator/clock`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ advanceSeconds: seconds })
    }).then((response) => response.json())
  )

layer(EmuLayer({ appSlug: "porter-test" }), { excludeTestServices: true })("GitHub emulator App auth", (it) => {
  it.effect("hands out a PKCS#1 key; GET /app needs a JWT signed with it", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      assert.match(emu.app.privateKeyPkcs1, /^-----BEGIN RSA PRIVATE KEY-----\n/)
      assert.strictEqual(emu.app.botLogin, "porter-test[bot]")
      const app = yield* call(() =>
        octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id })).rest.apps.getAuthenticated()
      )
      assert.deepStrictEqual([app.data?.id, app.data?.slug], [emu.app.id, "porter-test"])
      // GitHub also accepts the client id as issuer.
      const byClientId = yield* call(() =>
        octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.clientId })).rest.apps.getAuthenticated()
      )
      assert.strictEqual(byClientId.data?.id, emu.app.id)
      const withUserToken = yield* statusOf(() => octokit(emu, emu.admin.token).rest.apps.getAuthenticated())
      assert.deepStrictEqual(withUserToken, { status: 401, message: "A JSON web token could not be decoded" })
    }))

  it.effect("refuses expired, too long-lived, foreign-key and wrong-issuer JWTs with 401", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const key = emu.app.privateKeyPkcs1
      const now = Math.floor(Date.now() / 1000)
      const foreign = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
        type: "pkcs1",
        format: "pem"
      })
      const cases = {
        expired: appJwt(key, { iss: emu.app.id, iat: now - 700, exp: now - 100 }),
        tooLong: appJwt(key, { iss: emu.app.id, iat: now, exp: now + 3600 }),
        futureIat: appJwt(key, { iss: emu.app.id, iat: now + 600, exp: now + 660 }),
        foreignKey: appJwt(String(foreign), { iss: emu.app.id }),
        wrongIssuer: appJwt(key, { iss: 12345 })
      }
      const statuses: Record<string, { status: number; message: string | undefined }> = {}
      for (const [name, jwt] of Object.entries(cases)) {
        statuses[name] = yield* statusOf(() => octokit(emu, jwt).rest.apps.getAuthenticated())
      }
      assert.deepStrictEqual(Object.values(statuses).map((entry) => entry.status), [401, 401, 401, 401, 401])
      assert.match(statuses["expired"]!.message ?? "", /'Expiration time' claim \('exp'\) must be a numeric value/)
      assert.match(statuses["tooLong"]!.message ?? "", /'Expiration time' claim \('exp'\) is too far in the future/)
      assert.match(statuses["futureIat"]!.message ?? "", /'Issued at' claim \('iat'\)/)
    }))

  it.effect("one installation per account, stable, found by repository, user and organization", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
      const dana = yield* call(() => emu.createUser("dana"))
      yield* call(() => octokit(emu, dana.token).rest.repos.createForAuthenticatedUser({ name: "one" }))
      yield* call(() => octokit(emu, dana.token).rest.repos.createForAuthenticatedUser({ name: "two" }))
      yield* call(() => admin.rest.repos.createInOrg({ org: "install-org", name: "tool" }))

      const byRepo = yield* call(() => app.rest.apps.getRepoInstallation({ owner: "dana", repo: "one" }))
      const byOtherRepo = yield* call(() => app.rest.apps.getRepoInstallation({ owner: "dana", repo: "two" }))
      const byUser = yield* call(() => app.rest.apps.getUserInstallation({ username: "dana" }))
      assert.strictEqual(byRepo.data.id, byUser.data.id)
      assert.strictEqual(byOtherRepo.data.id, byUser.data.id)
      assert.strictEqual(byUser.data.account && "login" in byUser.data.account ? byUser.data.account.login : "", "dana")
      const byOrg = yield* call(() => app.rest.apps.getOrgInstallation({ org: "install-org" }))
      assert.notStrictEqual(byOrg.data.id, byUser.data.id)
      assert.strictEqual(byOrg.data.target_type, "Organization")
      const one = yield* call(() => app.rest.apps.getInstallation({ installation_id: byOrg.data.id }))
      assert.strictEqual(one.data.app_id, emu.app.id)
      const all = yield* call(() => app.rest.apps.listInstallations({ per_page: 100 }))
      assert.isTrue(all.data.some((installation) => installation.id === byUser.data.id))
      const missing = yield* statusOf(() => app.rest.apps.getRepoInstallation({ owner: "dana", repo: "nope" }))
      assert.strictEqual(missing.status, 404)
      const userTokenRefused = yield* statusOf(() => admin.rest.apps.getUserInstallation({ username: "dana" }))
      assert.strictEqual(userTokenRefused.status, 401)
    }))

  it.effect("installation tokens: ghs_ tokens for an hour, GitHub's fields, all repositories of the account", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
      const erin = yield* call(() => emu.createUser("erin"))
      yield* call(() =>
        octokit(emu, erin.token).rest.repos.createForAuthenticatedUser({ name: "alpha", private: true })
      )
      yield* call(() => octokit(emu, erin.token).rest.repos.createForAuthenticatedUser({ name: "beta", private: true }))
      const installation = yield* call(() => app.rest.apps.getUserInstallation({ username: "erin" }))
      const before = Date.now()
      const minted = yield* call(() =>
        app.rest.apps.createInstallationAccessToken({ installation_id: installation.data.id })
      )
      assert.strictEqual(minted.status, 201)
      assert.match(minted.data.token, /^ghs_\w{36}$/)
      // `expires_at` has whole seconds; the request itself takes a little time.
      const lifetime = Date.parse(minted.data.expires_at) - before
      assert.isTrue(lifetime > 59 * 60_000 && lifetime <= 60 * 60_000 + 5_000, `lifetime ${lifetime}`)
      assert.deepStrictEqual(minted.data.permissions, {
        contents: "write",
        issues: "write",
        pull_requests: "write",
        metadata: "read",
        checks: "read",
        actions: "read"
      })
      assert.strictEqual(minted.data.repository_selection, "all")
      assert.isUndefined(minted.data.repositories)
      const listed = yield* call(() => octokit(emu, minted.data.token).rest.apps.listReposAccessibleToInstallation())
      assert.deepStrictEqual(listed.data.repositories.map((repo) => repo.name).sort(), ["alpha", "beta"])
      assert.strictEqual(listed.data.total_count, 2)
      const user = yield* statusOf(() => octokit(emu, minted.data.token).rest.users.getAuthenticated())
      assert.strictEqual(user.status, 403)
      const unknown = yield* statusOf(() => app.rest.apps.createInstallationAccessToken({ installation_id: 1 }))
      assert.strictEqual(unknown.status, 404)
      const byUserToken = yield* statusOf(() =>
        octokit(emu, erin.token).rest.apps.createInstallationAccessToken({ installation_id: installation.data.id })
      )
      assert.strictEqual(byUserToken.status, 401)
    }))

  it.effect("scoped tokens see only their repositories (404 for others, 403 writing elsewhere, 422 for unknown ones)", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
      const finn = yield* call(() => emu.createUser("finn"))
      const asFinn = octokit(emu, finn.token)
      const task = yield* call(() => asFinn.rest.repos.createForAuthenticatedUser({ name: "task", private: true }))
      yield* call(() => asFinn.rest.repos.createForAuthenticatedUser({ name: "other", private: true }))
      yield* call(() => asFinn.rest.repos.createForAuthenticatedUser({ name: "public-other" }))
      yield* call(() => asFinn.rest.issues.create({ owner: "finn", repo: "public-other", title: "Open to all" }))
      const installation = yield* call(() => app.rest.apps.getUserInstallation({ username: "finn" }))

      for (const scope of [{ repositories: ["task"] }, { repository_ids: [task.data.id] }]) {
        const minted = yield* call(() =>
          app.rest.apps.createInstallationAccessToken({ installation_id: installation.data.id, ...scope })
        )
        assert.strictEqual(minted.data.repository_selection, "selected")
        assert.deepStrictEqual(minted.data.repositories?.map((repo) => repo.full_name), ["finn/task"])
        const bot = octokit(emu, minted.data.token)
        const own = yield* call(() => bot.rest.repos.get({ owner: "finn", repo: "task" }))
        assert.strictEqual(own.data.name, "task")
        const hidden = yield* statusOf(() => bot.rest.repos.get({ owner: "finn", repo: "other" }))
        assert.strictEqual(hidden.status, 404)
        const publicRead = yield* call(() =>
          bot.rest.issues.get({ owner: "finn", repo: "public-other", issue_number: 1 })
        )
        assert.strictEqual(publicRead.data.title, "Open to all")
        const publicWrite = yield* statusOf(() =>
          bot.rest.issues.createComment({ owner: "finn", repo: "public-other", issue_number: 1, body: "hi" })
        )
        assert.deepStrictEqual(publicWrite, { status: 403, message: "Resource not accessible by integration" })
        const listed = yield* call(() => bot.rest.apps.listReposAccessibleToInstallation())
        assert.deepStrictEqual(listed.data.repositories.map((repo) => repo.name), ["task"])
      }
      const unknown = yield* statusOf(() =>
        app.rest.apps.createInstallationAccessToken({ installation_id: installation.data.id, repositories: ["nope"] })
      )
      assert.strictEqual(unknown.status, 422)
    }))

  it.effect("requested permissions narrow the token; more than granted is 422", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
      const gus = yield* call(() => emu.createUser("gus"))
      yield* call(() =>
        octokit(emu, gus.token).rest.repos.createForAuthenticatedUser({ name: "perm", auto_init: true })
      )
      yield* call(() => octokit(emu, gus.token).rest.issues.create({ owner: "gus", repo: "perm", title: "Read me" }))
      const installation = yield* call(() => app.rest.apps.getUserInstallation({ username: "gus" }))
      const readOnly = yield* call(() =>
        app.rest.apps.createInstallationAccessToken({
          installation_id: installation.data.id,
          permissions: { issues: "read" }
        })
      )
      assert.deepStrictEqual(readOnly.data.permissions, { issues: "read" })
      const bot = octokit(emu, readOnly.data.token)
      const read = yield* call(() => bot.rest.issues.get({ owner: "gus", repo: "perm", issue_number: 1 }))
      assert.strictEqual(read.data.title, "Read me")
      const write = yield* statusOf(() =>
        bot.rest.issues.createComment({ owner: "gus", repo: "perm", issue_number: 1, body: "nope" })
      )
      assert.strictEqual(write.status, 403)
      const tooMuch = yield* statusOf(() =>
        app.rest.apps.createInstallationAccessToken({
          installation_id: installation.data.id,
          permissions: { administration: "write" }
        })
      )
      assert.strictEqual(tooMuch.status, 422)
    }))

  it.effect("the bot authors what an installation token writes; tokens expire after an hour and can be revoked", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
      const hal = yield* call(() => emu.createUser("hal"))
      yield* call(() => octokit(emu, hal.token).rest.repos.createForAuthenticatedUser({ name: "bot", auto_init: true }))
      yield* call(() => octokit(emu, hal.token).rest.issues.create({ owner: "hal", repo: "bot", title: "Help" }))
      const installation = yield* call(() => app.rest.apps.getRepoInstallation({ owner: "hal", repo: "bot" }))
      const minted = yield* call(() =>
        app.rest.apps.createInstallationAccessToken({ installation_id: installation.data.id, repositories: ["bot"] })
      )
      const bot = octokit(emu, minted.data.token)
      const comment = yield* call(() =>
        bot.rest.issues.createComment({ owner: "hal", repo: "bot", issue_number: 1, body: "On it" })
      )
      assert.deepStrictEqual([comment.data.user?.login, comment.data.user?.type], ["porter-test[bot]", "Bot"])
      assert.strictEqual(comment.data.user?.id, emu.app.botId)
      assert.strictEqual(comment.data.performed_via_github_app?.id, emu.app.id)
      const reaction = yield* call(() =>
        bot.rest.reactions.createForIssueComment({
          owner: "hal",
          repo: "bot",
          comment_id: comment.data.id,
          content: "eyes"
        })
      )
      assert.strictEqual(reaction.data.user?.login, "porter-test[bot]")

      yield* advanceClock(emu.url, 61 * 60)
      const expired = yield* statusOf(() => bot.rest.issues.get({ owner: "hal", repo: "bot", issue_number: 1 }))
      assert.deepStrictEqual(expired, { status: 401, message: "Bad credentials" })
      const dated = yield* call(() => fetch(`${emu.url}/repos/hal/bot`))
      const skew = Date.parse(dated.headers.get("date") ?? "") - Date.now()
      assert.isTrue(skew > 59 * 60_000 && skew < 62 * 60_000, `Date header follows the emulator's clock (${skew} ms)`)
      // A JWT made now is in the emulator's past: GitHub's clock-drift answer, which Octokit's App auth retries on.
      const stale = yield* statusOf(() => app.rest.apps.getAuthenticated())
      assert.strictEqual(stale.status, 401)
      yield* advanceClock(emu.url, -61 * 60)

      const fresh = yield* call(() =>
        app.rest.apps.createInstallationAccessToken({ installation_id: installation.data.id })
      )
      const revoked = yield* call(() => octokit(emu, fresh.data.token).rest.apps.revokeInstallationAccessToken())
      assert.strictEqual(revoked.status, 204)
      const afterRevoke = yield* statusOf(() =>
        octokit(emu, fresh.data.token).rest.issues.get({ owner: "hal", repo: "bot", issue_number: 1 })
      )
      assert.strictEqual(afterRevoke.status, 401)
    }))
})
