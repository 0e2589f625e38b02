/**
 * How the runner calls git: the clone's arguments, and the environment that keeps the task token out
 * of argv and `.git/config` (`GIT_CONFIG_COUNT` / `http.<clone URL>.extraHeader`) and ignores every
 * config, hook and helper the machine (or an agent) could have left. Plain functions without
 * Effect, shared by `Git` and the early clone `Boot` starts before the program is loaded.
 *
 * Only the clone talks to a server (Porter's read-only git proxy); every later call is local and gets no header.
 */

export interface Identity {
  readonly name: string
  readonly email: string
}

/** Whether the header goes with requests to `url`: http(s) only (a `file://` clone has no auth to send). */
export const isHttpUrl = (url: string): boolean => /^https?:\/\//i.test(url)

/** The URL without user and password (the token travels in a header, never in a URL). */
export const stripCredentials = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.username === "" && parsed.password === "") return url
    parsed.username = ""
    parsed.password = ""
    return parsed.toString()
  } catch {
    return url
  }
}

/** The header Porter's git proxy takes: the task token (good for this task's repository, read-only, while active). */
export const authorizationHeader = (token: string): string => `Authorization: Bearer ${token}`

/** Config every runner git call gets: no hooks, no credential helpers, no fsmonitor, no ext:: transport. */
export const safeConfig: ReadonlyArray<readonly [string, string]> = [
  ["core.hooksPath", "/dev/null"],
  ["core.fsmonitor", "false"],
  ["credential.helper", ""],
  ["protocol.ext.allow", "never"]
]

/**
 * The environment of one git call: a fixed base (no system/global config, no prompts, no replace refs or grafts, the
 * bot as author) plus `GIT_CONFIG_*` entries; `header` (secret) is scoped to `url` (git sends it only to that URL and
 * the paths under it).
 */
export const gitEnvironment = <S>(options: {
  readonly path: string
  readonly home: string
  readonly identity: Identity
  readonly url?: string | undefined
  readonly header?: S | undefined
}): Record<string, string | S> => {
  const entries: Array<readonly [string, string | S]> = [...safeConfig]
  if (options.url !== undefined && isHttpUrl(options.url) && options.header !== undefined) {
    entries.push([`http.${options.url}.extraHeader`, options.header])
  }
  const env: Record<string, string | S> = {
    PATH: options.path,
    HOME: options.home,
    LANG: "C",
    LC_ALL: "C",
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_NO_REPLACE_OBJECTS: "1",
    GIT_GRAFT_FILE: "/dev/null",
    GIT_AUTHOR_NAME: options.identity.name,
    GIT_AUTHOR_EMAIL: options.identity.email,
    GIT_COMMITTER_NAME: options.identity.name,
    GIT_COMMITTER_EMAIL: options.identity.email,
    GIT_CONFIG_COUNT: String(entries.length)
  }
  entries.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key
    env[`GIT_CONFIG_VALUE_${i}`] = value
  })
  return env
}

/** `git clone --depth 1 --single-branch --no-tags [--filter=blob:none] [--branch b] -- url dir`. */
export const cloneArgs = (options: {
  readonly url: string
  readonly branch: string | undefined
  readonly dir: string
  readonly filter: boolean
}): ReadonlyArray<string> => [
  "clone",
  "--depth",
  "1",
  "--single-branch",
  "--no-tags",
  ...(options.filter ? ["--filter=blob:none"] : []),
  ...(options.branch !== undefined ? ["--branch", options.branch] : []),
  "--",
  options.url,
  options.dir
]
