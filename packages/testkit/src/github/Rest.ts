/**
 * Acting on the emulator as a person would on GitHub: a REST call with their token. Tests, benchmarks and the CLI's
 * tests all drive the emulator this way, so one client serves them (no Octokit: the emulator is the thing under
 * test, and a test wants GitHub's message, not a retried request).
 */

/** A user of the emulator with a token (what `createUser` answers, and `admin`). */
export interface Person {
  readonly login: string
  readonly id: number
  readonly token: string
}

/**
 * `method url` with `token` as a bearer token and `body` as JSON; the parsed JSON answer (undefined for an empty
 * one). A non-2xx answer rejects with an error naming the call, the status and GitHub's message.
 */
export const rest = async <A = unknown>(
  token: string,
  method: string,
  url: string,
  body?: unknown
): Promise<A> => {
  const response = await fetch(url, {
    method,
    headers: {
      ...(token === "" ? {} : { authorization: `Bearer ${token}` }),
      accept: "application/vnd.github+json",
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${new URL(url).pathname}: ${response.status} ${text.slice(0, 500)}`)
  return (text === "" ? undefined : JSON.parse(text)) as A
}
