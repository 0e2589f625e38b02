// Per-delivery cost of the webhook signature check, in-process, Node:
//   node --conditions=@porter/source packages/github/test/perf/WebhookVerify.perf.ts
// Not part of the test suite. 10,000 deliveries of a ~7 KB issue_comment payload per round, rounds
// alternating between the implementations so that machine load hits them alike; prints the medians
// of wall and CPU time (process-wide, WebCrypto's thread pool included) in µs per delivery. Each
// implementation is used as GitHubWebhooks.parse would use it: the hand ones return a boolean
// (node:crypto) or a promise (WebCrypto); the effect ones an Effect, run inside one fiber.
import { Effect, Layer, Result } from "effect"
import { Mac, SecureRandom } from "effect/crypto"
import { Hex } from "effect/encoding"
import { createHmac } from "node:crypto"

const N = 10_000
const ROUNDS = 7
const secret = "It's a Secret to Everybody"
const encoder = new TextEncoder()

// A ~7 KB body: an issue_comment.created delivery of the size GitHub sends.
const body = JSON.stringify({
  action: "created",
  issue: { number: 12, title: "Parser bug", body: "x".repeat(2_500), user: { login: "octocat", id: 1 } },
  comment: { id: 99, body: "@porter claude make the date parser accept ISO weeks", user: { login: "octocat", id: 1 } },
  repository: { full_name: "octo/hello", description: "y".repeat(3_000), owner: { login: "octo", id: 2 } },
  sender: { login: "octocat", id: 1, type: "User" },
  installation: { id: 9 },
  padding: "z".repeat(1_000)
})
const hex = createHmac("sha256", secret).update(body, "utf8").digest("hex")

// The hand verifiers, as GitHubWebhooks.makeVerifier builds them.
const timingSafeEqual = (a: string, b: string) => Mac.timingSafeEqual(encoder.encode(a), encoder.encode(b))
const handNode = (body: string, hex: string): boolean => {
  try {
    return timingSafeEqual(createHmac("sha256", secret).update(body, "utf8").digest("hex"), hex)
  } catch {
    return false
  }
}
const hexBytes = (hex: string): Uint8Array => {
  const bytes = new Uint8Array(hex.length >> 1)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return bytes
}
let webKey: ReturnType<typeof crypto.subtle.importKey> | undefined
const handWebCrypto = (body: string, hex: string): Promise<boolean> => {
  webKey ??= crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify"
  ])
  return webKey.then((k) => crypto.subtle.verify("HMAC", k, hexBytes(hex), encoder.encode(body))).catch(() => false)
}

// effect/crypto's Mac, the key built once: on WebCrypto, and with node:crypto's HMAC as the primitive
// (what @effect/platform-node's NodeCrypto.layerMac does).
const nodeHashes = {
  "SHA-1": "sha1",
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
  MD5: "md5"
} as const
const macOn = (layer: Layer.Layer<Mac.Mac, never, SecureRandom.SecureRandom>) =>
  Effect.gen(function*() {
    const mac = yield* Effect.provide(Effect.service(Mac.Mac), layer.pipe(Layer.provide(SecureRandom.layerWebCrypto)))
    const key = yield* Mac.key(Mac.hmacSha256, encoder.encode(secret))
    return (body: string, hex: string): Effect.Effect<boolean> => {
      const tag = Hex.decode(hex)
      if (Result.isFailure(tag)) return Effect.succeed(false)
      return Effect.orElseSucceed(mac.verify(key, tag.success, encoder.encode(body)), () => false)
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

const main = Effect.gen(function*() {
  const effectWebCrypto = yield* macOn(Mac.layerWebCrypto)
  const effectNodeHmac = yield* macOn(
    Mac.layerWebCryptoWith({
      hmac: (hash, key, data) => new Uint8Array(createHmac(nodeHashes[hash], key).update(data).digest())
    })
  )
  const runs: Record<string, Effect.Effect<void>> = {
    "hand node:crypto (sync)": Effect.sync(() => {
      for (let i = 0; i < N; i++) if (!handNode(body, hex)) throw new Error("bad")
    }),
    "hand WebCrypto, key imported once": Effect.promise(async () => {
      for (let i = 0; i < N; i++) if (!(await handWebCrypto(body, hex))) throw new Error("bad")
    }),
    "effect Mac.layerWebCrypto": Effect.gen(function*() {
      for (let i = 0; i < N; i++) if (!(yield* effectWebCrypto(body, hex))) throw new Error("bad")
    }),
    "effect Mac.layerWebCryptoWith node:crypto hmac": Effect.gen(function*() {
      for (let i = 0; i < N; i++) if (!(yield* effectNodeHmac(body, hex))) throw new Error("bad")
    })
  }
  for (const run of Object.values(runs)) yield* run // warm-up
  const figures: Record<string, { wall: Array<number>; cpu: Array<number> }> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(runs)) {
      const { wall, cpu } = yield* timed(run, N)
      const entry = (figures[name] ??= { wall: [], cpu: [] })
      entry.wall.push(wall)
      entry.cpu.push(cpu)
    }
  }
  const out = Object.fromEntries(
    Object.entries(figures).map((
      [k, v]
    ) => [k, { wall: Number(median(v.wall).toFixed(1)), cpu: Number(median(v.cpu).toFixed(1)) }])
  )
  console.log(
    JSON.stringify({
      node: process.version,
      bodyBytes: body.length,
      deliveriesPerRound: N,
      rounds: ROUNDS,
      usPerDelivery: out
    })
  )
})

Effect.runPromise(main)
