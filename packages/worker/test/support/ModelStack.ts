/**
 * The local stack (`Stack.ts`) with a scripted model server behind the Worker's model gateway, for the tests that run
 * real agent CLIs (`*.agents.test.ts`): the gateway's upstreams point at the model server (`PORTER_GATEWAY_*_URL`),
 * the provider keys are stored globally (the machines never get them), and the repository `owner/widgets` has a writer
 * (`wendy`) and a reader (`rita`), as in `Stack.layer`.
 */
import { GitHubEmulator } from "@porter/testkit"
import * as ModelServer from "@porter/testkit/model"
import * as LocalStack from "@porter/worker/stack"
import { Context, Effect, Layer } from "effect"
import { ADMIN_TOKEN, Stack } from "./Stack.ts"

/** The scripted model server the gateway calls. */
export class Model extends Context.Service<Model, ModelServer.Server>()("@porter/worker/test/Model") {}

/** The stored provider keys (what the model server must see, and no machine may hold). */
export const KEYS = {
  ANTHROPIC_API_KEY: "sk-ant-api03-GATEWAY-e2e-real-key-0001",
  OPENAI_API_KEY: "sk-proj-GATEWAY-e2e-real-key-0002",
  GEMINI_API_KEY: "AIzaGATEWAY-e2e-real-key-0003"
}

/** The stack and the model server, with `workerEnv` added to the Worker's variables. */
export const layerWith = (workerEnv: Readonly<Record<string, string>> = {}): Layer.Layer<Stack | Model> =>
  Layer.effect(
    Stack,
    Effect.gen(function*() {
      const model = yield* Model
      const stack = yield* LocalStack.start({
        adminToken: ADMIN_TOKEN,
        workerEnv: {
          PORTER_GATEWAY_ANTHROPIC_URL: model.url,
          PORTER_GATEWAY_OPENAI_URL: `${model.url}/v1`,
          PORTER_GATEWAY_GEMINI_URL: model.url,
          ...workerEnv
        }
      }).pipe(Effect.orDie)
      const github = stack.github!
      const owner = github.admin
      const rest = (token: string, method: string, path: string, body?: unknown) =>
        Effect.promise(() => GitHubEmulator.rest(token, method, `${github.url}${path}`, body))
      yield* rest(owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
      const repo = `${owner.login}/widgets`
      const writer = yield* Effect.promise(() => github.createUser("wendy"))
      const reader = yield* Effect.promise(() => github.createUser("rita"))
      yield* rest(owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, { permission: "push" })
      for (const [name, value] of Object.entries(KEYS)) {
        yield* Effect.promise(() =>
          stack.worker.fetch(`${stack.worker.url}/admin/secrets`, {
            method: "PUT",
            headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
            body: JSON.stringify({ scope: "global", name, value })
          })
        )
      }
      return Stack.of({ worker: stack.worker, github, machines: stack.machines, repo, admin: owner, writer, reader })
    })
  ).pipe(Layer.provideMerge(Layer.effect(Model, ModelServer.start({ script: [] }))))

export const layer: Layer.Layer<Stack | Model> = layerWith()
