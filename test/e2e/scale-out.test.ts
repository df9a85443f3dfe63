import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { serviceUrl, startRedisServer } from '../support/services.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import type { TcpProxy } from '../support/tcp-proxy.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'
const postgres = serviceUrl('POSTGRES')
const redis = serviceUrl('REDIS')

describe('two replicas sharing PostgreSQL and Redis', { skip: postgres.skip ?? redis.skip }, () => {
  let upstream: TestUpstream
  let redisServer: Awaited<ReturnType<typeof startRedisServer>>
  let pgProxy: TcpProxy
  let a: TestGateway
  let b: TestGateway
  const schema = `gh_scale_${randomBytes(4).toString('hex')}`

  before(async () => {
    upstream = await startUpstream()
    // Its own redis-server, so the test may stop it; PostgreSQL behind a proxy the test may cut.
    redisServer = await startRedisServer()
    const target = new URL(postgres.url!)
    pgProxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    target.host = `127.0.0.1:${pgProxy.port}`
    target.searchParams.set('schema', schema)
    const config = {
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: target.href },
      redis: { url: redisServer.url, timeout: '100ms' },
      api_keys: { cache: { ttl: '30s' } },
      rate_limits: { user: '20/1m' },
      routes: [{ path: '/api/*', auth: 'user' }],
    }
    ;[a, b] = await Promise.all([startGateway(config), startGateway(config)])
  })

  after(async () => {
    await a?.close()
    await b?.close()
    await redisServer?.stop()
    await pgProxy?.close()
    await upstream?.close()
    const client = new pg.Client({ connectionString: postgres.url })
    await client.connect()
    await client.query(`drop schema if exists ${schema} cascade`)
    await client.end()
  })

  const apiA = () => adminClient(() => a.adminUrl, ADMIN_KEY)
  const call = async (gateway: TestGateway, secret: string) =>
    (await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': secret } })).status

  async function newKey(): Promise<{ userId: string; id: string; secret: string }> {
    const api = apiA()
    const user = await api('POST', '/v1/users', { email: `${randomBytes(4).toString('hex')}@example.com` })
    const key = await api('POST', '/v1/api_keys', { user_id: user.body.user_id })
    assert.equal(key.status, 201, JSON.stringify(key.body))
    return { userId: String(user.body.user_id), id: String(key.body.api_key_id), secret: String(key.body.api_key_token) }
  }

  it('a key created on A validates on B', async () => {
    const key = await newKey()
    assert.equal(await call(b, key.secret), 200)
    assert.equal(upstream.last().headers['x-gatehouse-api-key-id'], key.id)
  })

  it('one user hammering A and B together is admitted exactly within the shared limit', async () => {
    const key = await newKey()
    // 40 concurrent requests, half to each replica, against a 20/1m user budget. Redis decides
    // each atomically, so the tolerance is zero: exactly 20 pass.
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => call(i % 2 ? a : b, key.secret)))
    assert.equal(statuses.filter((s) => s === 200).length, 20)
    assert.equal(statuses.filter((s) => s === 429).length, 20)
  })

  it('a key archived on A is refused by B, which had it cached, within 1 s', async () => {
    const key = await newKey()
    assert.equal(await call(b, key.secret), 200)
    assert.equal((await apiA()('POST', `/v1/api_keys/${key.id}/archive`, { reason: 'leaked' })).status, 200)
    const archivedAt = Date.now()
    let status = 200
    while (status === 200 && Date.now() - archivedAt < 3000) {
      status = await call(b, key.secret)
      if (status === 200) await new Promise((r) => setTimeout(r, 20))
    }
    const took = Date.now() - archivedAt
    console.log(`# B refused the archived key ${took} ms after A archived it`)
    assert.equal(status, 401)
    assert.ok(took <= 1000, `took ${took} ms`)
  })

  it('Redis stopped mid-run: limits fall back to each replica, then come back by themselves', async () => {
    const key = await newKey()
    assert.equal(await call(a, key.secret), 200)
    await redisServer.stop()
    const started = Date.now()
    assert.equal(await call(a, key.secret), 200, 'requests keep flowing on the local limiter')
    assert.ok(Date.now() - started < 2000)
    const ready = (await (await fetch(`${a.adminUrl}/readyz`)).json()) as { checks: { redis: { detail: { rate_limits: string } } } }
    assert.equal(ready.checks.redis.detail.rate_limits, 'fallback')
    assert.ok(
      a.logs.some((l) => /Redis unavailable/.test(String(l.msg))),
      'logged once',
    )

    redisServer = await startRedisServer(redisServer.port)
    let state = 'fallback'
    for (let i = 0; i < 60 && state !== 'redis'; i++) {
      await new Promise((r) => setTimeout(r, 200))
      await call(a, key.secret)
      state = ((await (await fetch(`${a.adminUrl}/readyz`)).json()) as { checks: { redis: { detail: { rate_limits: string } } } }).checks
        .redis.detail.rate_limits
    }
    assert.equal(state, 'redis')
  })

  it('PostgreSQL unreachable: cached identities work, uncached get 503, admin writes 503; recovery needs no restart', async () => {
    const cached = await newKey()
    const uncached = await newKey()
    assert.equal(await call(a, cached.secret), 200)
    pgProxy.cut()
    try {
      assert.equal(await call(a, cached.secret), 200, 'a cached key keeps working')
      assert.equal(await call(a, uncached.secret), 503, 'an uncached key cannot be checked: 503, not 401 or 200')
      const write = await apiA()('POST', '/v1/users', { email: 'during-outage@example.com' })
      assert.equal(write.status, 503)
    } finally {
      pgProxy.heal()
    }
    let status = 503
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await call(a, uncached.secret)
      if (status !== 200) await new Promise((r) => setTimeout(r, 200))
    }
    assert.equal(status, 200, 'recovered without a restart')
    const lookup = await apiA()('GET', '/v1/users/email/during-outage@example.com')
    assert.equal(lookup.status, 404, 'the refused write left nothing behind')
  })
})
