/** What a burst of requests got back: status → count (0 for a request that failed without one). */
export type BurstResult = { statuses: Map<number, number>; admitted: number; refused: number; elapsedMs: number }

/**
 * Fires `count` requests at once with one bearer token, spread round-robin over `urls` (the
 * replicas), and counts the answers: 200 admitted, 429 refused by a rate limit.
 */
export async function burst(urls: readonly string[], token: string, count: number): Promise<BurstResult> {
  const started = performance.now()
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      fetch(urls[i % urls.length]!, { headers: { authorization: `Bearer ${token}` } }).then(
        async (res) => {
          await res.arrayBuffer()
          return res.status
        },
        () => 0,
      ),
    ),
  )
  const elapsedMs = performance.now() - started
  const statuses = new Map<number, number>()
  for (const status of results) statuses.set(status, (statuses.get(status) ?? 0) + 1)
  return { statuses, admitted: statuses.get(200) ?? 0, refused: statuses.get(429) ?? 0, elapsedMs }
}
