import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createGuardedCache } from '../../src/cache/index.ts'

describe('createGuardedCache', () => {
  it('skips a set whose read began before an eviction, and caches one that began after', () => {
    const cache = createGuardedCache<{ v: number }>({ maxEntries: 10, ttlMs: 60_000 })
    const before = cache.generation()
    cache.evict(['user:u1'])
    cache.set('a', { v: 1 }, { tags: ['user:u1'], generation: before })
    assert.equal(cache.get('a'), undefined)
    cache.set('a', { v: 2 }, { tags: ['user:u1'], generation: cache.generation() })
    assert.deepEqual(cache.get('a'), { v: 2 })
  })

  it('evicts every entry carrying any of the tags, and only those', () => {
    const cache = createGuardedCache<{ v: number }>({ maxEntries: 10, ttlMs: 60_000 })
    const g = cache.generation()
    cache.set('a', { v: 1 }, { tags: ['key:1', 'user:u1'], generation: g })
    cache.set('b', { v: 2 }, { tags: ['key:2', 'user:u1'], generation: g })
    cache.set('c', { v: 3 }, { tags: ['key:3', 'user:u2'], generation: g })
    cache.set('r', { v: 0 }, { tags: ['refused'], generation: g })
    cache.evict(['user:u1', 'refused'])
    assert.deepEqual(
      ['a', 'b', 'c', 'r'].map((k) => cache.get(k)?.v),
      [undefined, undefined, 3, undefined],
    )
  })

  it('unindexes a replaced entry: its old tags no longer evict it', () => {
    const cache = createGuardedCache<{ v: number }>({ maxEntries: 10, ttlMs: 60_000 })
    cache.set('a', { v: 1 }, { tags: ['org:o1'], generation: cache.generation() })
    cache.set('a', { v: 2 }, { tags: ['org:o2'], generation: cache.generation() })
    cache.evict(['org:o1'])
    assert.equal(cache.get('a')?.v, 2)
    cache.evict(['org:o2'])
    assert.equal(cache.get('a'), undefined)
  })

  it('never caches for longer than the cache ttl, and not at all below 1 ms', async () => {
    const cache = createGuardedCache<{ v: number }>({ maxEntries: 10, ttlMs: 30 })
    cache.set('a', { v: 1 }, { tags: [], generation: cache.generation(), ttlMs: 60_000 })
    cache.set('b', { v: 1 }, { tags: [], generation: cache.generation(), ttlMs: 0.5 })
    assert.equal(cache.get('b'), undefined)
    assert.equal(cache.get('a')?.v, 1)
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(cache.get('a'), undefined)
  })

  it('reports hits, misses, invalidations and capacity evictions, and neither a replaced nor a deleted entry', () => {
    const seen = { hit: 0, miss: 0, invalidated: 0, capacity: 0 }
    const events = {
      hit: () => void seen.hit++,
      miss: () => void seen.miss++,
      evicted: (why: 'invalidated' | 'capacity', count: number) => void (seen[why] += count),
    }
    const cache = createGuardedCache<{ v: number }>({ maxEntries: 2, ttlMs: 60_000, events })
    cache.set('a', { v: 1 }, { tags: ['user:u1'], generation: cache.generation() })
    cache.set('b', { v: 1 }, { tags: ['user:u1'], generation: cache.generation() })
    cache.set('b', { v: 2 }, { tags: ['user:u1'], generation: cache.generation() })
    cache.get('a')
    cache.get('zz')
    cache.set('c', { v: 1 }, { tags: [], generation: cache.generation() })
    cache.delete('c')
    assert.deepEqual(seen, { hit: 1, miss: 1, invalidated: 0, capacity: 1 })
    cache.evict(['user:u1', 'user:nobody'])
    assert.deepEqual(seen, { hit: 1, miss: 1, invalidated: 1, capacity: 1 })
  })
})
