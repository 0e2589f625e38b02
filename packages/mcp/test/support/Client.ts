/**
 * The official MCP client (`@modelcontextprotocol/sdk`) against Porter's `/mcp`, with a personal token; `fetch` lets
 * the in-process tests hand requests to the web handler instead of the network.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

export const connect = async (url: string, token: string | undefined, fetch?: Fetch): Promise<Client> => {
  const client = new Client({ name: "porter-tests", version: "1.0.0" })
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(token !== undefined ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}),
    ...(fetch !== undefined ? { fetch } : {})
  })
  await client.connect(transport)
  return client
}

export interface ToolAnswer {
  readonly isError: boolean
  readonly text: string
  readonly structured: any
}

/** Calls a tool; the answer's first text and its structured content. */
export const call = async (client: Client, name: string, args: Record<string, unknown>): Promise<ToolAnswer> => {
  const result = await client.callTool({ name, arguments: args })
  const content = (result.content ?? []) as ReadonlyArray<{ type: string; text?: string }>
  return {
    isError: result.isError === true,
    text: content.find((part) => part.type === "text")?.text ?? "",
    structured: result.structuredContent
  }
}
