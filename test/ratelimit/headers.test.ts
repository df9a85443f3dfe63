import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createMemoryLimiter, rateLimitHeaders } from '../../src/ratelimit/index.ts'
import type { RateSpec } from '../../src/units/index.ts'

const T0 = 1_700_000_000_000
const user: RateSpec = { limit: 600, windowMs: 60_000, text: '600/1m' }
const route: RateSpec = { limit: 100, windowMs: 60_000, text: '100/1m' }

describe('rateLimitHeaders', () => {
  it('describes a single allowing policy, without Retry-After', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const d = limiter.takeAll([{ key: 'u', spec: route, name: 'route' }], T0)[0]!
    assert.deepEqual(rateLimitHeaders([d]), {
      'RateLimit-Policy': '"route";q=100;w=60',
      RateLimit: '"route";r=99;t=1',
    })
  })

  it('lists every policy and reports the most restrictive, with Retry-After on denial', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    for (let i = 0; i < 100; i++) limiter.takeAll([{ key: 'r', spec: route, name: 'route' }], T0)
    const u = limiter.takeAll([{ key: 'u', spec: user, name: 'user' }], T0)[0]!
    const r = limiter.takeAll([{ key: 'r', spec: route, name: 'route' }], T0 + 200)[0]!
    assert.equal(r.allowed, false)
    assert.deepEqual(rateLimitHeaders([u, r]), {
      'RateLimit-Policy': '"user";q=600;w=60, "route";q=100;w=60',
      // 100 requests at T0 owe 60 s; 0.2 s later 59.8 s remain, and the next cell frees in 0.4 s
      RateLimit: '"route";r=0;t=60',
      'Retry-After': '1',
    })
  })

  it('prefers the denying policy among equally exhausted ones', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const one: RateSpec = { limit: 1, windowMs: 1000, text: '1/s' }
    const lastOne = limiter.takeAll([{ key: 'a', spec: { limit: 1, windowMs: 60_000, text: '1/1m' }, name: 'user' }], T0)[0]!
    limiter.takeAll([{ key: 'b', spec: one, name: 'route' }], T0)
    const denied = limiter.takeAll([{ key: 'b', spec: one, name: 'route' }], T0)[0]!
    assert.equal(lastOne.remaining, 0)
    const headers = rateLimitHeaders([lastOne, denied])
    assert.equal(headers.RateLimit, '"route";r=0;t=1')
    assert.equal(headers['Retry-After'], '1')
  })

  it('rounds a sub-second window up to one second', () => {
    const limiter = createMemoryLimiter({ maxTracked: 1000 })
    const d = limiter.takeAll([{ key: 'k', spec: { limit: 5, windowMs: 500, text: '5/500ms' }, name: 'user' }], T0)[0]!
    assert.equal(rateLimitHeaders([d])['RateLimit-Policy'], '"user";q=5;w=1')
  })

  it('returns no headers for no policy', () => {
    assert.deepEqual(rateLimitHeaders([]), {})
  })
})
