/**
 * Example: Porter embedded in your own Node bot — `Bot` (the bot: its HTTP server, GitHub, local or Docker
 * machines, its stores), `Storage` (SQLite by default, PostgreSQL, or memory) and `Intake` (the same host with
 * everything in memory but the real HMAC webhook intake, for benchmarks); `WebhookRoute` and `GatewayRoute`, its
 * direct `node:http` routes for webhooks and model calls (for other Node hosts, benchmarks).
 */
export * as Bot from "./Bot.ts"
export * as GatewayRoute from "./GatewayRoute.ts"
export * as Intake from "./Intake.ts"
export * as Storage from "./Storage.ts"
export * as WebhookRoute from "./WebhookRoute.ts"
