/**
 * A small browser for tests of Porter's web app and MCP server: a cookie jar per host, redirects followed (303 and 302
 * become GETs), requests to Porter's origin handed to a handler when one is given (the app in process) and everything
 * else over the network (the GitHub emulator, a Worker in workerd). Enough to sign in through the emulator's OAuth web
 * flow, post forms with their CSRF token and make a personal token on `/app/tokens`. Not a page renderer: the browser
 * tier drives Chromium for that.
 */

/** Answers a request to Porter's origin in process (a web handler). */
export type Handler = (request: Request) => Promise<Response>

/** A page as the browser ended on it, after redirects. */
export interface Visit {
  readonly status: number
  readonly url: string
  readonly text: string
  readonly headers: Headers
}

/** A cookie-keeping, redirect-following client for one origin (see the module's description). */
export class Browser {
  private readonly jar = new Map<string, Map<string, string>>()
  /** Every answer body this browser saw (to look for secrets). */
  readonly seen: Array<string> = []

  private readonly origin: string
  private readonly handler: Handler | undefined

  /** `origin`: Porter's; `handler`: answers its requests in process (else they go over the network too). */
  constructor(origin: string, handler?: Handler) {
    this.origin = origin
    this.handler = handler
  }

  /** The cookie `name` this browser keeps for `host` (`porter.test`, `127.0.0.1:8787`). */
  cookie(host: string, name: string): string | undefined {
    return this.jar.get(host)?.get(name)
  }

  private store(url: URL, response: Response) {
    const cookies = this.jar.get(url.host) ?? new Map<string, string>()
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";")
      const at = pair.indexOf("=")
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === ""
      if (expired) cookies.delete(name)
      else cookies.set(name, value)
    }
    this.jar.set(url.host, cookies)
  }

  /** One request, no redirect followed. */
  async fetch(target: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(target, this.origin)
    const cookies = [...(this.jar.get(url.host) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`)
    const headers = new Headers(init.headers)
    if (cookies.length > 0) headers.set("cookie", cookies.join("; "))
    const request = new Request(url, { ...init, headers, redirect: "manual" })
    const response = this.handler !== undefined && url.origin === this.origin
      ? await this.handler(request)
      : await fetch(request)
    this.store(url, response)
    return response
  }

  /** A request, following redirects; the final page. */
  async go(target: string, init: RequestInit = {}): Promise<Visit> {
    let url = new URL(target, this.origin).href
    let options = init
    for (let hops = 0; hops < 10; hops++) {
      const response = await this.fetch(url, options)
      const location = response.headers.get("location")
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.arrayBuffer()
        url = new URL(location, url).href
        options = {}
        continue
      }
      const text = await response.text()
      this.seen.push(text)
      return { status: response.status, url, text, headers: response.headers }
    }
    throw new Error(`too many redirects from ${target}`)
  }

  /** A form POST (urlencoded), following the redirect after it. */
  post(target: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Visit> {
    return this.go(target, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(fields).toString()
    })
  }

  /**
   * Signs in as `login` through the whole OAuth web flow: Porter's `/login/github`, the emulator's sign-in form (unless
   * the emulator already signs someone in), back to Porter's callback and on to `returnTo`.
   */
  async signIn(login: string, returnTo = "/app"): Promise<Visit> {
    const first = await this.go(`/login/github?return=${encodeURIComponent(returnTo)}`)
    if (!first.text.includes("Sign in to the GitHub emulator")) return first
    const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(first.text)
    if (form === null) throw new Error("no sign-in form")
    const fields: Record<string, string> = {}
    for (const [tag] of form[2]!.matchAll(/<input[^>]*>/g)) {
      const name = /name="([^"]+)"/.exec(tag)?.[1]
      const value = /value="([^"]*)"/.exec(tag)?.[1] ?? ""
      if (name !== undefined) fields[name] = value.replaceAll("&quot;", "\"").replaceAll("&amp;", "&")
    }
    fields["login"] = login
    return this.post(new URL(form[1]!, first.url).href, fields)
  }

  /** Signs in as `login` and makes a personal token on `/app/tokens`: the token and the page that showed it. */
  async makeToken(login: string, name = "test client"): Promise<{ readonly token: string; readonly page: Visit }> {
    const tokens = await this.signIn(login, "/app/tokens")
    const page = await this.post("/app/tokens", { _csrf: csrfOf(tokens.text), name, days: "30" })
    const token = /<code id="token-value">(porter_pat_[A-Za-z0-9_-]+)<\/code>/.exec(page.text)?.[1]
    if (token === undefined) throw new Error(`no token on the page (${page.status}): ${page.text.slice(0, 500)}`)
    return { token, page }
  }
}

/** The CSRF token in a page's forms. */
export const csrfOf = (page: string): string => {
  const match = /name="_csrf" value="([^"]+)"/.exec(page)
  if (match === null) throw new Error("no CSRF token on the page")
  return match[1]!
}
