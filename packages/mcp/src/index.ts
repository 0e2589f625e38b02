/**
 * @porter/mcp — Porter as MCP tools: start, watch, cancel and read tasks from any MCP client, at `/mcp` in Porter's
 * HTTP app (`McpApp`).
 */
export * as Caller from "./Caller.ts"
export * as Handlers from "./Handlers.ts"
export * as LogResource from "./LogResource.ts"
export * as McpApp from "./McpApp.ts"
export * as Tools from "./Tools.ts"
export * as UserGitHub from "./UserGitHub.ts"
