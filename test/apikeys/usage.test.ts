import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createUsageCounter, FLUSH_CHUNK } from '../../src/apikeys/usage.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type { Identity } from '../../src/identity/index.ts'
import type { Store } from '../../src/store/index.ts'

const DAY = '2026-03-04'
const NOW = Date.parse(`${DAY}T12:00:00Z`)

/** A real SQLite store whose recordApiKeyUsage calls are seen (their sizes) and can be made to fail. */
async function watchedStore(failCall?: number) {
  const store = await createSqliteStore(':memory:')
  const calls: number[] = []
  const watched: Store = {
    ...store,
    async recordApiKeyUsage(batch) {
      calls.push(batch.length)
      if (calls.length === failCall) throw new Error('store down for this write')
      return store.recordApiKeyUsage(batch)
    },
  }
  return { store, watched, calls }
}

async function createKeys(store: Store, count: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const key = await store.createApiKey({
      type: 'personal',
      user_id: `user-${i % 7}`,
      org_id: null,
      expires_at: null,
      secret_hash: randomBytes(32).toString('hex'),
      display: 'gh_pk_Ab3d',
    })
    ids.push(key.api_key_id)
  }
  return ids
}

const keyIdentity = (apiKeyId: string): Identity =>
  ({
    principal: 'service',
    method: 'api_key',
    orgs: {},
    apiKey: { id: apiKeyId, type: 'personal', scopes: [], metadata: {}, expiresAt: null },
  }) as Identity

describe('usage counter flush', () => {
  it('writes the keys counted in chunks of at most FLUSH_CHUNK, each its own store write, and every count arrives', async () => {
    const { store, watched, calls } = await watchedStore()
    const keys = await createKeys(store, FLUSH_CHUNK * 2 + 17)
    const usage = createUsageCounter({ store: watched, flushMs: 3_600_000, onError: (err) => assert.fail(String(err)) })
    for (const id of keys) for (let n = 0; n < 3; n++) usage.count(keyIdentity(id), NOW)
    await usage.close()
    assert.deepEqual(calls, [FLUSH_CHUNK, FLUSH_CHUNK, 17])
    assert.equal(await store.apiKeyUsage({ date: DAY }), keys.length * 3)
    await store.close()
  })

  it('puts a failed chunk and the rest back for the next flush, without counting the written chunks twice', async () => {
    const { store, watched, calls } = await watchedStore(2)
    const keys = await createKeys(store, FLUSH_CHUNK * 3)
    const errors: unknown[] = []
    const usage = createUsageCounter({ store: watched, flushMs: 3_600_000, onError: (err) => errors.push(err) })
    for (const id of keys) usage.count(keyIdentity(id), NOW)
    await usage.flush()
    assert.equal(errors.length, 1)
    assert.equal(await store.apiKeyUsage({ date: DAY }), FLUSH_CHUNK)
    await usage.close()
    assert.equal(await store.apiKeyUsage({ date: DAY }), keys.length)
    assert.deepEqual(calls, [FLUSH_CHUNK, FLUSH_CHUNK, FLUSH_CHUNK, FLUSH_CHUNK])
    await store.close()
  })
})

describe('usage counter flush and the requests beside it', () => {
  it('lets the event loop run between chunks, so a flush of synchronous writes never holds a request for more than one chunk', async () => {
    const { store, watched } = await watchedStore()
    const keys = await createKeys(store, FLUSH_CHUNK * 3)
    const events: string[] = []
    const sink: Store = {
      ...watched,
      async recordApiKeyUsage(batch) {
        events.push(`chunk of ${batch.length}`)
        return watched.recordApiKeyUsage(batch)
      },
    }
    const usage = createUsageCounter({ store: sink, flushMs: 3_600_000, onError: (err) => assert.fail(String(err)) })
    for (const id of keys) usage.count(keyIdentity(id), NOW)
    const flushed = usage.flush()
    // A request arriving while the flush runs: its callback waits for the event loop's next turn.
    const request = () => setImmediate(() => events.push('request'))
    request()
    setImmediate(request)
    await flushed
    assert.deepEqual(events, ['request', `chunk of ${FLUSH_CHUNK}`, 'request', `chunk of ${FLUSH_CHUNK}`, `chunk of ${FLUSH_CHUNK}`])
    assert.equal(await store.apiKeyUsage({ date: DAY }), keys.length)
    await usage.close()
    await store.close()
  })
})
