/**
 * The runner's exit codes. The `completed` callback is the real report; the exit code is what a
 * platform's machine log or `docker ps -a` shows at a glance.
 */
export const ExitCode = {
  /** Pushed (and a pull request opened or linked), or no changes to push. */
  Ok: 0,
  /** An unexpected error (a bug): see the log. */
  Unexpected: 1,
  /** The machine environment is missing or malformed. */
  BadEnvironment: 2,
  /** The agent exited non-zero or reported an error. */
  AgentFailed: 3,
  /** The agent ran past `TASK_DEADLINE`; its process group was killed. */
  DeadlineExceeded: 4,
  /** The server rejected the push (not a fast-forward, protected branch, hook). */
  PushRejected: 5,
  /** A git command failed (clone, commit, push over the network…). */
  GitFailed: 6,
  /** The branch was pushed but the pull request could not be opened or found. */
  PullRequestFailed: 7,
  /** Porter answered 409: the task had already ended (cancelled, timed out); the runner stopped. */
  TaskEnded: 8,
  /** The `completed` callback could not be delivered (refused, or unreachable through every retry). */
  CallbackFailed: 9,
  /**
   * The agent moved or rewrote the base branch, left the task branch, broke `.git` or put a secret value in its
   * changes (or a follow-up would push to the default branch): nothing was pushed.
   */
  Refused: 10,
  /** The agent is unknown or its CLI could not be started. */
  AgentUnavailable: 11
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
