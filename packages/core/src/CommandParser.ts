/**
 * CommandParser: comment text → what Porter should do. Pure and total (never throws).
 *
 * Porter is addressed only by a mention GitHub shows as plain paragraph text at the start of a line
 * (`CommandSyntax`: the comment is parsed as GFM) — never in quotes, code, HTML comments, lists… so
 * quoting an earlier command never starts a run. The first such line counts; the rest of the comment
 * belongs to the instructions.
 *
 *   @porter <agent> [--model <id>] [--timeout <duration>] [--budget <usd>] <instructions…>
 *   @porter [--model …] <instructions…>          (the default agent)
 *   @porter [<agent>] [flags] ask <question…>    (answered read-only: no branch, no pull request)
 *   @porter [<agent>] [flags] fix-ci [more…]     (a pull request's failing checks, their logs in the prompt)
 *   @porter help | status | cancel | retry | approve | deny   (alone on the line; a bare `@porter` is help)
 *   @porter continue [more instructions…]        (the latest task's branch and agent session)
 */
import { Context, Effect, Layer, Option } from "effect"
import type { AgentSpec } from "./Agent.ts"
import { AgentCatalog } from "./AgentCatalog.ts"
import { parseUsd, unhonouredFlag } from "./Budgets.ts"
import {
  Approve,
  Cancel,
  Deny,
  FIX_CI_INSTRUCTIONS,
  Help,
  NotForPorter,
  type ParseResult,
  Problem,
  Retry,
  Run,
  Status
} from "./Command.ts"
import { Continue } from "./Command.ts"
import * as CommandSyntax from "./CommandSyntax.ts"
import { formatDuration } from "./Messages.ts"
import { formatBudget } from "./Pricing.ts"
import type { RepoSettings } from "./Settings.ts"

/** Comment text → what Porter should do. */
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

/** The text after the first mention line that addresses Porter, or undefined (`CommandSyntax.findMention`). */
export const findMention = CommandSyntax.findMention

const KEYWORDS: Record<string, () => ParseResult> = {
  help: () => new Help({}),
  status: () => new Status({}),
  cancel: () => new Cancel({}),
  stop: () => new Cancel({}),
  retry: () => new Retry({}),
  approve: () => new Approve({}),
  deny: () => new Deny({})
}

/** A first word that may have been meant as an agent's name (the status comment then says no agent has it). */
const AGENT_SHAPED = /^[a-z][a-z0-9-]{1,31}$/i

const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$/

/** Parses a comment's text with a repository's settings and the known agents. */
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
  const continued = /^continue(?=$|[\s.!:,])[.!:,]?/i.exec(line)
  if (continued !== null) {
    return new Continue({ instructions: [line.slice(continued[0].length), mention.rest].join("\n").trim() })
  }

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
  let budgetUsd: number | undefined
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
    } else if (flag === "--budget") {
      const v = takeValue()
      const usd = v === undefined ? undefined : parseUsd(v)
      if (usd === undefined) {
        return new Problem({
          kind: "bad_flag_value",
          message: `\`--budget ${v ?? ""}\` is not an amount of dollars; use something like \`5\` or \`2.50\`.`
        })
      }
      if (usd > settings.maxTaskBudgetUsd) {
        return new Problem({
          kind: "budget_too_high",
          message: `\`--budget ${v}\` is more than this repository allows a task (${
            formatBudget(settings.maxTaskBudgetUsd)
          }).`
        })
      }
      budgetUsd = usd
    } else if (flag === "--") {
      index += 1
      break
    } else {
      return new Problem({
        kind: "unknown_flag",
        message:
          `Unknown flag \`${
            flag.slice(0, 40)
          }\`. Porter understands \`--model <id>\`, \`--timeout <duration>\` and \`--budget <usd>\`; \`${m} help\` shows ` +
          "more."
      })
    }
    index += 1
  }

  // `ask` after the agent and its flags: a question, answered read-only.
  const ask = words[index]?.replace(/:$/, "").toLowerCase() === "ask"
  if (ask) index += 1
  // `fix-ci` in the same place: the pull request's failing checks, their logs in the prompt (`CiFeedback`).
  const fixCi = !ask && words[index]?.replace(/:$/, "").toLowerCase() === "fix-ci"
  if (fixCi) index += 1

  if (agent === undefined && !((ask || fixCi) && index === 1)) {
    const miss = nearMiss(first, agents)
    if (miss && index === 0) {
      return new Problem({
        kind: "did_you_mean",
        message: `Did you mean \`${miss.name}\`? No agent is called \`${first.slice(0, 40)}\`; nothing was started. ` +
          `Try \`${m} ${miss.name} ${words.slice(1).join(" ")}\`.`.trimEnd()
      })
    }
  }

  const instructions = [words.slice(index).join(" "), mention.rest].join("\n").trim() ||
    (fixCi ? FIX_CI_INSTRUCTIONS : "")
  const agentName = agent?.name ?? settings.defaultAgent
  if (instructions.length === 0) {
    return new Problem({
      kind: "empty_instructions",
      message: ask
        ? `Ask a question: \`${m} ask <question>\` (or \`${m} ${agentName} ask <question>\`).`
        : `Tell \`${agentName}\` what to do: \`${m} ${agentName} <instructions>\`.`
    })
  }
  const notAnAgent =
    agent === undefined && !ask && !fixCi && AGENT_SHAPED.test(first) && !ORDINARY_WORDS.has(first.toLowerCase())
      ? first
      : undefined
  const unhonoured = unhonouredFlag(agent ?? Option.getOrUndefined(resolve(agentName)), { model, budgetUsd })
  if (unhonoured !== undefined) return new Problem({ kind: "unsupported_flag", message: unhonoured })
  return new Run({
    agent: agentName,
    instructions,
    ...(ask ? { ask: true } : {}),
    ...(fixCi ? { fixCi: true } : {}),
    ...(agent === undefined ? { defaultAgent: true } : {}),
    ...(notAnAgent !== undefined ? { notAnAgent } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(budgetUsd !== undefined ? { budgetUsd } : {})
  })
}

/** The parser over an agent catalog. */
export const make = (catalog: AgentCatalog["Service"]): CommandParser["Service"] =>
  CommandParser.of({ parse: (text, settings) => parse(text, settings, catalog.list, catalog.resolve) })

/** The parser over the `AgentCatalog` in context. */
export const layer: Layer.Layer<CommandParser, never, AgentCatalog> = Layer.effect(
  CommandParser,
  Effect.gen(function*() {
    return make(yield* AgentCatalog)
  })
)
