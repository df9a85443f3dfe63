import { hash } from 'node:crypto'
import { createGuardedCache, memoizeRecent } from '../cache/index.ts'
import { deepFreeze } from '../identity/index.ts'
import type { Identity } from '../identity/index.ts'
import type { CacheEvents } from '../metrics/index.ts'

/**
 * Verified identities by a SHA-256 digest of the full token. Only the whole token is a safe key:
 * keyed on the signature alone, a forged payload carrying a known signature would hit the cache.
 * The 43-character digest instead of the ~600-character token saves over half a kilobyte per
 * cached caller (about 55 MB at 100,000). The digests of the most recent tokens are remembered by
 * the token itself (a Map lookup instead of SHA-256 over ten blocks: about 20,000 of a hot
 * request's 290,000 instructions, counted by callgrind), a bounded memo of a pure function that
 * holds no identity and so needs no invalidation.
 */
export type IdentityCache = {
  /** The token's cache key, computed once per request for both `get` and `set`. */
  keyOf(token: string): string
  /** The cached identity; it is deeply frozen because every request carrying the token shares it. */
  get(key: string): Identity | undefined
  /** Taken before verifying; passed to `set`. */
  generation(): number
  /**
   * Caches until `notAfterMs` (epoch ms) at the latest, so an entry never outlives its token.
   * Skipped when an eviction happened since `generation` was taken: a verification that raced a
   * revocation must not put the revoked user back.
   */
  set(key: string, identity: Identity, notAfterMs: number, generation: number): void
  evictUser(userId: string): void
  clear(): void
}

export function createIdentityCache(options: { maxEntries: number; ttlMs: number; events?: CacheEvents }): IdentityCache {
  const cache = createGuardedCache<Identity>({ ...options, tagsOf: userTags })
  return {
    keyOf: memoizeRecent(digestOf, RECENT_TOKENS),
    get: (key) => cache.get(key),
    generation: () => cache.generation(),
    set(key, identity, notAfterMs, generation) {
      cache.set(key, deepFreeze(identity), { generation, ttlMs: notAfterMs - Date.now() })
    },
    evictUser: (userId) => cache.evict([userId]),
    clear: () => cache.clear(),
  }
}

const NO_TAGS: readonly string[] = Object.freeze([])

function userTags(identity: Identity): readonly string[] {
  const userId = identity.user?.userId
  return userId === undefined ? NO_TAGS : [userId]
}

/** Tokens whose digests are remembered (from a token's second request on): 2 × 1,024 at most, about 1.5 MB of token strings. */
const RECENT_TOKENS = 1024

function digestOf(token: string): string {
  return hash('sha256', token, 'base64url')
}
