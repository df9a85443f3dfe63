import { hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { deepFreeze } from './freeze.ts'
import type { Identity } from './identity.ts'

/**
 * Verified identities by a SHA-256 digest of the full token. Only the whole token is a safe key:
 * keyed on the signature alone, a forged payload carrying a known signature would hit the cache.
 * The 43-character digest instead of the ~600-character token saves over half a kilobyte per
 * cached caller (about 55 MB at 100,000) for under a microsecond of hashing per request.
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
  // One key for the usual single token per user, a set only for users with several.
  const tokensByUser = new Map<string, string | Set<string>>()
  let evictions = 0
  const cache = new LRUCache<string, Identity>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    dispose: (identity, key) => {
      const userId = identity.user?.userId
      if (userId === undefined) return
      const keys = tokensByUser.get(userId)
      if (keys === key || (typeof keys === 'object' && keys.delete(key) && keys.size === 0)) tokensByUser.delete(userId)
    },
  })

  return {
    get: (token) => cache.get(keyOf(token)),
    generation: () => evictions,
    set(token, identity, notAfterMs, generation) {
      const ttl = Math.floor(Math.min(options.ttlMs, notAfterMs - Date.now()))
      if (ttl < 1 || generation !== evictions) return
      const key = keyOf(token)
      // Indexed after the set: replacing an entry disposes the old one, which unindexes the key.
      cache.set(key, deepFreeze(identity), { ttl })
      const userId = identity.user?.userId
      if (userId === undefined) return
      const keys = tokensByUser.get(userId)
      if (keys === undefined || keys === key) tokensByUser.set(userId, key)
      else if (typeof keys === 'string') tokensByUser.set(userId, new Set([keys, key]))
      else keys.add(key)
    },
    evictUser(userId) {
      evictions++
      const keys = tokensByUser.get(userId)
      for (const key of typeof keys === 'string' ? [keys] : [...(keys ?? [])]) cache.delete(key)
    },
    clear: () => cache.clear(),
  }
}

function keyOf(token: string): string {
  return hash('sha256', token, 'base64url')
}
