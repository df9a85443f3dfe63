/** Remembers the `jti` of bound assertions until they expire, so each is accepted once. */
export type ReplayCache = {
  /** True the first time `jti` is seen before `expiresAtMs`; false for a replay. */
  claim(jti: string, expiresAtMs: number, nowMs: number): boolean
}

/**
 * A Map in insertion order, which is about expiry order too (gatehouse gives every assertion the
 * same ttl), so expired entries are dropped from the front as new ones arrive. When it is full of
 * live entries the oldest is forgotten — and could be replayed — so size it above requests per
 * second × assertion ttl (100,000 covers 3,000 requests/s at the default 30 s).
 */
export function createReplayCache(maxEntries: number): ReplayCache {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error('the replay cache needs maxEntries ≥ 1')
  const seen = new Map<string, number>()
  return {
    claim(jti, expiresAtMs, nowMs) {
      const known = seen.get(jti)
      if (known !== undefined && known > nowMs) return false
      seen.delete(jti)
      for (const [oldest, expiry] of seen) {
        if (expiry > nowMs && seen.size < maxEntries) break
        seen.delete(oldest)
      }
      seen.set(jti, expiresAtMs)
      return true
    },
  }
}
