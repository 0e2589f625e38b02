// The part of autocannon's API the intake benchmark uses (the package ships no typings).
declare module "autocannon" {
  import type { EventEmitter } from "node:events"

  export interface Request {
    readonly method?: string
    readonly path?: string
    readonly headers?: Record<string, string>
    readonly body?: string | Buffer
    readonly setupRequest?: (request: Request, context: Record<string, unknown>) => Request
  }

  export interface Options {
    readonly url: string
    readonly connections?: number
    readonly amount?: number
    readonly timeout?: number
    readonly requests?: ReadonlyArray<Request>
    readonly renderProgressBar?: boolean
    readonly renderResultsTable?: boolean
  }

  export interface Result {
    readonly errors: number
    readonly timeouts: number
    readonly non2xx: number
    readonly duration: number
  }

  export interface Instance extends EventEmitter, PromiseLike<Result> {
    on(event: "response", listener: (client: unknown, statusCode: number, bytes: number, ms: number) => void): this
  }

  export default function autocannon(options: Options): Instance
}
