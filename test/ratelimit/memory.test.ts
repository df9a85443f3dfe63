import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createMemoryLimiter } from '../../src/ratelimit/index.ts'
import type { RateSpec } from '../../src/config/units.ts'

const perMinute: RateSpec = { limit: 100, windowMs: 60_000, text: '100/1m' }
const T0 = 1_700_000_000_000

describe('memory limiter (GCRA)', () => {
  it('lets a fresh key do exactly `limit` requests at once, then denies', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 100; i++) {
      const d = limiter.take('user:1', perMinute, 'user', T0)
      assert.equal(d.allowed, true, `request ${i + 1}`)
      assert.equal(d.remaining, 99 - i)
    }
    const denied = limiter.take('user:1', perMinute, 'user', T0)
    assert.equal(denied.allowed, false)
    assert.equal(denied.remaining, 0)
  })

  it('is exact for a limit that does not divide the window', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 7, windowMs: 1000, text: '7/s' }
    let allowed = 0
    for (let i = 0; i < 20; i++) if (limiter.take('k', spec, 'k', T0).allowed) allowed++
    assert.equal(allowed, 7)
  })

  it('recovers one request per emission interval, and the full budget after the window', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 100; i++) limiter.take('k', perMinute, 'user', T0)
    // T = 60 s / 100 = 600 ms
    assert.equal(limiter.take('k', perMinute, 'user', T0 + 599).allowed, false)
    const one = limiter.take('k', perMinute, 'user', T0 + 600)
    assert.equal(one.allowed, true)
    assert.equal(one.remaining, 0)
    assert.equal(limiter.take('k', perMinute, 'user', T0 + 600).allowed, false)
    const full = limiter.take('k', perMinute, 'user', T0 + 600 + 60_000)
    assert.equal(full.remaining, 99)
  })

  it('reports wait, retry-after and reset', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 2, windowMs: 10_000, text: '2/10s' }
    const first = limiter.take('k', spec, 'route', T0)
    assert.deepEqual(
      { retryAfter: first.retryAfterSeconds, wait: first.waitSeconds, reset: first.resetSeconds },
      { retryAfter: 0, wait: 0, reset: 5 },
    )
    limiter.take('k', spec, 'route', T0)
    const denied = limiter.take('k', spec, 'route', T0 + 1500)
    assert.equal(denied.allowed, false)
    assert.equal(denied.waitSeconds, 3.5)
    assert.equal(denied.retryAfterSeconds, 4)
    assert.equal(denied.resetSeconds, 9)
    assert.equal(denied.name, 'route')
    assert.equal(denied.policy, spec)
    assert.equal(limiter.take('k', spec, 'route', T0 + 5000).allowed, true)
  })

  it('rounds a sub-second wait up to one second of Retry-After', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 10, windowMs: 1000, text: '10/s' }
    for (let i = 0; i < 10; i++) limiter.take('k', spec, 'user', T0)
    const denied = limiter.take('k', spec, 'user', T0 + 50)
    assert.equal(denied.waitSeconds, 0.05)
    assert.equal(denied.retryAfterSeconds, 1)
  })

  it('does not charge denied requests', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 1, windowMs: 1000, text: '1/s' }
    limiter.take('k', spec, 'user', T0)
    for (let i = 0; i < 50; i++) limiter.take('k', spec, 'user', T0 + 500)
    assert.equal(limiter.take('k', spec, 'user', T0 + 1000).allowed, true)
  })

  it('keeps keys independent', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 1, windowMs: 1000, text: '1/s' }
    assert.equal(limiter.take('a', spec, 'user', T0).allowed, true)
    assert.equal(limiter.take('a', spec, 'user', T0).allowed, false)
    assert.equal(limiter.take('b', spec, 'user', T0).allowed, true)
  })

  it('tracks at most maxTracked keys', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 10_000; i++) limiter.take(`user:${i}`, perMinute, 'user', T0)
    assert.ok(limiter.size() <= 1000, `size ${limiter.size()}`)
  })
})
