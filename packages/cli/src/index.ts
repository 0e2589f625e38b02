/**
 * @porter/cli — the `porter` command (`bin.ts`) and the pieces it is made of, for scripts and tests that want
 * them without a child process: the local stack (`LocalStack`), the admin API client (`AdminClient`), the demo,
 * `porter dev`, the doctor and env files.
 */
export * as LocalStack from "@porter/worker/stack"
export * as Admin from "./Admin.ts"
export * as AdminClient from "./AdminClient.ts"
export * as Cli from "./Cli.ts"
export * as CliFailure from "./CliFailure.ts"
export * as Demo from "./Demo.ts"
export * as Dev from "./Dev.ts"
export * as Doctor from "./Doctor.ts"
export * as EnvFile from "./EnvFile.ts"
export * as GitHubRest from "./GitHubRest.ts"
export * as Progress from "./Progress.ts"
export * as Sample from "./Sample.ts"
export * as Thread from "./Thread.ts"
