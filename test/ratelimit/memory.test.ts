import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createMemoryLimiter } from '../../src/ratelimit/index.ts'
import type { RateSpec } from '../../src/units/index.ts'

const perMinute: RateSpec = { limit: 100, windowMs: 60_000, text: '100/1m' }
const T0 = 1_700_000_000_000

describe('memory limiter (GCRA)', () => {
  it('lets a fresh key do exactly `limit` requests at once, then denies', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 100; i++) {
      const d = limiter.takeAll([{ key: 'user:1', spec: perMinute, name: 'user' }], T0)[0]!
      assert.equal(d.allowed, true, `request ${i + 1}`)
      assert.equal(d.remaining, 99 - i)
    }
    const denied = limiter.takeAll([{ key: 'user:1', spec: perMinute, name: 'user' }], T0)[0]!
    assert.equal(denied.allowed, false)
    assert.equal(denied.remaining, 0)
  })

  it('is exact for a limit that does not divide the window', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 7, windowMs: 1000, text: '7/s' }
    let allowed = 0
    for (let i = 0; i < 20; i++) if (limiter.takeAll([{ key: 'k', spec, name: 'k' }], T0)[0]!.allowed) allowed++
    assert.equal(allowed, 7)
  })

  it('recovers one request per emission interval, and the full budget after the window', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 100; i++) limiter.takeAll([{ key: 'k', spec: perMinute, name: 'user' }], T0)
    // T = 60 s / 100 = 600 ms
    assert.equal(limiter.takeAll([{ key: 'k', spec: perMinute, name: 'user' }], T0 + 599)[0]!.allowed, false)
    const one = limiter.takeAll([{ key: 'k', spec: perMinute, name: 'user' }], T0 + 600)[0]!
    assert.equal(one.allowed, true)
    assert.equal(one.remaining, 0)
    assert.equal(limiter.takeAll([{ key: 'k', spec: perMinute, name: 'user' }], T0 + 600)[0]!.allowed, false)
    const full = limiter.takeAll([{ key: 'k', spec: perMinute, name: 'user' }], T0 + 600 + 60_000)[0]!
    assert.equal(full.remaining, 99)
  })

  it('reports wait, retry-after and reset', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 2, windowMs: 10_000, text: '2/10s' }
    const first = limiter.takeAll([{ key: 'k', spec, name: 'route' }], T0)[0]!
    assert.deepEqual(
      { retryAfter: first.retryAfterSeconds, wait: first.waitSeconds, reset: first.resetSeconds },
      { retryAfter: 0, wait: 0, reset: 5 },
    )
    limiter.takeAll([{ key: 'k', spec, name: 'route' }], T0)
    const denied = limiter.takeAll([{ key: 'k', spec, name: 'route' }], T0 + 1500)[0]!
    assert.equal(denied.allowed, false)
    assert.equal(denied.waitSeconds, 3.5)
    assert.equal(denied.retryAfterSeconds, 4)
    assert.equal(denied.resetSeconds, 9)
    assert.equal(denied.name, 'route')
    assert.equal(denied.policy, spec)
    assert.equal(limiter.takeAll([{ key: 'k', spec, name: 'route' }], T0 + 5000)[0]!.allowed, true)
  })

  it('rounds a sub-second wait up to one second of Retry-After', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 10, windowMs: 1000, text: '10/s' }
    for (let i = 0; i < 10; i++) limiter.takeAll([{ key: 'k', spec, name: 'user' }], T0)
    const denied = limiter.takeAll([{ key: 'k', spec, name: 'user' }], T0 + 50)[0]!
    assert.equal(denied.waitSeconds, 0.05)
    assert.equal(denied.retryAfterSeconds, 1)
  })

  it('does not charge denied requests', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 1, windowMs: 1000, text: '1/s' }
    limiter.takeAll([{ key: 'k', spec, name: 'user' }], T0)
    for (let i = 0; i < 50; i++) limiter.takeAll([{ key: 'k', spec, name: 'user' }], T0 + 500)
    assert.equal(limiter.takeAll([{ key: 'k', spec, name: 'user' }], T0 + 1000)[0]!.allowed, true)
  })

  it('keeps keys independent', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const spec: RateSpec = { limit: 1, windowMs: 1000, text: '1/s' }
    assert.equal(limiter.takeAll([{ key: 'a', spec, name: 'user' }], T0)[0]!.allowed, true)
    assert.equal(limiter.takeAll([{ key: 'a', spec, name: 'user' }], T0)[0]!.allowed, false)
    assert.equal(limiter.takeAll([{ key: 'b', spec, name: 'user' }], T0)[0]!.allowed, true)
  })

  it('tracks at most maxTracked keys', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 10_000; i++) limiter.takeAll([{ key: `user:${i}`, spec: perMinute, name: 'user' }], T0)
    assert.ok(limiter.size() <= 1000, `size ${limiter.size()}`)
  })
})

describe('memory limiter takeAll (one decision over all of a request’s budgets)', () => {
  const user: RateSpec = { limit: 3, windowMs: 60_000, text: '3/1m' }
  const route: RateSpec = { limit: 1, windowMs: 60_000, text: '1/1m' }
  const onRoute = [
    { key: 'user:1', spec: user, name: 'user' },
    { key: 'route:0:user:1', spec: route, name: 'route' },
  ]
  const elsewhere = [{ key: 'user:1', spec: user, name: 'user' }]

  it('charges every budget when all admit, synchronously', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const two: RateSpec = { limit: 2, windowMs: 60_000, text: '2/1m' }
    const both = [
      { key: 'a', spec: two, name: 'user' },
      { key: 'b', spec: user, name: 'org' },
    ]
    const first = limiter.takeAll(both, T0)
    assert.ok(Array.isArray(first), 'a plain array, no promise')
    assert.deepEqual(
      first.map((d) => [d.name, d.allowed, d.remaining]),
      [
        ['user', true, 1],
        ['org', true, 2],
      ],
    )
    assert.deepEqual(
      limiter.takeAll(both, T0).map((d) => d.remaining),
      [0, 1],
    )
    assert.deepEqual(
      limiter.takeAll(both, T0).map((d) => d.allowed),
      [false, true],
    )
  })

  it('charges none of the budgets when one refuses, and reports the others uncharged', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const admitted = limiter.takeAll(onRoute, T0)
    assert.deepEqual(
      admitted.map((d) => [d.allowed, d.remaining, d.resetSeconds]),
      [
        [true, 2, 20],
        [true, 0, 60],
      ],
    )
    const refused = limiter.takeAll(onRoute, T0 + 1000)
    // The user budget stands where the first request left it (19 s of debt, 2 remaining), the route
    // budget waits out the rest of its minute.
    assert.deepEqual(
      refused.map((d) => [d.name, d.allowed, d.remaining, d.resetSeconds, d.waitSeconds]),
      [
        ['user', true, 2, 19, 0],
        ['route', false, 0, 59, 59],
      ],
    )
    assert.equal(limiter.takeAll(elsewhere, T0 + 1000)[0]!.remaining, 1, 'the refused request spent none of the user budget')
  })

  it('reports a fresh budget it did not charge as full', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    limiter.takeAll([{ key: 'route:0:user:2', spec: route, name: 'route' }], T0)
    const [fresh, refused] = limiter.takeAll(
      [
        { key: 'user:2', spec: user, name: 'user' },
        { key: 'route:0:user:2', spec: route, name: 'route' },
      ],
      T0,
    )
    assert.deepEqual([fresh!.allowed, fresh!.remaining, fresh!.resetSeconds], [true, 3, 0])
    assert.equal(refused!.allowed, false)
  })

  it('user 3/1m and route 1/1m: the route’s 429s leave the user two requests elsewhere', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const passed = (budgets: typeof onRoute) => limiter.takeAll(budgets, T0).every((d) => d.allowed)
    assert.deepEqual([passed(onRoute), passed(onRoute), passed(onRoute)], [true, false, false])
    assert.deepEqual([passed(elsewhere), passed(elsewhere), passed(elsewhere)], [true, true, false])
  })

  it('decides no budgets as an empty list', () => {
    assert.deepEqual(createMemoryLimiter({ maxTracked: 10 }).takeAll([], T0), [])
  })

  it('peekAll answers what takeAll would, and charges nothing', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 5; i++) assert.deepEqual(limiter.peekAll(onRoute, T0), limiter.peekAll(onRoute, T0))
    const peeked = limiter.peekAll(onRoute, T0)
    assert.deepEqual(limiter.takeAll(onRoute, T0), peeked)
    assert.deepEqual(
      limiter.peekAll(onRoute, T0).map((d) => d.allowed),
      [true, false],
    )
    assert.equal(limiter.takeAll(elsewhere, T0)[0]!.remaining, 1, 'only the one take spent the user budget')
  })
})
