/**
 * How the intake benchmarks measure targets side by side: the same pre-signed deliveries for every target, a warm-up,
 * then rounds in which the targets take turns (so that a change in the shared machine's load hits them alike). Answer
 * times per request; throughput is answers over the time the rounds took; CPU per request is the target's processes'
 * CPU (`/proc/<pid>/stat`) over the rounds, divided by the answers. Used by `run.ts` (intake) and `../durable/run.ts`.
 */
import { cpuMs, fixed, median, percentile } from "../worker/support.ts"
import type { Child } from "./children.ts"
import { pool, type Signed } from "./deliveries.ts"
import { fire } from "./load.ts"

export interface Target {
  readonly name: string
  /** Where deliveries are POSTed. */
  readonly url: string
  /** The processes whose CPU counts for this target. */
  readonly pids: () => ReadonlyArray<number>
  readonly stop: () => Promise<void>
}

/** A server running as a child process (`children.ts`). */
export const childTarget = (
  name: string,
  child: Child,
  pids: () => ReadonlyArray<number> = () => [child.pid]
): Target => ({
  name,
  url: child.url,
  pids,
  stop: child.stop
})

interface Tally {
  readonly times: Array<number>
  /** Each round's own p99. */
  readonly roundP99s: Array<number>
  readonly statuses: Map<number, number>
  seconds: number
  cpu: number | undefined
  errors: number
}

export interface Row {
  readonly target: string
  readonly connections: number
  readonly count: number
  readonly perSecond: number
  readonly p50: number
  readonly p99: number
  /**
   * The median of the rounds' own p99s. The p99 of all answers is decided by the few rounds in which the machine
   * paused every request in flight at once (any process on it: the load generator's too); this one is what a
   * typical round shows.
   */
  readonly p99OfRounds: number
  readonly cpuPerRequest: number | undefined
  readonly statuses: string
}

const round = async (target: Target, deliveries: ReadonlyArray<Signed>, connections: number, tally: Tally) => {
  const before = cpuMs(target.pids())
  const fired = await fire(target.url, deliveries, connections)
  const after = cpuMs(target.pids())
  for (const time of fired.times) tally.times.push(time)
  tally.roundP99s.push(percentile([...fired.times].sort((a, b) => a - b), 99))
  tally.seconds += fired.seconds
  tally.errors += fired.errors
  for (const [status, n] of fired.statuses) tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + n)
  tally.cpu = tally.cpu !== undefined && before !== undefined && after !== undefined
    ? tally.cpu + after - before
    : undefined
}

const summarize = (target: string, connections: number, tally: Tally): Row => {
  const sorted = [...tally.times].sort((a, b) => a - b)
  return {
    target,
    connections,
    count: sorted.length,
    perSecond: sorted.length / tally.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p99OfRounds: median(tally.roundP99s),
    cpuPerRequest: tally.cpu !== undefined ? tally.cpu / sorted.length : undefined,
    statuses: [...tally.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${n}×${s}`).join(" ") +
      (tally.errors > 0 ? ` ${tally.errors}×error` : "")
  }
}

export interface MeasureOptions {
  /** The webhook secret the deliveries are signed with. */
  readonly secret: string
  readonly connections: number
  readonly warmup: number
  readonly rounds: number
  readonly perRound: number
}

/** Warm-up, then `rounds` rounds over `targets` at one concurrency level; one row per target. */
export const measure = async (targets: ReadonlyArray<Target>, options: MeasureOptions): Promise<Array<Row>> => {
  const { connections, perRound, rounds, warmup } = options
  // One pool per level: every target gets the same deliveries, none twice.
  const deliveries = pool(options.secret, warmup + rounds * perRound)
  const tallies = targets.map(() =>
    ({ times: [], roundP99s: [], statuses: new Map(), seconds: 0, cpu: 0, errors: 0 }) as Tally
  )
  for (const target of targets) await fire(target.url, deliveries.slice(0, warmup), connections)
  for (let r = 0; r < rounds; r++) {
    const slice = deliveries.slice(warmup + r * perRound, warmup + (r + 1) * perRound)
    for (const [i, target] of targets.entries()) await round(target, slice, connections, tallies[i]!)
  }
  return targets.map((target, i) => summarize(target.name, connections, tallies[i]!))
}

/** A row's common cells (target, connections, answers/s, p50, p99, CPU), then `extra`, then the statuses. */
export const rowCells = (row: Row, extra: ReadonlyArray<string>) => [
  row.target,
  String(row.connections),
  fixed(row.perSecond, 0),
  fixed(row.p50),
  fixed(row.p99),
  fixed(row.cpuPerRequest, 3),
  ...extra,
  row.statuses
]
