// Shared by the GitHub emulator tests: the emulator as a scoped layer, Octokit clients whose every
// answer is validated against GitHub's published OpenAPI description, real git, and temp dirs.
import { Octokit } from "@octokit/rest"
import { GitHubEmulator } from "@porter/testkit"
import { Ajv } from "ajv"
import type { ValidateFunction } from "ajv"
import addFormatsModule from "ajv-formats"
import type { FormatsPlugin } from "ajv-formats"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { createSign } from "node:crypto"
import { readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as path from "node:path"

/** The emulator under test (one per `layer(...)` block). */
export const Emu = GitHubEmulator.GitHubEmulator
export const EmuLayer = GitHubEmulator.layer

// ajv-formats is CommonJS: under NodeNext its plugin is the `default` of what the default import gives.
const addFormats = (addFormatsModule as unknown as { readonly default: FormatsPlugin }).default

type Json = Record<string, unknown>

/** OpenAPI 3.0's `nullable: true` as JSON Schema (`type: [t, "null"]`, or `anyOf` with null). */
const fixNullable = (node: unknown): void => {
  if (Array.isArray(node)) {
    node.forEach(fixNullable)
    return
  }
  if (typeof node !== "object" || node === null) return
  const object = node as Json
  for (const value of Object.values(object)) fixNullable(value)
  if (object["nullable"] !== true) return
  delete object["nullable"]
  if (typeof object["type"] === "string") {
    object["type"] = [object["type"], "null"]
    if (Array.isArray(object["enum"])) object["enum"] = [...object["enum"], null]
    return
  }
  const copy = { ...object }
  for (const key of Object.keys(object)) delete object[key]
  object["anyOf"] = [copy, { type: "null" }]
}

/**
 * Mistakes in GitHub's description that no real answer could satisfy, corrected narrowly:
 * - `GET /app/installations` describes `account` as `allOf: [Simple User, Enterprise]` (both at once);
 *   the single-installation operations say `anyOf`, which is what GitHub sends.
 */
const patchKnownDefects = (spec: {
  paths: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
  >
}) => {
  const list = spec.paths["/app/installations"]?.["get"]?.responses?.["200"]?.content?.["application/json"]?.schema as
    | { items?: { properties?: Record<string, unknown> } }
    | undefined
  if (list?.items?.properties?.["account"]) {
    list.items.properties["account"] = { $ref: "#/components/schemas/installation/properties/account" }
  }
}

const pointer = (...parts: ReadonlyArray<string>) =>
  `gh#/${parts.map((part) => encodeURIComponent(part.replace(/~/g, "~0").replace(/\//g, "~1"))).join("/")}`

export interface OpenApi {
  /** Validation errors of a response (`undefined`: valid, or a status the operation does not describe). */
  readonly response: (method: string, template: string, status: number, body: unknown) => string | undefined
  readonly webhook: (event: string, action: string | undefined, payload: unknown) => string | undefined
  readonly hasOperation: (method: string, template: string) => boolean
  /** The operation path template an absolute URL (a `Link` header's) belongs to. */
  readonly templateOf: (method: string, url: string) => string | undefined
  /** `METHOD template` of every operation answered so far (this test file). */
  readonly called: Set<string>
  /** Those whose answer had a JSON schema to validate against. */
  readonly validated: Set<string>
}

let loaded: OpenApi | undefined

/** GitHub's REST description from `@octokit/openapi`, loaded once per test file. */
export const openApi = (): OpenApi => {
  if (loaded) return loaded
  const file = path.join(
    path.dirname(createRequire(import.meta.url).resolve("@octokit/openapi/package.json")),
    "generated/api.github.com.json"
  )
  const spec = JSON.parse(readFileSync(file, "utf8")) as {
    paths: Record<
      string,
      Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
    >
    components: { schemas: Record<string, unknown> }
  }
  patchKnownDefects(spec)
  fixNullable(spec.paths)
  fixNullable(spec.components)
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false })
  addFormats(ajv)
  ajv.addSchema(spec, "gh")
  const cache = new Map<string, ValidateFunction | undefined>()
  const validated = new Set<string>()
  const called = new Set<string>()
  const compile = (key: string, make: () => ValidateFunction | undefined) => {
    if (!cache.has(key)) cache.set(key, make())
    return cache.get(key)
  }
  const describe = (validate: ValidateFunction) => ajv.errorsText(validate.errors?.slice(0, 40), { separator: "\n  " })
  const matchers = Object.keys(spec.paths).map((template) => ({
    template,
    regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{\w+\\?\}/g, "[^/]+")}$`),
    params: template.split("{").length
  })).sort((a, b) => a.params - b.params) // literal segments win: `/issues/comments` is not issue "comments"
  loaded = {
    called,
    validated,
    templateOf: (method, url) =>
      matchers.find((matcher) =>
        matcher.regex.test(new URL(url).pathname) && spec.paths[matcher.template]?.[method.toLowerCase()] !== undefined
      )?.template,
    hasOperation: (method, template) => spec.paths[template]?.[method.toLowerCase()] !== undefined,
    response: (method, template, status, body) => {
      const operation = spec.paths[template]?.[method.toLowerCase()]
      if (!operation) return `no operation ${method} ${template} in GitHub's OpenAPI description`
      called.add(`${method.toUpperCase()} ${template}`)
      if (typeof body === "string") return undefined // no content (204), or diff / patch media types
      const response = operation.responses?.[String(status)]
      const contentType = Object.keys(response?.content ?? {}).find((type) => type.includes("json"))
      if (!response || !contentType || response.content?.[contentType]?.schema === undefined) return undefined
      const validate = compile(`${method} ${template} ${status}`, () =>
        ajv.compile({
          $ref: pointer(
            "paths",
            template,
            method.toLowerCase(),
            "responses",
            String(status),
            "content",
            contentType,
            "schema"
          )
        }))!
      validated.add(`${method.toUpperCase()} ${template}`)
      return validate(body) ? undefined : `${method} ${template} → ${status}:\n  ${describe(validate)}`
    },
    webhook: (event, action, payload) => {
      const name = `webhook-${event.replace(/_/g, "-")}${action ? `-${action.replace(/_/g, "-")}` : ""}`
      const validate = compile(
        name,
        () =>
          spec.components.schemas[name] === undefined
            ? undefined
            : ajv.compile({ $ref: pointer("components", "schemas", name) })
      )
      if (!validate) return `no webhook schema ${name}`
      return validate(payload) ? undefined : `${name}:\n  ${describe(validate)}`
    }
  }
  return loaded
}

interface RequestOptions {
  readonly method?: string
  readonly url?: string
}

/**
 * An Octokit for the emulator whose answers (successes and errors alike) must match the response
 * schemas of GitHub's OpenAPI description; a mismatch fails the call.
 */
export const octokit = (emulator: GitHubEmulator.Emulator, token?: string): Octokit => {
  const spec = openApi()
  const client = new Octokit({
    baseUrl: emulator.url,
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    ...(token === undefined ? {} : { auth: token })
  })
  const check = (options: RequestOptions, status: number, data: unknown) => {
    const method = options.method ?? "GET"
    // Later pages are requested by the absolute URLs of `Link` headers.
    const template = /^https?:/.test(options.url ?? "") ? spec.templateOf(method, options.url!) : options.url
    const problem = spec.response(method, template ?? options.url ?? "", status, data)
    if (problem) throw new Error(`OpenAPI mismatch: ${problem}`)
  }
  client.hook.after("request", (response, options) => check(options, response.status, response.data))
  client.hook.error("request", (error, options) => {
    const response = (error as { response?: { status: number; data: unknown } }).response
    if (response) check(options, response.status, response.data)
    throw error
  })
  return client
}

/** The HTTP status a failing Octokit call ended with (fails the test if it succeeded). */
export const statusOf = (call: () => Promise<unknown>) =>
  Effect.promise(() =>
    call().then(
      () => {
        throw new Error("expected the call to fail")
      },
      (error: unknown) => {
        const status = (error as { status?: unknown }).status
        if (typeof status !== "number") throw error
        return { status, message: (error as { response?: { data?: { message?: string } } }).response?.data?.message }
      }
    )
  )

export const call = <A>(f: () => Promise<A>) => Effect.promise(f)

export const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(path.join(tmpdir(), "porter-github-test-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const GIT_ENV = {
  PATH: process.env["PATH"],
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: "",
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com"
}

export interface GitResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs real `git` (no prompts, no user or system config); never fails, returns the exit code. */
export const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.callback<GitResult>((resume) => {
    const child = execFile("git", args, { cwd, env: GIT_ENV, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    return Effect.sync(() => child.kill())
  })

/** Like `git`, but a non-zero exit fails the test with git's output. */
export const gitOk = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.flatMap(git(cwd, ...args), (result) =>
    result.code === 0
      ? Effect.succeed(result.stdout)
      : Effect.die(new Error(`git ${args.join(" ")} failed (${result.code}):\n${result.stderr}`)))

/** `http://x-access-token:<token>@127.0.0.1:PORT/owner/repo.git` */
export const cloneUrl = (
  emulator: GitHubEmulator.Emulator,
  fullName: string,
  token?: string,
  user = "x-access-token"
) => {
  const url = new URL(`${emulator.url}/${fullName}.git`)
  if (token !== undefined) {
    url.username = user
    url.password = token
  }
  return url.toString()
}

/** An App JWT as GitHub documents it (RS256 over the PKCS#1 key; `iat` 60 s back, `exp` within 10 min). */
export const appJwt = (
  key: string,
  claims: { readonly iss: number | string; readonly iat?: number; readonly exp?: number }
) => {
  const now = Math.floor(Date.now() / 1000)
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const unsigned = `${encode({ alg: "RS256", typ: "JWT" })}.${encode({ iat: now - 60, exp: now + 9 * 60, ...claims })}`
  return `${unsigned}.${createSign("RSA-SHA256").update(unsigned).sign(key, "base64url")}`
}

/** An installation token for `owner`'s installation, minted through the App API. */
export const installationToken = (
  emulator: GitHubEmulator.Emulator,
  owner: string,
  repositories?: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const app = octokit(emulator, appJwt(emulator.app.privateKeyPkcs1, { iss: emulator.app.id }))
    const installation = yield* call(() => app.rest.apps.getUserInstallation({ username: owner }))
    const minted = yield* call(() =>
      app.rest.apps.createInstallationAccessToken({
        installation_id: installation.data.id,
        ...(repositories ? { repositories: [...repositories] } : {})
      })
    )
    return minted.data.token
  })

/**
 * A user-to-server token (`ghu_…`) for `login` from the emulator's OAuth web flow, as a browser and a web app
 * would get it: the sign-in form on `/login/oauth/authorize`, then the code exchanged at `/login/oauth/access_token`.
 */
export const userAccessToken = async (emulator: GitHubEmulator.Emulator, login: string): Promise<string> => {
  const redirectUri = "http://127.0.0.1:9/oauth/callback"
  const signedIn = await fetch(`${emulator.url}/login/oauth/authorize`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ login, client_id: emulator.oauth.clientId, redirect_uri: redirectUri, state: "s" })
  })
  const code = new URL(signedIn.headers.get("location") ?? redirectUri).searchParams.get("code")
  if (code === null) throw new Error(`no code from the sign-in form (${signedIn.status})`)
  const exchanged = await fetch(`${emulator.url}/login/oauth/access_token`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({
      client_id: emulator.oauth.clientId,
      client_secret: emulator.oauth.clientSecret,
      code,
      redirect_uri: redirectUri
    })
  })
  const body = await exchanged.json() as { readonly access_token?: string; readonly error?: string }
  if (body.access_token === undefined) throw new Error(`no token: ${body.error ?? exchanged.status}`)
  return body.access_token
}
