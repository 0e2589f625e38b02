/**
 * A bounded ring buffer of output lines: a machine's output is kept in memory up to a byte budget, the oldest
 * lines dropped first, so a chatty process can never grow its host. Bytes come in as they are read (chunks may
 * split lines and UTF-8 characters); complete lines come out. Lines longer than `maxLineBytes` are cut into pieces.
 *
 * Pure and synchronous, so the machines server and tests can use it as is.
 */

export interface OutputLine {
  /** Epoch millis when the line was read. */
  readonly at: number
  readonly text: string
}

/** How much output a buffer keeps, in all and per line. */
export interface Options {
  /** Total text kept (UTF-16 code units, ≈ bytes for ASCII); default 256 KiB. */
  readonly maxBytes?: number
  /** Longer lines are cut; default 16 KiB. */
  readonly maxLineBytes?: number
}

/** A machine's output as lines, the newest within a budget. */
export interface LogBuffer {
  /** Adds raw output; returns the lines it completed, oldest first. */
  readonly push: (chunk: Uint8Array | string, at: number) => ReadonlyArray<OutputLine>
  /** Ends the input: an unterminated last line becomes a line. */
  readonly end: (at: number) => ReadonlyArray<OutputLine>
  /** The lines kept, oldest first. */
  readonly lines: () => ReadonlyArray<OutputLine>
  /** Lines dropped to stay within the budget. */
  readonly dropped: () => number
}

/** The output kept per machine unless told otherwise: 256 KiB. */
export const defaultMaxBytes = 256 * 1024

/** An empty `LogBuffer`. */
export const make = (options: Options = {}): LogBuffer => {
  const maxBytes = Math.max(1, options.maxBytes ?? defaultMaxBytes)
  const maxLineBytes = Math.max(1, Math.min(options.maxLineBytes ?? 16 * 1024, maxBytes))
  const decoder = new TextDecoder("utf-8")
  let kept: Array<OutputLine> = []
  let start = 0
  let size = 0
  let dropped = 0
  let partial = ""

  const keep = (line: OutputLine) => {
    kept.push(line)
    size += line.text.length
    while (size > maxBytes && start < kept.length) {
      size -= kept[start]!.text.length
      start++
      dropped++
    }
    // Compact now and then rather than shifting on every drop.
    if (start > 1024 && start * 2 > kept.length) {
      kept = kept.slice(start)
      start = 0
    }
  }

  const take = (text: string, at: number): ReadonlyArray<OutputLine> => {
    const out: Array<OutputLine> = []
    partial += text
    let newline = partial.indexOf("\n")
    while (newline >= 0) {
      let line = partial.slice(0, newline)
      if (line.endsWith("\r")) line = line.slice(0, -1)
      partial = partial.slice(newline + 1)
      for (const piece of split(line)) out.push({ at, text: piece })
      newline = partial.indexOf("\n")
    }
    while (partial.length > maxLineBytes) {
      out.push({ at, text: partial.slice(0, maxLineBytes) })
      partial = partial.slice(maxLineBytes)
    }
    for (const line of out) keep(line)
    return out
  }

  const split = (line: string): ReadonlyArray<string> => {
    if (line.length <= maxLineBytes) return [line]
    const pieces: Array<string> = []
    for (let i = 0; i < line.length; i += maxLineBytes) pieces.push(line.slice(i, i + maxLineBytes))
    return pieces
  }

  return {
    push: (chunk, at) => take(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }), at),
    end: (at) => {
      const rest = take(decoder.decode(), at)
      if (partial === "") return rest
      const last = { at, text: partial }
      partial = ""
      keep(last)
      return [...rest, last]
    },
    lines: () => kept.slice(start),
    dropped: () => dropped
  }
}
