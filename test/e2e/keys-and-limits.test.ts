import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { redisUnavailable } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const redisReason = await redisUnavailable('the Redis-backed refused-request test')

describe('token keys, assertion and rate limits through the real gateway', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  let gateway: TestGateway

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: {
        jwks: { cooldown: '1s', refresh: '10m', timeout: '2s' },
        issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }],
      },
      rate_limits: { user: '1000/1m', org: '4/1m' },
      identity: { assertion: { audience: 'my-upstream', ttl: '2m' } },
      routes: [
        { path: '/limited', auth: 'user', rate_limit: '3/1m' },
        { path: '/org/:org_id/x', auth: 'org_member' },
        { path: '/api/*', auth: 'user' },
      ],
    })
    // The gateway fetches the JWKS at start; wait until it reports ready.
    for (let i = 0; i < 50; i++) {
      if ((await fetch(`${gateway.adminUrl}/readyz`)).status === 200) break
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await upstream.close()
  })

  const call = (path: string, token: string) => fetch(gateway.url + path, { headers: { authorization: `Bearer ${token}` } })

  it('admin listener serves healthz, readyz and the assertion JWKS', async () => {
    assert.deepEqual(await (await fetch(`${gateway.adminUrl}/healthz`)).json(), { status: 'ok' })
    const ready = await fetch(`${gateway.adminUrl}/readyz`)
    assert.equal(ready.status, 200)
    const jwks = (await (await fetch(`${gateway.adminUrl}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] }
    assert.equal(jwks.keys.length, 1)
    assert.equal(jwks.keys[0]!.d, undefined, 'no private member is published')
  })

  it('the assertion verifies with jose against the published JWKS and carries the identity', async () => {
    const token = await issuer.sign(propelauthClaims('u-assert', { 'org-a': { role: 'Admin', permissions: ['p1'] } }))
    assert.equal((await call('/org/org-a/x', token)).status, 200)
    const assertion = String(upstream.last().headers['x-gatehouse-assertion'])
    const { payload, protectedHeader } = await jwtVerify(
      assertion,
      createRemoteJWKSet(new URL(`${gateway.adminUrl}/.well-known/jwks.json`)),
      {
        issuer: 'gatehouse',
        audience: 'my-upstream',
        algorithms: ['ES256'],
      },
    )
    assert.equal(protectedHeader.alg, 'ES256')
    assert.ok(protectedHeader.kid)
    assert.equal(payload.sub, 'u-assert')
    assert.ok(payload.exp! - payload.iat! === 120)
    const identity = payload.identity as { user: { userId: string }; activeOrg: { orgId: string; role: string; inheritedRoles: string[] } }
    assert.equal(identity.user.userId, 'u-assert')
    assert.equal(identity.activeOrg.orgId, 'org-a')
    assert.deepEqual(identity.activeOrg.inheritedRoles, ['Admin', 'Member'])
  })

  it('rate limit exhaustion gives 429 with Retry-After, RateLimit headers and wait_seconds', async () => {
    const token = await issuer.sign(propelauthClaims('u-limited'))
    for (let i = 0; i < 3; i++) {
      const res = await call('/limited', token)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('ratelimit-policy') ?? '', /"route";q=3;w=60/)
      assert.match(res.headers.get('ratelimit') ?? '', new RegExp(`"route";r=${2 - i};t=\\d+`))
    }
    const before = upstream.received.length
    const res = await call('/limited', token)
    assert.equal(res.status, 429)
    assert.equal(upstream.received.length, before, 'a limited request never reaches the upstream')
    assert.ok(Number(res.headers.get('retry-after')) >= 1)
    const body = (await res.json()) as { wait_seconds: number; error_code: string; user_facing_error: string }
    assert.ok(body.wait_seconds > 0 && body.wait_seconds <= 20)
    assert.equal(body.error_code, 'rate_limit_exceeded')
    assert.ok(body.user_facing_error)
    // Another user is not affected: budgets are per caller.
    assert.equal((await call('/limited', await issuer.sign(propelauthClaims('u-other')))).status, 200)
  })

  it('a user budget is shared by all of the user’s tokens; an org budget by all of its members', async () => {
    const a = await issuer.sign(propelauthClaims('u-org-1', { 'org-b': { role: 'Member' } }))
    const b = await issuer.sign(propelauthClaims('u-org-2', { 'org-b': { role: 'Member' } }))
    const statuses = []
    for (const token of [a, b, a, b, a]) statuses.push((await call('/org/org-b/x', token)).status)
    assert.deepEqual(statuses, [200, 200, 200, 200, 429])
    // Only the org's budget is spent: the same users are fine elsewhere.
    assert.equal((await call('/api/x', a)).status, 200)
  })

  it('recovers when the budget refills (GCRA: one request per interval)', async () => {
    const fast = await startGateway({
      upstream: { url: upstream.url },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      routes: [{ path: '/r', auth: 'user', rate_limit: '2/1s' }],
    })
    try {
      const token = await issuer.sign(propelauthClaims('u-recover'))
      const hit = async () => (await fetch(`${fast.url}/r`, { headers: { authorization: `Bearer ${token}` } })).status
      assert.deepEqual([await hit(), await hit(), await hit()], [200, 200, 429])
      await new Promise((r) => setTimeout(r, 1100))
      assert.equal(await hit(), 200)
    } finally {
      await fast.close()
    }
  })

  /** user 3/1m and a route 1/1m: the route's 429s must not spend the user's budget. */
  async function refusedRequestSpendsNothing(redis?: Redis): Promise<void> {
    const prefix = `gh:test:e2e:${randomUUID()}:`
    const gw = await startGateway({
      upstream: { url: upstream.url },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      rate_limits: { user: '3/1m' },
      routes: [
        { path: '/once', auth: 'user', rate_limit: '1/1m' },
        { path: '/free', auth: 'user' },
      ],
      ...(redis && { redis: { url: process.env.GATEHOUSE_TEST_REDIS_URL, key_prefix: prefix, timeout: '1s' } }),
    })
    const hit = async (userId: string, path: string) => {
      const res = await fetch(gw.url + path, { headers: { authorization: `Bearer ${await issuer.sign(propelauthClaims(userId))}` } })
      await res.arrayBuffer()
      return { status: res.status, ratelimit: res.headers.get('ratelimit') }
    }
    const inRedis = async (userId: string) => (await redis!.exists(`${prefix}rl:user:${userId}`)) === 1
    try {
      if (redis) {
        // Start waits for the Redis connection: the very first decision lands in Redis.
        const warmUser = `u-warm-${randomUUID()}`
        await hit(warmUser, '/free')
        assert.ok(await inRedis(warmUser), 'the gateway decides on Redis from its first request')
      }
      const user = `u-refused-${randomUUID()}`
      const once = [await hit(user, '/once'), await hit(user, '/once'), await hit(user, '/once')]
      assert.deepEqual(
        once.map((r) => r.status),
        [200, 429, 429],
      )
      const free = [await hit(user, '/free'), await hit(user, '/free'), await hit(user, '/free')]
      assert.deepEqual(
        free.map((r) => r.status),
        [200, 200, 429],
        'two requests were left of the user budget, and then it is spent',
      )
      assert.match(free[0]!.ratelimit ?? '', /^"user";r=1;/)
      if (redis) {
        assert.ok(await inRedis(user), 'the user budget lives in Redis')
        const ready = (await (await fetch(`${gw.adminUrl}/readyz`)).json()) as { checks: { redis: { detail: { rate_limits: string } } } }
        assert.equal(ready.checks.redis.detail.rate_limits, 'redis', 'no decision came from the fallback')
      }
    } finally {
      await gw.close()
      if (redis) {
        const keys = await redis.keys(`${prefix}*`)
        if (keys.length) await redis.del(...keys)
      }
    }
  }

  it('a request one budget refuses spends none of the others (memory limiter)', () => refusedRequestSpendsNothing())

  it('a request one budget refuses spends none of the others (Redis limiter)', { skip: redisReason }, async () => {
    const redis = new Redis(process.env.GATEHOUSE_TEST_REDIS_URL!)
    try {
      await refusedRequestSpendsNothing(redis)
    } finally {
      redis.disconnect()
    }
  })

  it('JWKS rotation: a token signed by a new key verifies after one refetch', async () => {
    const fetchesBefore = issuer.fetches
    const newKey = await issuer.addKey('ES256')
    const token = await issuer.sign(propelauthClaims('u-rotated'), { key: newKey })
    assert.equal((await call('/api/x', token)).status, 200)
    assert.equal(issuer.fetches, fetchesBefore + 1)
  })

  it('unknown kids refetch at most once per cooldown', async () => {
    await new Promise((r) => setTimeout(r, 1100))
    const fetchesBefore = issuer.fetches
    const stray = await issuer.sign(propelauthClaims('u-x'), { header: { kid: 'no-such-kid' } })
    const responses = await Promise.all([1, 2, 3, 4, 5].map(() => call('/api/x', stray)))
    // The requests that met the refetch learn the kid is absent (401); any that came after it, inside
    // the cooldown, are told to try again (503), as the key might have been published since.
    for (const res of responses) {
      assert.ok(res.status === 401 || (res.status === 503 && Number(res.headers.get('retry-after')) >= 1), String(res.status))
    }
    assert.ok(
      responses.some((res) => res.status === 401),
      'the request that triggered the refetch is 401',
    )
    assert.equal(issuer.fetches, fetchesBefore + 1)
  })

  it('JWKS outage: known keys keep working, a token needing an unknown key gets 503', async () => {
    await new Promise((r) => setTimeout(r, 1100))
    issuer.online = false
    try {
      const known = await issuer.sign(propelauthClaims('u-outage'))
      assert.equal((await call('/api/x', known)).status, 200)
      const unknownKey = await issuer.addKey('ES256')
      const res = await call('/api/x', await issuer.sign(propelauthClaims('u-outage-2'), { key: unknownKey }))
      assert.equal(res.status, 503)
      assert.equal(res.headers.get('content-type'), 'application/problem+json')
    } finally {
      issuer.online = true
    }
  })
})
