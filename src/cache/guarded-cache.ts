import { LRUCache } from 'lru-cache'
import { noMetrics } from '../metrics/index.ts'
import type { CacheEvents } from '../metrics/index.ts'

/**
 * A bounded ttl cache of answers read from somewhere slower (the store, a token's signature),
 * evicted by tag when what they were read from changes. It closes the race between a read and an
 * eviction: a read that was in flight when an eviction happened may carry the state from before
 * the change, so its answer is not cached (`set` is skipped). The caller takes `generation()`
 * before it starts reading and hands it to `set`.
 *
 * The generation is one counter for the whole cache rather than one per tag: an eviction of any
 * tag makes every read in flight uncacheable. That costs one more read for the few answers that
 * were in flight during an admin change, and spares working out which tags an answer will carry
 * before it is read.
 */
export type GuardedCache<V> = {
  get(key: string): V | undefined
  /** Taken before reading; passed to `set`. */
  generation(): number
  /**
   * Caches `value` under `key` for `ttlMs` (capped at the cache's ttl), findable by each of its
   * tags. Skipped when an eviction happened since `generation` was taken, or when `ttlMs < 1`.
   */
  set(key: string, value: V, options: { generation: number; ttlMs?: number }): void
  delete(key: string): void
  /** Deletes every entry carrying any of `tags`, and makes every read in flight uncacheable. */
  evict(tags: readonly string[]): void
  clear(): void
}

export function createGuardedCache<V extends object>(options: {
  maxEntries: number
  ttlMs: number
  /**
   * The tags an entry is found by, read from its value whenever it is indexed or unindexed: a
   * value carries them (or what they are made of) already, so the cache keeps no list of its own
   * per entry (a map entry and an array, ~100 bytes each of 100,000 cached tokens).
   */
  tagsOf(value: V): readonly string[]
  /** Told of every lookup and of entries removed before their ttl. */
  events?: CacheEvents
}): GuardedCache<V> {
  const { tagsOf } = options
  const events = options.events ?? noMetrics.cache('token')
  // One key for the usual tag held by a single entry (a user's one token), a set only beyond that.
  const keysByTag = new Map<string, string | Set<string>>()
  let evictions = 0

  function unindex(key: string, value: V): void {
    for (const tag of tagsOf(value)) {
      const keys = keysByTag.get(tag)
      if (keys === key || (typeof keys === 'object' && keys.delete(key) && keys.size === 0)) keysByTag.delete(tag)
    }
  }

  const cache = new LRUCache<string, V>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    dispose(value, key, reason) {
      unindex(key, value)
      if (reason === 'evict') events.evicted('capacity', 1)
    },
  })

  return {
    get(key) {
      const value = cache.get(key)
      if (value === undefined) events.miss()
      else events.hit()
      return value
    },
    generation: () => evictions,
    set(key, value, { generation, ttlMs = options.ttlMs }) {
      const ttl = Math.floor(Math.min(options.ttlMs, ttlMs))
      if (ttl < 1 || generation !== evictions) return
      // Indexed after the set: replacing an entry disposes the old one, which unindexes the key.
      cache.set(key, value, { ttl })
      for (const tag of tagsOf(value)) {
        const keys = keysByTag.get(tag)
        if (keys === undefined || keys === key) keysByTag.set(tag, key)
        else if (typeof keys === 'string') keysByTag.set(tag, new Set([keys, key]))
        else keys.add(key)
      }
    },
    delete: (key) => void cache.delete(key),
    evict(tags) {
      evictions++
      let removed = 0
      for (const tag of tags) {
        const keys = keysByTag.get(tag)
        for (const key of typeof keys === 'string' ? [keys] : [...(keys ?? [])]) if (cache.delete(key)) removed++
      }
      if (removed > 0) events.evicted('invalidated', removed)
    },
    clear: () => cache.clear(),
  }
}
