// The Worker with its background work dropped: what the webhook answer itself costs (verify, decode, parse,
// claim), for the comparison with the floor. Bundled by webhooks.ts; never deployed.
import type { ExecutionContext } from "@cloudflare/workers-types"
import { Background } from "@porter/core"
import * as WorkerApp from "@porter/worker/app"
import { restore } from "@porter/worker/prelude"
import { env } from "cloudflare:workers"
import { Effect, Layer } from "effect"

restore()

const app = WorkerApp.make(env, {
  background: Layer.succeed(Background.Background, Background.Background.of({ run: () => Effect.void }))
})

export default {
  fetch: (request: Request, _env: unknown, ctx: ExecutionContext): Promise<Response> => app.fetch(request, ctx)
}
