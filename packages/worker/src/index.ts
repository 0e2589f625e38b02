/**
 * @porter/worker — the reference Cloudflare Worker (the API Worker): `fetch` serves Porter's HTTP API (webhooks,
 * callbacks, change sets, the git proxy, the model gateway, task status, health, the admin API and
 * `GET /admin/doctor`), `scheduled` runs the watchdog sweep (Cron Trigger). The web app and the MCP server are the
 * App Worker's (`app.ts`): their paths go to it through the `APP` service binding.
 * The only module that imports `cloudflare:workers`: the assembly is `WorkerApp` (`@porter/worker/app`).
 *
 * Everything is built once per isolate, here at module scope, from the bindings and variables in `env`.
 */
// First: it changes what Effect's runtime reads when it is evaluated (see WorkerAsyncHooks.ts).
import type { ExecutionContext, ScheduledController } from "@cloudflare/workers-types"
import { env } from "cloudflare:workers"
import { restore } from "./prelude.ts"
import * as WorkerApp from "./WorkerApp.ts"

restore()

const app = WorkerApp.make(env, { app: env["APP"] as WorkerApp.Fetcher | undefined })

export default {
  fetch: (request: Request, _env: unknown, ctx: ExecutionContext): Promise<Response> => app.fetch(request, ctx),
  scheduled: (controller: ScheduledController, _env: unknown, ctx: ExecutionContext): void =>
    ctx.waitUntil(app.scheduled({ cron: controller.cron, scheduledTime: controller.scheduledTime }))
}
