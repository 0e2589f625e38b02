// Per-call cost of TaskTokens.verify (every callback and task view calls it), in-process, Node:
//   node --conditions=@porter/source packages/core/test/perf/TaskTokens.perf.ts
// Not part of the test suite. `hand` is the WebCrypto code TaskTokens had before it used
// effect/crypto (copied here as the baseline); `effect` is the module. Rounds of 10,000 calls
// alternate between the two so that machine load hits both alike; prints the medians of wall and
// CPU time (process-wide, WebCrypto's thread pool included) in µs per call.
import type { TaskTokens as TaskTokensModule } from "@porter/core"
import { Effect, Redacted } from "effect"

// The module alone, not the package index (the script needs nothing else from core).
const TaskTokens: typeof TaskTokensModule = await import(new URL("../../src/TaskTokens.ts", import.meta.url).href)

const N = 10_000
const ROUNDS = 7
const taskId = "task_01jd2v5h8k0000000000000000"
const encoder = new TextEncoder()

// The hand version, as it was.
const handTimingSafeEqual = (a: string, b: string): boolean => {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ (y[i % Math.max(y.length, 1)] ?? 0)
  return diff === 0
}
const handBase64Url = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")
}
const hand = (secret: string) =>
  Effect.gen(function*() {
    const key = yield* Effect.promise(() =>
      crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
    )
    const compute = (id: string) =>
      Effect.promise(() => crypto.subtle.sign("HMAC", key, encoder.encode(`porter-task-token:${id}`))).pipe(
        Effect.map((mac) => handBase64Url(new Uint8Array(mac)))
      )
    return {
      issue: (id: string) => Effect.map(compute(id), Redacted.make),
      verify: (id: string, presented: string) =>
        Effect.map(compute(id), (expected) => handTimingSafeEqual(expected, presented))
    }
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/** Wall and CPU (process-wide: WebCrypto's thread pool included) time of `effect`, in µs per call. */
const timed = <E, R>(effect: Effect.Effect<unknown, E, R>, calls: number) =>
  Effect.gen(function*() {
    const cpu = process.cpuUsage()
    const wall = performance.now()
    yield* effect
    const used = process.cpuUsage(cpu)
    return { wall: ((performance.now() - wall) * 1000) / calls, cpu: (used.user + used.system) / calls }
  })

type Tokens = Pick<TaskTokensModule.TaskTokens["Service"], "issue" | "verify">

const main = Effect.gen(function*() {
  const secret = "porter-perf-secret"
  const impls: Record<string, Tokens> = {
    hand: yield* hand(secret),
    effect: yield* TaskTokens.make(Redacted.make(secret))
  }
  const token = Redacted.value(yield* impls.hand!.issue(taskId))
  if (Redacted.value(yield* impls.effect!.issue(taskId)) !== token) throw new Error("the two disagree")
  const wrong = `${token.slice(0, -2)}AA`
  const loop = (f: () => Effect.Effect<unknown>) =>
    Effect.gen(function*() {
      for (let i = 0; i < N; i++) yield* f()
    })
  const runPromiseEach = (tokens: Tokens) =>
    Effect.promise(async () => {
      for (let i = 0; i < N; i++) await Effect.runPromise(tokens.verify(taskId, token))
    })
  const figures: Record<string, { wall: Array<number>; cpu: Array<number> }> = {}
  const record = (name: string, value: { wall: number; cpu: number }) => {
    const entry = (figures[name] ??= { wall: [], cpu: [] })
    entry.wall.push(value.wall)
    entry.cpu.push(value.cpu)
  }
  for (const tokens of Object.values(impls)) yield* loop(() => tokens.verify(taskId, token)) // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, tokens] of Object.entries(impls)) {
      record(`${name} verify valid`, yield* timed(loop(() => tokens.verify(taskId, token)), N))
      record(`${name} verify wrong`, yield* timed(loop(() => tokens.verify(taskId, wrong)), N))
      record(`${name} verify, runPromise each`, yield* timed(runPromiseEach(tokens), N))
      record(`${name} issue`, yield* timed(loop(() => tokens.issue(taskId)), N))
    }
  }
  const out = Object.fromEntries(
    Object.entries(figures).map((
      [k, v]
    ) => [k, { wall: Number(median(v.wall).toFixed(1)), cpu: Number(median(v.cpu).toFixed(1)) }])
  )
  console.log(JSON.stringify({ node: process.version, callsPerRound: N, rounds: ROUNDS, usPerCall: out }))
})

Effect.runPromise(main)
