/**
 * The GitHub behind the fake Porter: the testkit's GitHub emulator, with a user `octo` who owns private repositories
 * and the Porter App installed on that account. The fake Porter's git proxy reads them with an installation token
 * minted the way Porter mints one (App JWT → `access_tokens`); the machine never sees it.
 */
import { GitHubEmulator } from "@porter/testkit"
import { execFileSync } from "node:child_process"
import { createSign } from "node:crypto"
import { join } from "node:path"

export interface Forge {
  readonly url: string
  /** The installation token Porter reads the repositories with (a machine never gets it). */
  readonly token: string
  readonly owner: string
  /** Creates a private `octo/<name>` with an initial commit on `main`; its full name. */
  readonly createRepo: (name: string) => Promise<string>
  /** The bare repository on the emulator's disk. */
  readonly barePath: (fullName: string) => string
  /** git on the bare repository on the emulator's disk (`input` on its standard input); its output, trimmed. */
  readonly git: (fullName: string, args: ReadonlyArray<string>, input?: Buffer) => string
  /** The same, `undefined` when git fails. */
  readonly tryGit: (fullName: string, args: ReadonlyArray<string>) => string | undefined
  /** The same, its output as bytes. */
  readonly gitBytes: (fullName: string, args: ReadonlyArray<string>) => Buffer
  /** Commits `files` (content, and mode: `100644` by default, `120000` for a link) on `branch` of the repository. */
  readonly commitFiles: (
    fullName: string,
    branch: string,
    files: Record<string, string | { readonly content: string | Buffer; readonly mode: string }>
  ) => string
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

  const gitBytes = (fullName: string, args: ReadonlyArray<string>, input?: Buffer) =>
    execFileSync("git", ["--git-dir", join(github.dataDir, `${fullName}.git`), ...args], {
      env: gitEnv,
      maxBuffer: 256 * 1024 * 1024,
      stdio: ["pipe", "pipe", "pipe"],
      ...(input !== undefined ? { input } : {})
    })
  const git = (fullName: string, args: ReadonlyArray<string>, input?: Buffer) =>
    gitBytes(fullName, args, input).toString("utf8").trim()

  return {
    url: github.url,
    token,
    owner: owner.login,
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
    tryGit: (fullName, args) => {
      try {
        return git(fullName, args)
      } catch {
        return undefined
      }
    },
    gitBytes: (fullName, args) => gitBytes(fullName, args),
    commitFiles: (fullName, branch, files) => {
      const parent = git(fullName, ["rev-parse", "--verify", "-q", `refs/heads/${branch}`])
      const parts: Array<Buffer> = [
        Buffer.from(`commit refs/heads/${branch}\ncommitter Octo Cat <octo@example.com> 1700000000 +0000\n`),
        Buffer.from(`data 5\nseed\nfrom ${parent}\n`)
      ]
      for (const [path, file] of Object.entries(files)) {
        const { content, mode } = typeof file === "string" ? { content: file, mode: "100644" } : file
        const bytes = Buffer.from(content)
        parts.push(Buffer.from(`M ${mode} inline ${path}\ndata ${bytes.byteLength}\n`), bytes, Buffer.from("\n"))
      }
      gitBytes(fullName, ["fast-import", "--quiet"], Buffer.concat([...parts, Buffer.from("\n")]))
      return git(fullName, ["rev-parse", `refs/heads/${branch}`])
    },
    close: () => github.close()
  }
}
