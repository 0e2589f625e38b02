/**
 * The client of Porter's HTTP API, derived from its definition (`Api.ts`): what the `porter` CLI, the runner's
 * callbacks and users' scripts call a deployment with. Every answer is decoded with the API's schemas; every refusal
 * is the API's tagged error (`Unauthorized`, `NotFound`, `TaskEnded`, …).
 */
import { Effect, Layer, type Redacted } from "effect"
import { type HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient, HttpApiMiddleware } from "effect/http-api"
import { AdminAuth, Api, TaskAuth, TaskOrAdminAuth } from "./Api.ts"

/** The typed client: `client.admin.listTasks(…)`, `client.callbacks.send(…)`, `client.health()`. */
export type Client = HttpApiClient.ForApi<typeof Api>

/** Sends `token` as the bearer of every secured endpoint (a task token, or the admin token). */
export const layerBearer = (token: Redacted.Redacted<string> | string) =>
  Layer.mergeAll(
    HttpApiMiddleware.layerClient(
      AdminAuth,
      ({ next, request }) => next(HttpClientRequest.bearerToken(request, token))
    ),
    HttpApiMiddleware.layerClient(TaskAuth, ({ next, request }) => next(HttpClientRequest.bearerToken(request, token))),
    HttpApiMiddleware.layerClient(
      TaskOrAdminAuth,
      ({ next, request }) => next(HttpClientRequest.bearerToken(request, token))
    )
  )

/** Where the deployment is, the token to send, and how every request is sent. */
export interface Options {
  /** The deployment's URL (`https://porter.example.workers.dev`). */
  readonly baseUrl: string
  readonly token: Redacted.Redacted<string> | string
  /** Retries, timeouts, … applied to every request. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/** A client of the deployment at `baseUrl`, presenting `token`. */
export const make = (options: Options): Effect.Effect<Client, never, HttpClient.HttpClient> =>
  HttpApiClient.make(Api, {
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.transformClient !== undefined ? { transformClient: options.transformClient } : {})
  }).pipe(Effect.provide(layerBearer(options.token)))
