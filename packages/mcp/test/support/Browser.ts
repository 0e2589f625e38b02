/**
 * A small browser for the tests: a cookie jar per host, redirects followed (303 and 302 become GETs), requests to
 * Porter's origin handed to `handler` when one is given (in process) and everything else over the network. Enough
 * to sign in through the emulator's OAuth web flow and make a personal token on `/app/tokens`.
 */
export type Handler = (request: Request) => Promise<Response>

export interface Visit {
  readonly status: number
  readonly url: string
  readonly text: string
}

export class Browser {
  private readonly jar = new Map<string, Map<string, string>>()
  private readonly origin: string
  private readonly handler: Handler | undefined

  constructor(origin: string, handler?: Handler) {
    this.origin = origin
    this.handler = handler
  }

  private store(url: URL, response: Response) {
    const cookies = this.jar.get(url.host) ?? new Map<string, string>()
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";")
      const at = pair.indexOf("=")
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      if (attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === "") cookies.delete(name)
      else cookies.set(name, value)
    }
    this.jar.set(url.host, cookies)
  }

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
      return { status: response.status, url, text: await response.text() }
    }
    throw new Error(`too many redirects from ${target}`)
  }

  post(target: string, fields: Record<string, string>): Promise<Visit> {
    return this.go(target, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString()
    })
  }

  /** Signs in as `login` through the OAuth web flow (the emulator's sign-in form). */
  async signIn(login: string, returnTo = "/app/tokens"): Promise<Visit> {
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
