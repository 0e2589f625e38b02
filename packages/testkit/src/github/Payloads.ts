/**
 * GitHub's JSON representations of the emulator's records — the same fields GitHub returns, so
 * responses and webhook payloads validate against GitHub's published OpenAPI description. By concern:
 * accounts, repositories and the App (`payloads/Accounts.ts`), issues and pull requests
 * (`payloads/Issues.ts`), what lives in git (`payloads/Git.ts`).
 *
 * URLs: the emulator is both the API root and the "web" host: `url` fields are
 * `${base}/repos/o/r/…` (like GitHub Enterprise's API without `/api/v3`) and `html_url` fields are
 * `${base}/o/r/…`.
 */
import type { GitDataLog } from "./GitDataLog.ts"
import { makeAccountPayloads } from "./payloads/Accounts.ts"
import { makeGitPayloads } from "./payloads/Git.ts"
import { makeIssuePayloads } from "./payloads/Issues.ts"
import type { State } from "./State.ts"

export type { PullGit } from "./payloads/Issues.ts"

export const makePayloads = (state: State, base: string, gitData: GitDataLog) => {
  const accounts = makeAccountPayloads(state, base)
  return {
    ...accounts,
    ...makeIssuePayloads(state, accounts),
    ...makeGitPayloads(state, accounts, gitData)
  }
}

export type Payloads = ReturnType<typeof makePayloads>
