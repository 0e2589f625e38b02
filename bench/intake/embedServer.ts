/**
 * Porter's intake embedded in a Node host (`examples/embed-node-bot`'s `Intake`): the real GitHub webhook intake
 * (HMAC check, decoding) and core's HTTP app on `node:http`, in-memory stores. `PROCESSING=skip` (default) stops
 * once the delivery is verified, decoded, parsed and claimed — the same minimal work as the Probot app;
 * `PROCESSING=background` also runs Porter's processing in memory (authorize, record the task, acknowledge,
 * dispatch to the in-memory provisioner).
 *
 * `PROFILE_OUT`: see `profiling.ts`. Run as a child process by `run.ts` (`node --conditions=@porter/source`): `WEBHOOK_SECRET` in the environment;
 * prints `{"url":…}` when it listens.
 */
import { Intake } from "@porter-examples/embed-node-bot"
import * as Profiling from "./profiling.ts"

await Profiling.install()
const secret = process.env["WEBHOOK_SECRET"]
if (!secret) throw new Error("WEBHOOK_SECRET is not set")
const processing = process.env["PROCESSING"] === "background" ? "background" : "skip"

const intake = await Intake.start({ webhookSecret: secret, processing })
process.stdout.write(`${JSON.stringify({ url: `${intake.url}/webhooks/github` })}\n`)
process.on("SIGTERM", () => void intake.close().then(() => process.exit(0)))
