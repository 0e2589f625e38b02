/**
 * What model calls cost: a price table (USD per million tokens, by model id prefix) and the arithmetic. The defaults
 * cover the agents' default models and their families as the providers published them (standard tier, prompts under
 * 200k tokens, 5-minute cache writes; Claude Code's `sonnet` is `claude-sonnet-5-5` at the price its own accounting
 * uses), and may lag the providers' lists: the `prices` setting overrides or adds entries per deployment,
 * installation or repository (`Settings`). A model no entry matches is priced with the `*` entry (Opus-level by default, so that an
 * unknown model makes a budget bite early rather than never).
 *
 * Cannot: know batch, long-context (> 200k tokens) or regional surcharges; figures are estimates of the provider's
 * bill, good for budgets, not an invoice.
 */
import { Schema } from "effect"

/** USD per million tokens of each kind. */
export interface Price {
  readonly input: number
  readonly output: number
  readonly cacheRead: number
  readonly cacheWrite: number
}

const ENTRY =
  /^(\*|[a-z0-9][a-z0-9._:@-]{0,99})=(\d{1,5}(?:\.\d{1,6})?)\/(\d{1,5}(?:\.\d{1,6})?)(?:\/(\d{1,5}(?:\.\d{1,6})?))?(?:\/(\d{1,5}(?:\.\d{1,6})?))?$/

/**
 * One price, as text: `<model id prefix>=<input>/<output>[/<cache read>[/<cache write>]]`, USD per million tokens,
 * e.g. `claude-sonnet-4=3/15/0.3/3.75` (cache reads and writes cost the input price when left out). Text, so a
 * table is a list of short lines wherever settings are edited.
 */
export const PriceEntry = Schema.String.pipe(
  Schema.check(Schema.isPattern(ENTRY, { expected: "<model prefix>=<input>/<output>[/<cache read>[/<cache write>]]" }))
)

/** Prices by model id prefix; the longest prefix of a model's id wins, `*` prices the rest; a later entry wins. */
export const PriceList = Schema.Array(PriceEntry).pipe(Schema.check(Schema.isMaxLength(200)))
export type PriceList = typeof PriceList.Type

/** An entry's model key and price (`undefined` for text that is not an entry). */
export const parseEntry = (entry: string): { readonly model: string; readonly price: Price } | undefined => {
  const match = ENTRY.exec(entry)
  if (match === null) return undefined
  const input = Number(match[2])
  return {
    model: match[1]!,
    price: {
      input,
      output: Number(match[3]),
      cacheRead: match[4] !== undefined ? Number(match[4]) : input,
      cacheWrite: match[5] !== undefined ? Number(match[5]) : input
    }
  }
}

/** The built-in table. */
export const defaults: PriceList = [
  // Anthropic (Claude Code, OpenCode's default): cache writes at the 5-minute rate.
  "claude-opus-5=5/25/0.5/6.25",
  "claude-opus-4=15/75/1.5/18.75",
  "claude-opus-4-5=5/25/0.5/6.25",
  "claude-opus-4-6=5/25/0.5/6.25",
  "claude-opus-4-7=5/25/0.5/6.25",
  "claude-opus-4-8=5/25/0.5/6.25",
  "claude-sonnet-5=2/10/0.2/2.5",
  "claude-sonnet-4=3/15/0.3/3.75",
  "claude-3-7-sonnet=3/15/0.3/3.75",
  "claude-3-5-sonnet=3/15/0.3/3.75",
  "claude-haiku-5=1/5/0.1/1.25",
  "claude-haiku-4-5=1/5/0.1/1.25",
  "claude-3-5-haiku=0.8/4/0.08/1",
  "opus=15/75/1.5/18.75",
  "sonnet=3/15/0.3/3.75",
  "haiku=1/5/0.1/1.25",
  // OpenAI (Codex): cached input is a read; there is no write charge.
  "gpt-5=1.25/10/0.125/0",
  "gpt-5-mini=0.25/2/0.025/0",
  "gpt-5-nano=0.05/0.4/0.005/0",
  "gpt-4.1=2/8/0.5/0",
  "gpt-4.1-mini=0.4/1.6/0.1/0",
  "gpt-4o=2.5/10/1.25/0",
  "gpt-4o-mini=0.15/0.6/0.075/0",
  "o3=2/8/0.5/0",
  "o4-mini=1.1/4.4/0.275/0",
  // Google (Gemini CLI): prompts up to 200k tokens.
  "gemini-2.5-pro=1.25/10/0.125/0",
  "gemini-2.5-flash=0.3/2.5/0.03/0",
  "gemini-2.5-flash-lite=0.1/0.4/0.01/0",
  "gemini-3-pro=2/12/0.2/0",
  "*=15/75/1.5/18.75"
]

const keyOf = (entry: string): string => entry.slice(0, entry.indexOf("="))

/** `base` with `patch`'s entries set over it, by model key (a repository overrides one model and keeps the rest). */
export const merge = (base: PriceList, patch: PriceList | undefined): PriceList => {
  if (patch === undefined || patch.length === 0) return base
  const replaced = new Set(patch.map(keyOf))
  return [...base.filter((entry) => !replaced.has(keyOf(entry))), ...patch]
}

const tables = new WeakMap<PriceList, Map<string, Price>>()

const tableOf = (list: PriceList): Map<string, Price> => {
  let table = tables.get(list)
  if (table === undefined) {
    table = new Map()
    for (const entry of list) {
      const parsed = parseEntry(entry)
      if (parsed !== undefined) table.set(parsed.model, parsed.price)
    }
    tables.set(list, table)
  }
  return table
}

const fallback: Price = parseEntry("*=15/75/1.5/18.75")!.price

/** The price of `model`: the entry whose key is the longest prefix of its id (lower case), else `*`. */
export const priceFor = (list: PriceList, model: string): Price => {
  const table = tableOf(list)
  const id = model.toLowerCase().replace(/^(?:models\/|anthropic\/|openai\/|google\/)/, "")
  let best: string | undefined
  for (const key of table.keys()) {
    if (key !== "*" && id.startsWith(key) && (best === undefined || key.length > best.length)) best = key
  }
  return table.get(best ?? "*") ?? fallback
}

/** Token counts of one call or many, by kind (input excludes cached tokens). */
export interface Tokens {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cacheReadTokens: number
  readonly cacheWriteTokens: number
}

/** USD for `tokens` at `price`. */
export const costOf = (tokens: Tokens, price: Price): number =>
  (tokens.inputTokens * price.input +
    tokens.outputTokens * price.output +
    tokens.cacheReadTokens * price.cacheRead +
    tokens.cacheWriteTokens * price.cacheWrite) / 1_000_000

/** `usd` spent, for people: cents for a dollar or more, four decimals below. */
export const formatUsd = (usd: number): string => `$${usd.toFixed(usd < 1 ? 4 : 2)}`

/** A budget, for people: in cents when it is a whole number of them (`$0.50`, `$10.00`), else as set. */
export const formatBudget = (usd: number): string =>
  `$${Math.abs(usd * 100 - Math.round(usd * 100)) < 1e-9 ? usd.toFixed(2) : String(Number(usd.toFixed(6)))}`
