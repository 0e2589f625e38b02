/**
 * The git host: smart HTTP at `${url}/<owner>/<repo>(.git)/…` (`info/refs`, `git-upload-pack`,
 * `git-receive-pack`, `HEAD`, `objects/…`) as `HttpRouter` routes, served by `git http-backend`
 * (`GitCgi.ts`). Credentials come as Basic auth (`x-access-token:<token>`, `<login>:<token>`, or the token
 * as user name); reading needs read access (public repositories: anyone), pushing write access
 * (installation tokens: `contents: write` and the repository in scope). Refusals are git's: 401 with
 * `WWW-Authenticate: Basic realm="GitHub"` (git fails without prompting), 404 `Repository not found.`,
 * 403 `Permission to o/r.git denied to <login>.`
 *
 * After a push the branches are read back before git returns, and the first branch pushed to an empty
 * repository becomes its default, as on GitHub.
 */
import { Effect, Option } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import type { ChildProcess } from "node:child_process"
import { authenticate, authorize, credentialOf } from "./Auth.ts"
import * as Git from "./Git.ts"
import * as GitCgi from "./GitCgi.ts"
import type { Principal, Repo, State } from "./State.ts"

export interface GitHttpOptions {
  readonly state: State
  /** The directory holding `<owner>/<repo>.git`. */
  readonly dataDir: string
  readonly track: (child: ChildProcess) => void
  /** What a path that is not a git service answers (the REST API's 404). */
  readonly notFound: () => HttpServerResponse.HttpServerResponse
}

/** The service paths `git http-backend` serves, in `HttpRouter`'s form. */
const SERVICES = ["info/refs", "git-upload-pack", "git-receive-pack", "HEAD", "objects/*"] as const

const denied = (status: number, message: string) =>
  HttpServerResponse.text(`${message}\n`, {
    status,
    contentType: "text/plain; charset=utf-8",
    ...(status === 401 ? { headers: { "www-authenticate": "Basic realm=\"GitHub\"" } } : {})
  })

/** The token of a git request: Basic auth's password, or its user name when there is no password. */
const tokenOf = (header: string | undefined) => {
  const token = credentialOf(header)
  if (header === undefined || !/^basic\s/i.test(header) || token !== "") return token
  // `https://<token>@host/…`: the token arrives as the user name.
  const decoded = Buffer.from(header.trim().slice(6), "base64").toString("utf8")
  return decoded.slice(0, decoded.indexOf(":") < 0 ? undefined : decoded.indexOf(":"))
}

export const routes = (options: GitHttpOptions): Array<HttpRouter.Route<never, never>> => {
  const { state } = options

  /** Reads the branches back after a push; the first one pushed to an empty repository becomes the default. */
  const afterPush = (repo: Repo) =>
    Effect.gen(function*() {
      repo.pushedAt = state.now()
      repo.updatedAt = state.now()
      const branches = yield* Git.branches(repo.gitDir)
      if (branches.length > 0 && !branches.some((branch) => branch.name === repo.defaultBranch)) {
        repo.defaultBranch = branches[0]!.name
        yield* Git.setHead(repo.gitDir, repo.defaultBranch)
      }
    }).pipe(Effect.catchCause(() => Effect.void))

  const serve = (service: typeof SERVICES[number]) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const params = yield* HttpRouter.params
      const servicePath = service === "objects/*" ? params["*"] && `objects/${params["*"]}` : service
      if (!servicePath) return options.notFound()
      const url = new URL(request.url, "http://127.0.0.1")
      const repo = state.repo(params["owner"] ?? "", (params["repo"] ?? "").replace(/\.git$/, ""))
      const write = service === "git-receive-pack" || url.searchParams.get("service") === "git-receive-pack"
      const principal = yield* Effect.result(authenticate(state, tokenOf(request.headers["authorization"])))
      if (principal._tag === "Failure" || principal.success._tag === "App") {
        return denied(
          401,
          "remote: Invalid username or token. Password authentication is not supported for Git operations."
        )
      }
      const who: Principal = principal.success
      if (!repo) {
        return who._tag === "Anonymous"
          ? denied(401, "Authentication required")
          : denied(404, "remote: Repository not found.")
      }
      const allowed = yield* Effect.result(authorize(state, who, repo, {
        role: write ? "write" : "read",
        scope: "contents",
        level: write ? "write" : "read"
      }))
      if (allowed._tag === "Failure") {
        if (who._tag === "Anonymous") return denied(401, "Authentication required")
        if (allowed.failure.status === 404) return denied(404, "remote: Repository not found.")
        const login = who._tag === "User" ? who.account.login : state.app.bot.login
        return denied(403, `remote: Permission to ${repo.owner.login}/${repo.name}.git denied to ${login}.`)
      }
      const answer = yield* GitCgi.serveHttp({
        method: request.method,
        headers: request.headers,
        remoteAddress: Option.getOrElse(request.remoteAddress, () => "127.0.0.1"),
        body: request.stream,
        projectRoot: options.dataDir,
        pathInfo: `/${repo.owner.login}/${repo.name}.git/${servicePath}`,
        query: url.search.replace(/^\?/, ""),
        remoteUser: who._tag === "User"
          ? who.account.login
          : who._tag === "Installation"
          ? state.app.bot.login
          : undefined,
        track: options.track,
        after: () => service === "git-receive-pack" ? afterPush(repo) : Effect.void
      })
      return HttpServerResponse.stream(answer.body, { status: answer.status, headers: answer.headers })
    })

  return SERVICES.map((service) => HttpRouter.route("*", `/:owner/:repo/${service}`, serve(service)))
}
