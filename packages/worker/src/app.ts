/**
 * The App Worker's entry point (`wrangler.app.jsonc`): the web app and the MCP server (`AppWorker.ts`). The API
 * Worker (`index.ts`) forwards their paths here through its `APP` service binding.
 */
// First: it changes what Effect's runtime reads when it is evaluated (see WorkerAsyncHooks.ts).
import type { ExecutionContext } from "@cloudflare/workers-types"
import { env } from "cloudflare:workers"
import * as AppWorker from "./AppWorker.ts"
import { restore } from "./prelude.ts"

restore()

const app = AppWorker.make(env)

export default {
  fetch: (request: Request, _env: unknown, ctx: ExecutionContext): Promise<Response> => app.fetch(request, ctx)
}
