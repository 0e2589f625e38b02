/**
 * Porter's intake embedded in a Node host (`examples/embed-node-bot`'s `Intake`): the real GitHub webhook intake
 * (HMAC check, decoding) and core's HTTP app on `node:http`, in-memory stores — or the bot's durable ones: `STORAGE`
 * `sqlite` (in `DATA_DIR`) or `postgres` (`DATABASE_URL`). `PROCESSING=skip` (default) stops
 * once the delivery is verified, decoded, parsed and claimed — the same minimal work as the Probot app;
 * `PROCESSING=background` also runs Porter's processing in memory (authorize, record the task, acknowledge,
 * dispatch to the in-memory provisioner).
 *
 * `PROFILE_OUT`: see `profiling.ts`. Run as a child process by `run.ts` (`node --conditions=@porter/source`): `WEBHOOK_SECRET` in the environment;
 * prints `{"url":…}` when it listens.
 */
import { Intake, Storage } from "@porter-examples/embed-node-bot"
import { Redacted } from "effect"
import * as Profiling from "./profiling.ts"

await Profiling.install()
const secret = process.env["WEBHOOK_SECRET"]
if (!secret) throw new Error("WEBHOOK_SECRET is not set")
const processing = process.env["PROCESSING"] === "background" ? "background" : "skip"
// STORAGE: `memory` (default), `sqlite` (in DATA_DIR, PORTER_SQLITE_SYNCHRONOUS), `postgres` (DATABASE_URL).
const storage: Storage.Choice = process.env["STORAGE"] === "sqlite"
  ? {
    _tag: "sqlite",
    dataDir: process.env["DATA_DIR"],
    synchronous: process.env["PORTER_SQLITE_SYNCHRONOUS"] === "FULL" ? "FULL" : "NORMAL"
  }
  : process.env["STORAGE"] === "postgres"
  ? { _tag: "postgres", url: Redacted.make(process.env["DATABASE_URL"] ?? "") }
  : { _tag: "memory" }

const intake = await Intake.start({ webhookSecret: secret, processing, storage })
process.stdout.write(`${JSON.stringify({ url: `${intake.url}/webhooks/github` })}\n`)
process.on("SIGTERM", () => void intake.close().then(() => process.exit(0)))
