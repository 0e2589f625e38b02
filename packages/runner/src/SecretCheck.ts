/**
 * SecretCheck: the machine's own secret values in what it is about to send. The agent holds its own API keys, and a
 * prompt-injected "write your environment into a file" must not reach a pull request. Porter scans the change set
 * too, but only for the values it knows (the deployment's and the stored secrets) and common credential shapes; the
 * machine also knows what its own environment holds.
 *
 * Searched: every secret variable of the environment (`isSecretName`) of 12+ characters, in the encodings core's
 * `SecretScan` knows (of 12+ characters), in each commit's author and message and each written file's content (as
 * UTF-8 text; ASCII inside a binary file is found too). Answers names and places, never values. Cannot: recognise a
 * value the agent transformed (split, reversed, hashed).
 */
import { type ChangeSet, SecretScan } from "@porter/core"
import { isSecretName } from "./MachineEnv.ts"

/** Secret values shorter than this are not looked for (real keys and tokens are longer). */
export const MIN_SCAN_LENGTH = 12

/** One secret found: the variable's name and where (a path, or `the message of commit 2`). */
export interface Finding {
  readonly name: string
  readonly where: string
}

const text = new TextDecoder("utf-8")

/** The needles for `raw` (the machine's environment): `[variable, encoding]`. */
export const needlesOf = (raw: Readonly<Record<string, string>>): ReadonlyArray<readonly [string, string]> => {
  const needles: Array<readonly [string, string]> = []
  for (const [name, value] of Object.entries(raw)) {
    if (!isSecretName(name) || value.trim().length < MIN_SCAN_LENGTH) continue
    for (const variant of SecretScan.variantsOf(value)) {
      if (variant.length >= MIN_SCAN_LENGTH) needles.push([name, variant])
    }
  }
  return needles
}

/** Every secret variable of `raw` whose value is in `changeSet`, once per variable, with the first place found. */
export const secretsIn = (
  raw: Readonly<Record<string, string>>,
  changeSet: ChangeSet.ChangeSet
): ReadonlyArray<Finding> => {
  const needles = needlesOf(raw)
  const found = new Map<string, string>()
  const search = (haystack: string, where: string) => {
    for (const [name, needle] of needles) {
      if (!found.has(name) && haystack.includes(needle)) found.set(name, where)
    }
  }
  if (needles.length === 0) return []
  changeSet.commits.forEach((commit, index) => {
    const which = `commit ${index + 1}`
    search(`${commit.author.name} <${commit.author.email}>\n${commit.message}`, `the message of ${which}`)
    for (const change of commit.changes) {
      if (change._tag === "write") search(text.decode(Buffer.from(change.content, "base64")), `\`${change.path}\``)
    }
  })
  return [...found].map(([name, where]) => ({ name, where })).sort((a, b) => a.name.localeCompare(b.name))
}
