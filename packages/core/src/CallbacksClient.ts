/**
 * The runner's client of Porter's API: the callbacks endpoint, derived from `CallbacksApi` (the same group the server
 * serves in `Api`), with the task token as its bearer. Its own module, so a machine's program carries only this.
 */
import { Effect, type Redacted } from "effect"
import { type HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient, HttpApiMiddleware } from "effect/http-api"
import { CallbacksApi, TaskAuth } from "./CallbacksApi.ts"

/** `client.callbacks.send({ params: { taskId }, payload })`. */
export type Client = HttpApiClient.ForApi<typeof CallbacksApi>

/** Where the deployment is, the task token, and how every request is sent. */
export interface Options {
  /** The deployment's URL (what `CALLBACK_URL` starts with). */
  readonly baseUrl: string
  /** The task token. */
  readonly token: Redacted.Redacted<string> | string
  /** Retries, timeouts, … applied to every request. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/** A client of the machines' side of the API (callbacks, changes, artifacts), derived from its definition. */
export const make = (options: Options): Effect.Effect<Client, never, HttpClient.HttpClient> =>
  HttpApiClient.make(CallbacksApi, {
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.transformClient !== undefined ? { transformClient: options.transformClient } : {})
  }).pipe(
    Effect.provide(
      HttpApiMiddleware.layerClient(
        TaskAuth,
        ({ next, request }) => next(HttpClientRequest.bearerToken(request, options.token))
      )
    )
  )
