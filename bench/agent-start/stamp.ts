/**
 * Preloaded into the runner's process (`node --import stamp.ts …`) by the comment-to-agent-start benchmark: it
 * changes nothing the runner does, and writes to stderr, with wall-clock times in epoch milliseconds (µs
 * precision, from `performance.timeOrigin`), when the process started and when each `==> <step>` line went to
 * stdout:
 *
 *   [porter-bench] origin 1795430000123.456
 *   [porter-bench] step agent 1795430000890.123
 */
const stamp = (line: string) => process.stderr.write(`[porter-bench] ${line}\n`)
stamp(`origin ${performance.timeOrigin.toFixed(3)}`)

const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: Array<unknown>) => boolean
process.stdout.write = ((chunk: unknown, ...rest: Array<unknown>) => {
  const at = performance.timeOrigin + performance.now()
  const text = typeof chunk === "string"
    ? chunk
    : chunk instanceof Uint8Array
    ? Buffer.from(chunk).toString("utf8")
    : ""
  for (const match of text.matchAll(/^==> ([^\n(]+?) \(\+/gm)) stamp(`step ${match[1]} ${at.toFixed(3)}`)
  return write(chunk, ...rest)
}) as typeof process.stdout.write
