/**
 * Looks for secret values in text Porter let out: log lines, comments, pull request bodies, callback bodies, stored
 * rows. A secret is found in clear, and in the simple encodings a leak usually takes (base64 and base64url of the
 * value and of `x-access-token:<value>`, URL-encoding). Cannot: recognise a secret that was transformed otherwise
 * (split, hashed, encrypted — stored secrets are meant to be encrypted).
 */
export interface Secret {
  readonly name: string
  readonly value: string
}

export interface Source {
  /** Where the text comes from (`worker log`, `comment 12`, `callback task_…`, `D1 tasks`, …). */
  readonly label: string
  readonly text: string
}

export interface Finding {
  readonly secret: string
  readonly form: string
  readonly source: string
  /** A few characters around the find, with the secret itself masked. */
  readonly context: string
}

/** The forms of a value the scan looks for. */
export const needles = (value: string): ReadonlyArray<{ readonly form: string; readonly needle: string }> => {
  const forms = [
    { form: "clear", needle: value },
    { form: "base64", needle: Buffer.from(value).toString("base64").replace(/=+$/, "") },
    { form: "base64url", needle: Buffer.from(value).toString("base64url") },
    { form: "basic auth", needle: Buffer.from(`x-access-token:${value}`).toString("base64").replace(/=+$/, "") },
    { form: "url-encoded", needle: encodeURIComponent(value) }
  ]
  // Short needles would match by chance; identical ones are checked once.
  const seen = new Set<string>()
  return forms.filter(({ needle }) => needle.length >= 8 && !seen.has(needle) && seen.add(needle) !== undefined)
}

/** Every place a secret turns up in `sources`. */
export const scan = (secrets: ReadonlyArray<Secret>, sources: ReadonlyArray<Source>): ReadonlyArray<Finding> => {
  const findings: Array<Finding> = []
  for (const secret of secrets) {
    for (const { form, needle } of needles(secret.value)) {
      for (const source of sources) {
        let at = source.text.indexOf(needle)
        while (at >= 0) {
          const context = source.text.slice(Math.max(0, at - 40), at) + "<SECRET>" +
            source.text.slice(at + needle.length, at + needle.length + 40)
          findings.push({ secret: secret.name, form, source: source.label, context })
          at = source.text.indexOf(needle, at + needle.length)
        }
      }
    }
  }
  return findings
}
