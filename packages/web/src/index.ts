/**
 * @porter/web — Porter's web app: sign in with GitHub, see and steer tasks, keep your own keys, repository settings,
 * installations, and the operator page; server-rendered HTML served by any host of Porter's HTTP app (`WebApp`).
 */
export * as Access from "./Access.ts"
export * as Assets from "./Assets.ts"
export * as GitHubAccounts from "./GitHubAccounts.ts"
export * as Html from "./Html.ts"
export * as PersonalTokens from "./PersonalTokens.ts"
export * as SessionKeys from "./SessionKeys.ts"
export * as Sessions from "./Sessions.ts"
export * as SessionStore from "./SessionStore.ts"
export * as SqlSessionStore from "./SqlSessionStore.ts"
export * as SqlTokenStore from "./SqlTokenStore.ts"
export * as TaskListing from "./TaskListing.ts"
export * as TokenStore from "./TokenStore.ts"
export * as WebApp from "./WebApp.ts"
export * as WebConfig from "./WebConfig.ts"
export * as WebHttp from "./WebHttp.ts"
