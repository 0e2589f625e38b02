/**
 * A few calls to a GitHub REST API (the emulator, in `porter dev` and `porter demo`) as one user, over Effect's
 * `HttpClient`: JSON in, Schema-decoded JSON or text (a pull request's diff) out. A non-2xx answer fails with
 * GitHub's own message. Not a general GitHub client: no paging, no retries, no rate-limit handling.
 */
import { Effect, type Redacted, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { type CliFailure, fail } from "./CliFailure.ts"

/** A minimal GitHub REST client (JSON in, schema-decoded JSON out) for the sample's setup. */
export interface GitHubRest {
  readonly url: string
  /** `method path` with an optional JSON body; the answer decoded with `schema`. */
  readonly json: <S extends Schema.Top>(
    method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
    path: string,
    schema: S,
    body?: unknown
  ) => Effect.Effect<S["Type"], CliFailure, S["DecodingServices"]>
  /** `GET path` with this `Accept` header (`application/vnd.github.diff`), as text. */
  readonly text: (path: string, accept: string) => Effect.Effect<string, CliFailure>
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** A `GitHubRest` for `url` with `token`. */
export const make = (
  url: string,
  token: string | Redacted.Redacted<string>
): Effect.Effect<GitHubRest, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const client = http.pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(
          HttpClientRequest.prependUrl(url),
          HttpClientRequest.bearerToken(token),
          HttpClientRequest.setHeader("x-github-api-version", "2022-11-28")
        )
      )
    )
    const send = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.gen(function*() {
        const response = yield* client.execute(request).pipe(
          Effect.mapError((error) => fail(`cannot reach GitHub at ${url}: ${describe(error)}`))
        )
        const text = yield* response.text.pipe(Effect.mapError((error) => fail(`GitHub at ${url}: ${describe(error)}`)))
        if (response.status < 200 || response.status > 299) {
          return yield* fail(
            `GitHub answered ${request.method} ${request.url} with ${response.status}: ${text.slice(0, 300)}`
          )
        }
        return text
      })
    return {
      url,
      json: <S extends Schema.Top>(
        method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
        path: string,
        schema: S,
        body?: unknown
      ) => {
        const base = HttpClientRequest.make(method)(path).pipe(HttpClientRequest.acceptJson)
        const request = body === undefined ? base : HttpClientRequest.bodyJsonUnsafe(base, body)
        return send(request).pipe(
          Effect.flatMap((text) =>
            Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(text === "" ? "null" : text).pipe(
              Effect.mapError((error) => fail(`GitHub answered ${method} ${path} unexpectedly: ${error.message}`))
            ) as Effect.Effect<S["Type"], CliFailure, S["DecodingServices"]>
          )
        )
      },
      text: (path: string, accept: string) =>
        send(HttpClientRequest.get(path).pipe(HttpClientRequest.setHeader("accept", accept)))
    } satisfies GitHubRest
  })
