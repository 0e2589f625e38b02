/**
 * The web app's configuration: the GitHub App's OAuth client (id and secret), the session secret (signs cookies
 * and CSRF tokens, encrypts the users' GitHub tokens; keys are derived from it with HKDF), the operators (GitHub
 * logins who may rotate keys and read the doctor), and where things are (Porter's public URL, GitHub's web host for
 * the OAuth pages, GitHub's REST API).
 *
 * Variables (`layerConfig`): `GITHUB_OAUTH_CLIENT_ID`, `GITHUB_OAUTH_CLIENT_SECRET`, `PORTER_SESSION_SECRET` (at
 * least 32 characters: `openssl rand -base64 32`), `PORTER_OPERATORS` (`alice,bob`; default nobody),
 * `PORTER_PUBLIC_URL` (`WebApp.layerConfig` takes Porter's own when it is not set), `GITHUB_WEB_URL` (default `GITHUB_GIT_URL`, else `https://github.com`), `GITHUB_API_URL`
 * (default `https://api.github.com`), `PORTER_SESSION_TTL_HOURS` (default 12).
 *
 * Cannot: rotate the session secret without signing everyone out (sessions and stored tokens are bound to it).
 */
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"

/** The web app's settings given in code: OAuth client, session secret, operators, URLs. */
export interface WebOptions {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly sessionSecret: Redacted.Redacted<string>
  /** GitHub logins (any case) who see the operator page. */
  readonly operators?: ReadonlyArray<string> | undefined
  /** Porter's public URL: the OAuth callback is `${publicUrl}/oauth/callback`; `https:` makes cookies `Secure`. */
  readonly publicUrl: string
  /** GitHub's web host (`/login/oauth/…`); default `https://github.com`. */
  readonly githubWebUrl?: string | undefined
  /** GitHub's REST API root; default `https://api.github.com`. */
  readonly githubApiUrl?: string | undefined
  /** How long a sign-in lasts; default 12 hours. */
  readonly sessionTtlMs?: number | undefined
  /** How long a user's repositories and permissions are kept before GitHub is asked again; default 60 s. */
  readonly accessTtlMs?: number | undefined
}

/** The configuration, resolved. */
export interface Web {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly sessionSecret: Redacted.Redacted<string>
  /** Lower-cased logins. */
  readonly operators: ReadonlySet<string>
  readonly publicUrl: string
  readonly githubWebUrl: string
  readonly githubApiUrl: string
  readonly sessionTtlMs: number
  readonly accessTtlMs: number
  /** Cookies are `Secure` (the public URL is https). */
  readonly secureCookies: boolean
  readonly callbackUrl: string
}

/** The web app's configuration, checked. */
export class WebConfig extends Context.Service<WebConfig, Web>()("@porter/web/WebConfig") {}

/** A configuration that cannot work; the message names variables, never values. */
export class WebConfigError extends Schema.TaggedError<WebConfigError>()("WebConfigError", {
  message: Schema.String
}) {}

const MIN_SECRET_LENGTH = 32
const trimSlash = (url: string) => url.replace(/\/+$/, "")

/** The web configuration from options, or why it is not usable. */
export const make = (options: WebOptions): Effect.Effect<Web, WebConfigError> =>
  Effect.gen(function*() {
    if (Redacted.value(options.sessionSecret).trim().length < MIN_SECRET_LENGTH) {
      return yield* new WebConfigError({
        message: `PORTER_SESSION_SECRET must be at least ${MIN_SECRET_LENGTH} characters (\`openssl rand -base64 32\`)`
      })
    }
    if (options.clientId.trim().length === 0 || Redacted.value(options.clientSecret).trim().length === 0) {
      return yield* new WebConfigError({
        message: "GITHUB_OAUTH_CLIENT_ID and GITHUB_OAUTH_CLIENT_SECRET must not be blank"
      })
    }
    const publicUrl = trimSlash(options.publicUrl)
    if (!/^https?:\/\/[^/\s]+/.test(publicUrl)) {
      return yield* new WebConfigError({ message: "PORTER_PUBLIC_URL must be an absolute http(s) URL" })
    }
    return {
      clientId: options.clientId.trim(),
      clientSecret: options.clientSecret,
      sessionSecret: options.sessionSecret,
      operators: new Set((options.operators ?? []).map((login) => login.trim().toLowerCase()).filter(Boolean)),
      publicUrl,
      githubWebUrl: trimSlash(options.githubWebUrl ?? "https://github.com"),
      githubApiUrl: trimSlash(options.githubApiUrl ?? "https://api.github.com"),
      sessionTtlMs: options.sessionTtlMs ?? 12 * 60 * 60_000,
      accessTtlMs: options.accessTtlMs ?? 60_000,
      secureCookies: publicUrl.startsWith("https://"),
      callbackUrl: `${publicUrl}/oauth/callback`
    } satisfies Web
  })

/** @category layers */
export const layer = (options: WebOptions): Layer.Layer<WebConfig, WebConfigError> =>
  Layer.effect(WebConfig, make(options))

const optional = <A>(config: Config.Config<A>) => Config.map(Config.option(config), Option.getOrUndefined)

/** Whether the web app is configured at all (`GITHUB_OAUTH_CLIENT_ID` set): hosts keep it off otherwise. */
export const enabledConfig: Config.Config<boolean> = Config.map(
  Config.option(Config.String("GITHUB_OAUTH_CLIENT_ID")),
  (id) => Option.isSome(id) && id.value.trim().length > 0
)

/** The options from variables (see the module's header); without `PORTER_PUBLIC_URL`, `publicUrl` is `""`. */
export const optionsConfig: Config.Config<WebOptions> = Config.all({
  clientId: Config.String("GITHUB_OAUTH_CLIENT_ID"),
  clientSecret: Config.Redacted("GITHUB_OAUTH_CLIENT_SECRET"),
  sessionSecret: Config.Redacted("PORTER_SESSION_SECRET"),
  operators: Config.String("PORTER_OPERATORS").pipe(
    Config.map((text) => text.split(/[\s,]+/).filter((login) => login.length > 0)),
    Config.withDefault([] as ReadonlyArray<string>)
  ),
  publicUrl: Config.String("PORTER_PUBLIC_URL").pipe(Config.withDefault("")),
  githubWebUrl: optional(Config.String("GITHUB_WEB_URL")),
  gitUrl: optional(Config.String("GITHUB_GIT_URL")),
  githubApiUrl: optional(Config.String("GITHUB_API_URL")),
  sessionTtlHours: optional(Config.Number("PORTER_SESSION_TTL_HOURS"))
}).pipe(Config.map((c): WebOptions => ({
  clientId: c.clientId,
  clientSecret: c.clientSecret,
  sessionSecret: c.sessionSecret,
  operators: c.operators,
  publicUrl: c.publicUrl,
  githubWebUrl: c.githubWebUrl ?? c.gitUrl,
  githubApiUrl: c.githubApiUrl,
  sessionTtlMs: c.sessionTtlHours === undefined ? undefined : c.sessionTtlHours * 60 * 60_000
})))

/** @category layers */
export const layerConfig: Layer.Layer<WebConfig, WebConfigError | Config.ConfigError> = Layer.effect(
  WebConfig,
  Effect.flatMap(optionsConfig, make)
)
