/**
 * CommandParser: comment text → what Porter should do. Pure and total (never throws).
 *
 * Porter is addressed only by a mention at the start of a line (after up to three spaces), outside
 * fenced code, indented code, HTML comments and quoted (`>`) lines — so quoting an earlier command
 * never starts a run. The first such line counts; the rest of the comment belongs to the
 * instructions.
 *
 *   @porter <agent> [--model <id>] [--timeout <duration>] <instructions…>
 *   @porter [--model …] <instructions…>          (the default agent)
 *   @porter help | status | cancel | retry       (alone on the line; a bare `@porter` is help)
 */
import { Context, Effect, Layer, Option } from "effect"
import type { AgentSpec } from "./Agent.ts"
import { AgentCatalog } from "./AgentCatalog.ts"
import { Cancel, Help, NotForPorter, type ParseResult, Problem, Retry, Run, Status } from "./Command.ts"
import { formatDuration } from "./Messages.ts"
import type { RepoSettings } from "./Settings.ts"

export class CommandParser extends Context.Service<CommandParser, {
  readonly parse: (text: string, settings: RepoSettings) => ParseResult
}>()("@porter/core/CommandParser") {}

/** `90s`, `20m`, `45min`, `2h`, `1h30m` → milliseconds; `undefined` if it is not a duration. */
export const parseDuration = (text: string): number | undefined => {
  const match = /^(?:(\d{1,4})h)?(?:(\d{1,5})(?:m|min))?(?:(\d{1,6})s)?$/i.exec(text.trim())
  if (!match || (match[1] === undefined && match[2] === undefined && match[3] === undefined)) return undefined
  const ms = (Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)) * 1000
  return ms > 0 ? ms : undefined
}

/** Optimal string alignment distance (Damerau–Levenshtein with adjacent transpositions). */
export const editDistance = (a: string, b: string): number => {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: Array<Array<number>> = Array.from(
    { length: rows },
    (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0))
  )
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/** Ordinary words that sit close to an agent name; they start instructions, not typos. */
const ORDINARY_WORDS = new Set([
  "add",
  "and",
  "app",
  "apps",
  "amps",
  "camp",
  "damp",
  "lamp",
  "ramp",
  "map",
  "cloud",
  "clause",
  "claim",
  "code",
  "coded",
  "codes",
  "coder",
  "codec",
  "decode",
  "encode",
  "open",
  "opens",
  "opened",
  "opener",
  "gemini",
  "genie",
  "remind",
  "mini",
  "scrip",
  "scripts",
  "fix",
  "make",
  "use",
  "can",
  "please"
])

/** The agent a word seems to misspell, if any. */
export const nearMiss = (word: string, agents: ReadonlyArray<AgentSpec>): AgentSpec | undefined => {
  const w = word.toLowerCase()
  if (w.length < 3 || ORDINARY_WORDS.has(w)) return undefined
  let best: { agent: AgentSpec; distance: number } | undefined
  for (const agent of agents) {
    for (const name of [agent.name, ...agent.aliases]) {
      const n = name.toLowerCase()
      if (n.length < 3) continue
      const prefix = n.startsWith(w) && w.length >= Math.max(3, n.length - 2)
      const limit = n.length >= 6 ? 2 : 1
      const distance = prefix ? 1 : editDistance(w, n)
      if ((prefix || distance <= limit) && (best === undefined || distance < best.distance)) {
        best = { agent, distance }
      }
    }
  }
  return best?.agent
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/
const QUOTE = /^ {0,3}>/
const INDENTED_CODE = /^(?: {4}|\t)/

/** The text after the first mention line that addresses Porter, or undefined. */
export const findMention = (
  text: string,
  mention: string
): { readonly line: string; readonly rest: string } | undefined => {
  const lines = text.split(/\r\n|\r|\n/)
  const needle = `@${mention.toLowerCase()}`
  let fence: string | undefined
  let inComment = false
  let previousBlank = true
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (fence !== undefined) {
      const close = FENCE.exec(line)
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length && line.trim() === close[1]) {
        fence = undefined
      }
      continue
    }
    const open = FENCE.exec(line)
    if (open) {
      fence = open[1]!
      continue
    }
    if (inComment) {
      if (line.includes("-->")) inComment = false
      continue
    }
    if (/^ {0,3}<!--/.test(line) && !line.includes("-->")) {
      inComment = true
      continue
    }
    const blank = line.trim().length === 0
    const indentedCode: boolean = previousBlank && INDENTED_CODE.test(line)
    previousBlank = blank || (previousBlank && indentedCode)
    if (blank || indentedCode || QUOTE.test(line)) continue
    const start = line.trimStart()
    if (start.length < needle.length || start.slice(0, needle.length).toLowerCase() !== needle) continue
    const after = start.slice(needle.length)
    // `@porter-bot` or `@porters` is someone else.
    if (after.length > 0 && !/^[\s,:;.!?]/.test(after)) continue
    return { line: after.replace(/^[,:;.!?]+/, "").trim(), rest: lines.slice(i + 1).join("\n") }
  }
  return undefined
}

const KEYWORDS: Record<string, () => ParseResult> = {
  help: () => new Help({}),
  status: () => new Status({}),
  cancel: () => new Cancel({}),
  stop: () => new Cancel({}),
  retry: () => new Retry({})
}

const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$/

export const parse = (
  text: string,
  settings: RepoSettings,
  agents: ReadonlyArray<AgentSpec>,
  resolve: (name: string) => Option.Option<AgentSpec>
): ParseResult => {
  const mention = findMention(typeof text === "string" ? text : "", settings.mentionName)
  if (mention === undefined) return new NotForPorter({})
  const m = `@${settings.mentionName}`
  const line = mention.line
  const keyword = line.toLowerCase().replace(/[.!?]+$/, "")
  if (keyword.length === 0) return new Help({})
  const keywordCommand = KEYWORDS[keyword]
  if (keywordCommand) return keywordCommand()

  const words = line.split(/\s+/)
  let index = 0
  let agent: AgentSpec | undefined
  const first = words[0]!.replace(/[,:]$/, "")
  const named = Option.getOrUndefined(resolve(first))
  if (named) {
    agent = named
    index = 1
  }
  let model: string | undefined
  let timeoutMs: number | undefined
  while (index < words.length && words[index]!.startsWith("--")) {
    const word = words[index]!
    const eq = word.indexOf("=")
    const flag = (eq >= 0 ? word.slice(0, eq) : word).toLowerCase()
    let value: string | undefined = eq >= 0 ? word.slice(eq + 1) : undefined
    const takeValue = () => {
      if (value === undefined) {
        value = words[index + 1]
        index += 1
      }
      return value
    }
    if (flag === "--model") {
      const v = takeValue()
      if (v === undefined || !MODEL.test(v)) {
        return new Problem({
          kind: "bad_flag_value",
          message: `\`--model\` needs a model id, like \`${m} claude --model opus <instructions>\`.`
        })
      }
      model = v
    } else if (flag === "--timeout") {
      const v = takeValue()
      const ms = v === undefined ? undefined : parseDuration(v)
      if (ms === undefined) {
        return new Problem({
          kind: "bad_flag_value",
          message: `\`--timeout ${v ?? ""}\` is not a duration; use something like \`90s\`, \`20m\` or \`1h30m\`.`
        })
      }
      if (ms > settings.maxTimeoutMs) {
        return new Problem({
          kind: "timeout_too_long",
          message: `\`--timeout ${v}\` is longer than this repository allows (${
            formatDuration(settings.maxTimeoutMs)
          }).`
        })
      }
      timeoutMs = ms
    } else if (flag === "--") {
      index += 1
      break
    } else {
      return new Problem({
        kind: "unknown_flag",
        message: `Unknown flag \`${
          flag.slice(0, 40)
        }\`. Porter understands \`--model <id>\` and \`--timeout <duration>\`; \`${m} help\` shows more.`
      })
    }
    index += 1
  }

  if (agent === undefined) {
    const miss = nearMiss(first, agents)
    if (miss && index === 0) {
      return new Problem({
        kind: "did_you_mean",
        message: `Did you mean \`${miss.name}\`? No agent is called \`${first.slice(0, 40)}\`; nothing was started. ` +
          `Try \`${m} ${miss.name} ${words.slice(1).join(" ")}\`.`.trimEnd()
      })
    }
  }

  const instructions = [words.slice(index).join(" "), mention.rest].join("\n").trim()
  const agentName = agent?.name ?? settings.defaultAgent
  if (instructions.length === 0) {
    return new Problem({
      kind: "empty_instructions",
      message: `Tell \`${agentName}\` what to do: \`${m} ${agentName} <instructions>\`.`
    })
  }
  return new Run({
    agent: agentName,
    instructions,
    ...(model !== undefined ? { model } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {})
  })
}

export const make = (catalog: AgentCatalog["Service"]): CommandParser["Service"] =>
  CommandParser.of({ parse: (text, settings) => parse(text, settings, catalog.list, catalog.resolve) })

/** The parser over the `AgentCatalog` in context. */
export const layer: Layer.Layer<CommandParser, never, AgentCatalog> = Layer.effect(
  CommandParser,
  Effect.gen(function*() {
    return make(yield* AgentCatalog)
  })
)
