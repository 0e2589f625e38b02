/**
 * The runner's exit codes. The `completed` callback is the real report; the exit code is what a
 * platform's machine log or `docker ps -a` shows at a glance.
 */
export const ExitCode = {
  /** Published through Porter (a pull request opened or linked), or no changes to propose. */
  Ok: 0,
  /** An unexpected error (a bug): see the log. */
  Unexpected: 1,
  /** The machine environment is missing or malformed. */
  BadEnvironment: 2,
  /** The agent exited non-zero or reported an error. */
  AgentFailed: 3,
  /** The agent ran past `TASK_DEADLINE`; its process group was killed. */
  DeadlineExceeded: 4,
  /**
   * Porter refused the change set (422: a path, a link, a workflow, a secret…): the task has ended failed and Porter
   * commented every reason on the issue; no `completed` sent.
   */
  ChangesRefused: 5,
  /** A git command failed (the clone, a commit, reading the agent's commits). */
  GitFailed: 6,
  /** The change set could not be delivered: Porter refused the request (400, 401, 404, 413) or was unreachable. */
  PublishFailed: 7,
  /** Porter answered 409: the task had already ended (cancelled, timed out); the runner stopped. */
  TaskEnded: 8,
  /** The `completed` callback could not be delivered (refused, or unreachable through every retry). */
  CallbackFailed: 9,
  /**
   * The runner will not propose the agent's changes: the agent rewrote the history it started from, left the task
   * branch, broke `.git`, put a secret value in its changes, changed a submodule, or the changes exceed Porter's
   * limits. Nothing was sent.
   */
  Refused: 10,
  /** The agent is unknown or its CLI could not be started. */
  AgentUnavailable: 11,
  /** A setup command of the repository (`.github/porter.yml`'s `setup`) failed: the agent did not start. */
  SetupFailed: 12
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
