/**
 * A test browser for Porter's web app and MCP server: cookies, redirects, forms with their CSRF token, and the sign-in
 * through the GitHub emulator's OAuth web flow. See `Browser.ts`.
 */
export { Browser, csrfOf, type Handler, type Visit } from "./Browser.ts"
