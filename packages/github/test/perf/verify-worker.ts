// The webhook HMAC check inside workerd, for WebhookVerify.workerd.perf.ts: `GET /?impl=<name>&n=<count>`
// verifies the same ~7 KB body `n` times, one after the other, with the chosen implementation.
import { GitHubWebhooks } from "@porter/github"
import { Effect, Layer, Result } from "effect"
import { Mac, SecureRandom } from "effect/crypto"
import { Hex } from "effect/encoding"

const encoder = new TextEncoder()

const hexBytes = (hex: string): Uint8Array => {
  const bytes = new Uint8Array(hex.length >> 1)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return bytes
}

/** GitHubWebhooks' WebCrypto path: the key imported once, `crypto.subtle.verify` per delivery. */
const hand = (secret: string) => {
  let key: ReturnType<typeof crypto.subtle.importKey> | undefined
  return (body: string, hex: string): Promise<boolean> => {
    key ??= crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"])
    return key.then((k) => crypto.subtle.verify("HMAC", k, hexBytes(hex), encoder.encode(body))).catch(() => false)
  }
}

/** effect/crypto's Mac on WebCrypto, the key built once. */
const effect = (secret: string) =>
  Effect.gen(function*() {
    const mac = yield* Effect.provide(
      Effect.service(Mac.Mac),
      Mac.layerWebCrypto.pipe(Layer.provide(SecureRandom.layerWebCrypto))
    )
    const key = yield* Mac.key(Mac.hmacSha256, encoder.encode(secret))
    return (body: string, hex: string): Effect.Effect<boolean> => {
      const tag = Hex.decode(hex)
      if (Result.isFailure(tag)) return Effect.succeed(false)
      return Effect.orElseSucceed(mac.verify(key, tag.success, encoder.encode(body)), () => false)
    }
  })

interface Env {
  readonly SECRET: string
  readonly BODY: string
  readonly HEX: string
}

type Porter = (body: string, hex: string) => boolean | Effect.Effect<boolean>

let verifiers:
  | {
    hand: ReturnType<typeof hand>
    effect: Effect.Success<ReturnType<typeof effect>>
    node: Porter
    webcrypto: Porter
  }
  | undefined

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    const n = Number(url.searchParams.get("n") ?? "1")
    verifiers ??= {
      hand: hand(env.SECRET),
      effect: await Effect.runPromise(effect(env.SECRET)),
      // GitHubWebhooks' own check, each of its two ways (`node:crypto` is there with workerd's Node.js APIs).
      node: await Effect.runPromise(GitHubWebhooks.makeVerifier(env.SECRET, "node")),
      webcrypto: await Effect.runPromise(GitHubWebhooks.makeVerifier(env.SECRET, "webcrypto"))
    }
    const chosen = verifiers
    const impl = url.searchParams.get("impl")
    let ok = 0
    if (impl === "hand") {
      // As parse runs it: the promise awaited inside the request's fiber.
      await Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < n; i++) if (yield* Effect.promise(() => chosen.hand(env.BODY, env.HEX))) ok++
      }))
    } else {
      const verify: Porter = impl === "node" ? chosen.node : impl === "webcrypto" ? chosen.webcrypto : chosen.effect
      await Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < n; i++) {
          const valid = verify(env.BODY, env.HEX)
          if (typeof valid === "boolean" ? valid : yield* valid) ok++
        }
      }))
    }
    return Response.json({ ok })
  }
}
