import { after, before, describe, it, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { redisUnavailable } from '../support/services.ts'
import { createRedisInvalidationBus, createLocalInvalidationBus } from '../../src/invalidation/index.ts'
import type { InvalidationEvent } from '../../src/invalidation/index.ts'

const url = process.env.GATEHOUSE_TEST_REDIS_URL
const reason = await redisUnavailable('Redis invalidation tests')

test('the local bus publishes to no one', async () => {
  const bus = createLocalInvalidationBus()
  await bus.publish({ kind: 'apikey', apiKeyId: 'k1' })
  await bus.close()
})

function waitFor<T>(what: string, ms: number, arm: (resolve: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)
    arm((v) => {
      clearTimeout(timer)
      resolve(v)
    })
  })
}

describe('redis invalidation bus', { skip: reason }, () => {
  const channel = `gatehouse:test:invalidate:${randomUUID()}`
  const clients: Redis[] = []
  const got: { a: InvalidationEvent[]; b: InvalidationEvent[] } = { a: [], b: [] }
  let onB: ((e: InvalidationEvent) => void) | undefined
  let malformed = 0
  let busA: ReturnType<typeof createRedisInvalidationBus>
  let busB: ReturnType<typeof createRedisInvalidationBus>
  let raw: Redis

  before(async () => {
    const pubA = new Redis(url!)
    const pubB = new Redis(url!)
    raw = new Redis(url!)
    clients.push(pubA, pubA.duplicate(), pubB, pubB.duplicate(), raw)
    busA = createRedisInvalidationBus({ publisher: pubA, subscriber: clients[1]!, channel, onMessage: (e) => got.a.push(e) })
    busB = createRedisInvalidationBus({
      publisher: pubB,
      subscriber: clients[3]!,
      channel,
      onMessage: (e) => {
        got.b.push(e)
        onB?.(e)
      },
      onMalformed: () => malformed++,
    })
    await Promise.all([busA.ready, busB.ready])
  })

  after(async () => {
    await busA?.close()
    await busB?.close()
    for (const c of clients) c.disconnect()
  })

  it('delivers A’s event to B within 1 s, and not back to A', async () => {
    const event = { kind: 'apikey.archived', apiKeyId: 'key_1', userId: 'u1', orgId: 'o1' }
    const start = performance.now()
    const received = waitFor<InvalidationEvent>('event on B', 1000, (resolve) => (onB = resolve))
    await busA.publish(event)
    const e = await received
    const ms = performance.now() - start
    console.log(`invalidation A → B delivered in ${ms.toFixed(1)} ms`)
    assert.ok(ms < 1000)
    assert.deepEqual(e, event)
    // Give A's own echo time to arrive if it were going to; B's delivery shows it has been sent.
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(got.a, [], 'A ignores its own message')
  })

  it('ignores malformed messages and keeps working', async () => {
    const before = got.b.length
    for (const bad of [
      'not json',
      'null',
      '42',
      '{"origin":"x"}',
      '{"origin":"x","event":{"userId":"u"}}',
      '{"origin":"x","event":{"kind":"user","userId":7}}',
      '{"event":{"kind":"user"}}',
    ]) {
      await raw.publish(channel, bad)
    }
    const received = waitFor<InvalidationEvent>('event on B', 1000, (resolve) => (onB = resolve))
    await busA.publish({ kind: 'user.changed', userId: 'u2' })
    assert.deepEqual(await received, { kind: 'user.changed', userId: 'u2' })
    assert.equal(got.b.length, before + 1, 'only the well-formed event reached B')
    assert.equal(malformed, 7)
    // A well-formed message from another process (not A, not B) also reaches B.
    const third = waitFor<InvalidationEvent>('event on B', 1000, (resolve) => (onB = resolve))
    await raw.publish(channel, JSON.stringify({ origin: 'elsewhere', event: { kind: 'org.changed', orgId: 'o9' } }))
    assert.deepEqual(await third, { kind: 'org.changed', orgId: 'o9' })
  })
})
