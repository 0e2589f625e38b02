/**
 * Scripted model servers for running real agent CLIs offline: Anthropic Messages, OpenAI chat
 * completions and Responses, and Gemini, on one loopback server that plays a fixed script of
 * tool calls. See README.md.
 */
export {
  type Api,
  type Options,
  type RecordedRequest,
  type Server,
  start,
  startPromise,
  tokensOf,
  type Usage
} from "./ModelServer.ts"
export { type Action, bash, text, tool, type Turn, turnsOf, write } from "./Script.ts"
export { cwdIn, type DeclaredTool, type ToolCall, toToolCall } from "./Tools.ts"
