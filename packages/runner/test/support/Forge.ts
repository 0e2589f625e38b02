/**
 * The GitHub the runner's tests talk to: the testkit's GitHub emulator, with a user `octo` who owns
 * private repositories and the Porter App installed on that account. The runner gets an
 * installation token minted the way Porter mints one (App JWT → `access_tokens`), so the pull
 * request is opened by `porter[bot]` and the clone fails without the token.
 */
import { GitHubEmulator } from "@porter/testkit"
import { execFileSync } from "node:child_process"
import { createSign } from "node:crypto"
import { join } from "node:path"

export interface Pull {
  readonly number: number
  readonly title: string
  readonly body: string
  readonly head: string
  readonly base: string
  readonly html_url: string
  readonly author: string
}

export interface Forge {
  readonly url: string
  /** The installation token a machine gets as `GITHUB_TOKEN`. */
  readonly token: string
  readonly botLogin: string
  readonly owner: string
  readonly cloneUrl: (fullName: string) => string
  /** Creates a private `octo/<name>` with an initial commit on `main`; its full name. */
  readonly createRepo: (name: string) => Promise<string>
  /** The bare repository on the emulator's disk. */
  readonly barePath: (fullName: string) => string
  /** git on the bare repository on the emulator's disk. */
  readonly git: (fullName: string, args: ReadonlyArray<string>) => string
  readonly pulls: (fullName: string) => Promise<ReadonlyArray<Pull>>
  readonly openPull: (
    fullName: string,
    pull: { readonly title: string; readonly head: string; readonly base: string }
  ) => Promise<Pull>
  readonly close: () => Promise<void>
}

const gitEnv = {
  PATH: process.env["PATH"],
  HOME: process.env["HOME"],
  LANG: "C",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Octo Cat",
  GIT_AUTHOR_EMAIL: "octo@example.com",
  GIT_COMMITTER_NAME: "Octo Cat",
  GIT_COMMITTER_EMAIL: "octo@example.com"
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString("base64url")

/** An RS256 App JWT, as GitHub documents it. */
const appJwt = (appId: number, privateKeyPem: string): string => {
  const now = Math.floor(Date.now() / 1000)
  const unsigned = `${base64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${
    base64url(JSON.stringify({ iat: now - 30, exp: now + 540, iss: appId }))
  }`
  const signature = createSign("RSA-SHA256").update(unsigned).sign(privateKeyPem)
  return `${unsigned}.${base64url(signature)}`
}

interface PullJson {
  readonly number: number
  readonly title: string
  readonly body: string | null
  readonly html_url: string
  readonly head: { readonly ref: string }
  readonly base: { readonly ref: string }
  readonly user: { readonly login: string }
}

const toPull = (p: PullJson): Pull => ({
  number: p.number,
  title: p.title,
  body: p.body ?? "",
  head: p.head.ref,
  base: p.base.ref,
  html_url: p.html_url,
  author: p.user.login
})

export const start = async (): Promise<Forge> => {
  const github = await GitHubEmulator.startPromise()
  const call = async <A>(method: string, path: string, token: string, body?: unknown): Promise<A> => {
    const response = await fetch(`${github.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: "application/vnd.github+json",
        "content-type": "application/json"
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`)
    return (await response.json()) as A
  }
  const owner = await github.createUser("octo")
  const jwt = appJwt(github.app.id, github.app.privateKeyPkcs1)
  const installations = await call<ReadonlyArray<{ id: number; account: { login: string } }>>(
    "GET",
    "/app/installations",
    jwt
  )
  const installation = installations.find((i) => i.account.login === owner.login)
  if (installation === undefined) throw new Error("the Porter App is not installed on octo")
  const { token } = await call<{ token: string }>(
    "POST",
    `/app/installations/${installation.id}/access_tokens`,
    jwt,
    {}
  )

  const git = (fullName: string, args: ReadonlyArray<string>) =>
    execFileSync("git", ["--git-dir", join(github.dataDir, `${fullName}.git`), ...args], {
      env: gitEnv,
      encoding: "utf8"
    }).trim()

  return {
    url: github.url,
    token,
    botLogin: github.app.botLogin,
    owner: owner.login,
    cloneUrl: (fullName) => `${github.url}/${fullName}.git`,
    createRepo: async (name) => {
      const repo = await call<{ full_name: string }>("POST", "/user/repos", owner.token, {
        name,
        auto_init: true,
        private: true
      })
      return repo.full_name
    },
    barePath: (fullName) => join(github.dataDir, `${fullName}.git`),
    git,
    pulls: async (fullName) =>
      (await call<ReadonlyArray<PullJson>>("GET", `/repos/${fullName}/pulls?state=all`, owner.token)).map(toPull),
    openPull: async (fullName, pull) =>
      toPull(await call<PullJson>("POST", `/repos/${fullName}/pulls`, owner.token, { ...pull, body: "" })),
    close: () => github.close()
  }
}
