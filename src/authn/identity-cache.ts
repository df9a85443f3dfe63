import { LRUCache } from 'lru-cache'
import type { Identity } from './identity.ts'

/**
 * Verified identities by the full token string. Only the whole token is a safe key: keyed on the
 * signature alone, a forged payload carrying a known signature would hit the cache.
 */
export type IdentityCache = {
  /** The cached identity; it is deeply frozen because every request carrying the token shares it. */
  get(token: string): Identity | undefined
  /** Taken before verifying; passed to `set`. */
  generation(): number
  /**
   * Caches until `notAfterMs` (epoch ms) at the latest, so an entry never outlives its token.
   * Skipped when an eviction happened since `generation` was taken: a verification that raced a
   * revocation must not put the revoked user back.
   */
  set(token: string, identity: Identity, notAfterMs: number, generation: number): void
  evictUser(userId: string): void
  clear(): void
}

export function createIdentityCache(options: { maxEntries: number; ttlMs: number }): IdentityCache {
  const tokensByUser = new Map<string, Set<string>>()
  let evictions = 0
  const cache = new LRUCache<string, Identity>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    dispose: (identity, token) => {
      const userId = identity.user?.userId
      if (userId === undefined) return
      const tokens = tokensByUser.get(userId)
      if (tokens?.delete(token) && tokens.size === 0) tokensByUser.delete(userId)
    },
  })

  return {
    get: (token) => cache.get(token),
    generation: () => evictions,
    set(token, identity, notAfterMs, generation) {
      const ttl = Math.floor(Math.min(options.ttlMs, notAfterMs - Date.now()))
      if (ttl < 1 || generation !== evictions) return
      // Indexed after the set: replacing an entry disposes the old one, which unindexes the token.
      cache.set(token, deepFreeze(identity), { ttl })
      const userId = identity.user?.userId
      if (userId === undefined) return
      const tokens = tokensByUser.get(userId) ?? new Set()
      tokensByUser.set(userId, tokens.add(token))
    },
    evictUser(userId) {
      evictions++
      for (const token of [...(tokensByUser.get(userId) ?? [])]) cache.delete(token)
    },
    clear: () => cache.clear(),
  }
}

// Iterative: claims such as `properties` are nested to whatever depth the token's issuer chose.
// Identities are built from parsed JSON, so there are no cycles to guard against.
function deepFreeze<T extends object>(root: T): T {
  const pending: object[] = [root]
  for (let value = pending.pop(); value !== undefined; value = pending.pop()) {
    Object.freeze(value)
    for (const child of Object.values(value)) {
      if (typeof child === 'object' && child !== null) pending.push(child)
    }
  }
  return root
}
