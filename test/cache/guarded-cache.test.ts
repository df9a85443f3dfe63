import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createGuardedCache } from '../../src/cache/index.ts'

// The cache reads an entry's tags from its value.
type Entry = { v: number; tags: readonly string[] }
const entry = (v: number, ...tags: string[]): Entry => ({ v, tags })
const tagsOf = (e: Entry) => e.tags

describe('createGuardedCache', () => {
  it('skips a set whose read began before an eviction, and caches one that began after', () => {
    const cache = createGuardedCache<Entry>({ maxEntries: 10, ttlMs: 60_000, tagsOf })
    const before = cache.generation()
    cache.evict(['user:u1'])
    cache.set('a', entry(1, 'user:u1'), { generation: before })
    assert.equal(cache.get('a'), undefined)
    cache.set('a', entry(2, 'user:u1'), { generation: cache.generation() })
    assert.equal(cache.get('a')?.v, 2)
  })

  it('evicts every entry carrying any of the tags, and only those', () => {
    const cache = createGuardedCache<Entry>({ maxEntries: 10, ttlMs: 60_000, tagsOf })
    const g = cache.generation()
    cache.set('a', entry(1, 'key:1', 'user:u1'), { generation: g })
    cache.set('b', entry(2, 'key:2', 'user:u1'), { generation: g })
    cache.set('c', entry(3, 'key:3', 'user:u2'), { generation: g })
    cache.set('r', entry(0, 'refused'), { generation: g })
    cache.evict(['user:u1', 'refused'])
    assert.deepEqual(
      ['a', 'b', 'c', 'r'].map((k) => cache.get(k)?.v),
      [undefined, undefined, 3, undefined],
    )
  })

  it('unindexes a replaced entry: its old tags no longer evict it', () => {
    const cache = createGuardedCache<Entry>({ maxEntries: 10, ttlMs: 60_000, tagsOf })
    cache.set('a', entry(1, 'org:o1'), { generation: cache.generation() })
    cache.set('a', entry(2, 'org:o2'), { generation: cache.generation() })
    cache.evict(['org:o1'])
    assert.equal(cache.get('a')?.v, 2)
    cache.evict(['org:o2'])
    assert.equal(cache.get('a'), undefined)
  })

  it('unindexes an entry dropped for capacity: its tag evicts nothing any more', () => {
    let invalidated = 0
    const events = {
      hit() {},
      miss() {},
      evicted: (why: 'invalidated' | 'capacity', n: number) => void (why === 'invalidated' && (invalidated += n)),
    }
    const cache = createGuardedCache<Entry>({ maxEntries: 1, ttlMs: 60_000, tagsOf, events })
    cache.set('a', entry(1, 'user:u1'), { generation: cache.generation() })
    cache.set('b', entry(2, 'user:u2'), { generation: cache.generation() })
    cache.evict(['user:u1'])
    assert.equal(invalidated, 0)
    cache.evict(['user:u2'])
    assert.equal(invalidated, 1)
    assert.equal(cache.get('b'), undefined)
  })

  it('never caches for longer than the cache ttl, and not at all below 1 ms', async () => {
    const cache = createGuardedCache<Entry>({ maxEntries: 10, ttlMs: 30, tagsOf })
    cache.set('a', entry(1), { generation: cache.generation(), ttlMs: 60_000 })
    cache.set('b', entry(1), { generation: cache.generation(), ttlMs: 0.5 })
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
    const cache = createGuardedCache<Entry>({ maxEntries: 2, ttlMs: 60_000, tagsOf, events })
    cache.set('a', entry(1, 'user:u1'), { generation: cache.generation() })
    cache.set('b', entry(1, 'user:u1'), { generation: cache.generation() })
    cache.set('b', entry(2, 'user:u1'), { generation: cache.generation() })
    cache.get('a')
    cache.get('zz')
    cache.set('c', entry(1), { generation: cache.generation() })
    cache.delete('c')
    assert.deepEqual(seen, { hit: 1, miss: 1, invalidated: 0, capacity: 1 })
    cache.evict(['user:u1', 'user:nobody'])
    assert.deepEqual(seen, { hit: 1, miss: 1, invalidated: 1, capacity: 1 })
  })
})
