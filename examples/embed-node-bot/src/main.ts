/**
 * Runs the bot: `node --conditions=@porter/source examples/embed-node-bot/src/main.ts`, configured by environment
 * variables (see `Bot.config` and the README). Ctrl-C or SIGTERM stops it cleanly: the server stops accepting, the
 * background work is interrupted and the machines it started are stopped.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer } from "effect"
import * as Bot from "./Bot.ts"

const announce = Layer.effectDiscard(
  Effect.gen(function*() {
    const bot = yield* Bot.Bot
    yield* Effect.logInfo(`Porter bot listening on ${bot.url} (${bot.machines} machines)`)
    yield* Effect.logInfo(`GitHub webhook URL: ${bot.webhookUrl}`)
  })
)

Layer.launch(announce.pipe(Layer.provideMerge(Bot.layerConfig))).pipe(
  Effect.tapErrorTag("ConfigError", () =>
    Effect.logError(
      "the bot needs GITHUB_WEBHOOK_SECRET and GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY (or GITHUB_TOKEN); " +
        "see examples/embed-node-bot/README.md"
    )),
  NodeRuntime.runMain
)
