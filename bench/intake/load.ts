/**
 * The load generator every intake target gets: autocannon (keep-alive HTTP/1.1, `connections` requests in flight),
 * each request the next pre-signed delivery of a pool, so no delivery is sent twice. Answer times are taken per
 * request from autocannon's `response` event (high-resolution, not its whole-millisecond histogram).
 */
import autocannon from "autocannon"
import type { Signed } from "./deliveries.ts"

export interface Fired {
  /** Answer times in ms, in arrival order. */
  readonly times: ReadonlyArray<number>
  readonly statuses: ReadonlyMap<number, number>
  readonly seconds: number
  readonly errors: number
}

/** POSTs every delivery of `deliveries` to `url` with `connections` in flight. */
export const fire = async (url: string, deliveries: ReadonlyArray<Signed>, connections: number): Promise<Fired> => {
  const target = new URL(url)
  let next = 0
  const times: Array<number> = []
  const statuses = new Map<number, number>()
  const instance = autocannon({
    url: target.origin,
    connections: Math.min(connections, deliveries.length),
    amount: deliveries.length,
    timeout: 30,
    renderProgressBar: false,
    renderResultsTable: false,
    requests: [{
      method: "POST",
      path: target.pathname,
      setupRequest: (request) => {
        // autocannon may ask for one request more than `amount` on some connections; wrap around.
        const delivery = deliveries[next++ % deliveries.length]!
        return {
          ...request,
          method: "POST",
          path: target.pathname,
          headers: { ...delivery.headers },
          body: delivery.body
        }
      }
    }]
  })
  let last = 0
  instance.on("response", (_client, status, _bytes, ms) => {
    last = performance.now()
    times.push(ms)
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
  })
  const started = performance.now()
  const result = await instance
  // Up to the last answer: autocannon itself only notices that it is done on its next one-second tick.
  return { times, statuses, seconds: (last - started) / 1000, errors: result.errors + result.timeouts }
}
