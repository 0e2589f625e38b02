export * as StatsBot from "./StatsBot.ts"
