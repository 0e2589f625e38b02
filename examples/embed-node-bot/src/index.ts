/**
 * Example: Porter embedded in your own Node bot — `Bot` (the bot: its HTTP server, GitHub, local or Docker
 * machines, its stores), `Storage` (SQLite by default, PostgreSQL, or memory) and `Intake` (the same host with
 * everything in memory but the real HMAC webhook intake, for benchmarks).
 */
export * as Bot from "./Bot.ts"
export * as Intake from "./Intake.ts"
export * as Storage from "./Storage.ts"
