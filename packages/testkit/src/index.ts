/**
 * @porter/testkit — local emulators for Porter's tests and local runs: GitHub (REST, git smart
 * HTTP, webhooks), the Fly Machines API, and scripted model APIs for agent CLIs; and a test browser
 * for the web app's sign-in.
 */
export * as TestBrowser from "./browser/index.ts"
export * as MachinesServer from "./fly/index.ts"
export * as GitHubEmulator from "./github/index.ts"
export * as ModelServer from "./model/index.ts"
