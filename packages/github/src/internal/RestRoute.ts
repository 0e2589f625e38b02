/**
 * RestRoute: a REST call written as a route string (`"GET /repos/{owner}/{repo}"`) and its parameters, turned into
 * the request GitHub gets — the way `@octokit/endpoint` does it, for the routes Porter calls — and the answer's body
 * read the way `@octokit/request` reads it. What it replaces was 7 KiB gzipped of the Worker (Octokit and its JSON
 * parser); Porter needs none of Octokit's plugins, hooks or media-type handling.
 *
 * A route's `{name}` is filled with the parameter, percent-encoded (`heads/main` → `heads%2Fmain`); `{+name}` keeps
 * reserved characters (`/`), for paths. The parameters left over go to the query (GET, HEAD) or make the JSON body
 * (other methods; none left: no body).
 *
 * Cannot: the other RFC 6570 operators (`{?a,b}`, `{/a}`; Porter's routes use none), `data` or `mediaType` options.
 */

/** The request a route and its parameters make. */
export interface RouteRequest {
  readonly method: string
  readonly url: string
  /** The JSON body, when parameters were left for it. */
  readonly body: string | undefined
}

const PLACEHOLDER = /\{(\+?)([A-Za-z0-9_]+)\}/g

/** Octokit's `encodeUnreserved`: `encodeURIComponent`, and `!'()*` too. */
const encodeUnreserved = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** Octokit's `encodeReserved`: reserved characters (`/`, `:`, …) and existing `%xx` escapes kept. */
const encodeReserved = (value: string): string =>
  value.split(/(%[0-9A-Fa-f]{2})/g).map((part) =>
    /%[0-9A-Fa-f]/.test(part) ? part : encodeURI(part).replace(/%5B/g, "[").replace(/%5D/g, "]")
  ).join("")

/** A query parameter as Octokit writes it (`q`, a search, keeps its `+`s). */
const queryPart = (name: string, value: unknown): string =>
  name === "q"
    ? `q=${String(value).split("+").map(encodeURIComponent).join("+")}`
    : `${name}=${encodeURIComponent(String(value))}`

/** The request for `route` (`"METHOD /path/{name}"`) with `params`, on `baseUrl` (no trailing slash). */
export const toRequest = (
  baseUrl: string,
  route: string,
  params: Readonly<Record<string, unknown>>
): RouteRequest => {
  const space = route.indexOf(" ")
  const method = (space < 0 ? "GET" : route.slice(0, space)).toUpperCase()
  const template = space < 0 ? route : route.slice(space + 1)
  const left: Record<string, unknown> = { ...params }
  const path = template.replace(PLACEHOLDER, (_, reserved: string, name: string) => {
    const value = params[name]
    delete left[name]
    if (value === undefined || value === null) return ""
    return reserved === "+" ? encodeReserved(String(value)) : encodeUnreserved(String(value))
  })
  const names = Object.keys(left).filter((name) => left[name] !== undefined)
  if (method === "GET" || method === "HEAD") {
    const query = names.map((name) => queryPart(name, left[name])).join("&")
    const url = `${baseUrl}${path}`
    return { method, url: query === "" ? url : `${url}${url.includes("?") ? "&" : "?"}${query}`, body: undefined }
  }
  const body = names.length === 0 ? undefined : JSON.stringify(Object.fromEntries(names.map((n) => [n, left[n]])))
  return { method, url: `${baseUrl}${path}`, body }
}

/**
 * An answer's body as Octokit gives it: nothing for 204 and 205 (and HEAD); parsed JSON for `application/json` (the
 * text when it does not parse); text for `text/*`, a UTF-8 charset or no type; else the bytes (`ArrayBuffer`).
 */
export const readBody = async (response: Response, method: string): Promise<unknown> => {
  if (response.status === 204 || response.status === 205 || method === "HEAD") return undefined
  const type = response.headers.get("content-type")
  if (type === null) return response.text()
  const [essence = "", ...parameters] = type.toLowerCase().split(";").map((part) => part.trim())
  if (essence === "application/json" || essence === "application/scim+json") {
    const text = await response.text()
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  if (essence.startsWith("text/") || parameters.includes("charset=utf-8")) return response.text()
  return response.arrayBuffer()
}
