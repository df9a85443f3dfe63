import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { WebSocket, WebSocketServer } from 'ws'
import { StoreUnavailableError } from '../../src/store/index.ts'
import { scrape } from '../support/prometheus.ts'
import type { Scrape } from '../support/prometheus.ts'
import { redisUnavailable } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'
// Like every suite that needs Redis: a printed reason without it, a failure under GATEHOUSE_REQUIRE_SERVICES=1.
const redisReason = await redisUnavailable('the Redis limiter metrics test')
const USER_ID = 'u-metrics-7f3a9c'

describe('/metrics through the real gateway', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  let gateway: TestGateway
  let token: string
  let keySecret: string
  let keyUserId: string
  let metrics: Scrape

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
    gateway = await startGateway({
      server: { listen: '127.0.0.1:0', shutdown_timeout: '2s', trust_proxy: ['127.0.0.1'] },
      forward_auth: { enabled: true },
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url, timeout: '300ms' },
      store: { url: 'sqlite:./metrics.db' },
      tokens: {
        jwks: { cooldown: '1s', refresh: '10m', timeout: '2s' },
        issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }],
      },
      routes: [
        { path: '/public', auth: 'none' },
        { path: '/slow', auth: 'none' },
        { path: '/limited', auth: 'user', rate_limit: '2/1m' },
        { path: '/owners/*', auth: 'org_member', org_id: 'header:x-org', role: 'Owner' },
        { path: '/api/users/:id', auth: 'user' },
      ],
    })
    for (let i = 0; i < 50 && (await fetch(`${gateway.adminUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100))
    token = await issuer.sign(propelauthClaims(USER_ID, { 'org-m': { role: 'Member' } }))
    const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
    keyUserId = String((await api('POST', '/v1/users', { email: 'metrics@example.com' })).body.user_id)
    keySecret = String((await api('POST', '/v1/api_keys', { user_id: keyUserId })).body.api_key_token)

    const send = async (path: string, init: RequestInit = {}) => {
      const response = await fetch(gateway.url + path, init)
      await response.arrayBuffer()
      return response.status
    }
    const bearer = { authorization: `Bearer ${token}` }
    const statuses = [
      await send('/public'),
      await send('/public', { method: 'POST', body: 'x' }),
      await send('/public', { method: 'PROPFIND' }),
      await send(`/api/users/${USER_ID}`, { headers: bearer }),
      await send(`/api/users/${USER_ID}?secret=1`, { headers: bearer }),
      await send(`/api/users/${USER_ID}`),
      await send(`/api/users/${USER_ID}`, { headers: { authorization: 'Bearer not.a.jwt' } }),
      await send(`/api/users/${keyUserId}`, { headers: { 'x-api-key': keySecret } }),
      await send(`/api/users/${keyUserId}`, { headers: { 'x-api-key': keySecret } }),
      await send(`/api/users/${keyUserId}`, { headers: { 'x-api-key': 'gtu_garbage' } }),
      await send('/owners/report', { headers: { ...bearer, 'x-org': 'org-m' } }),
      await send('/limited', { headers: bearer }),
      await send('/limited', { headers: bearer }),
      await send('/limited', { headers: bearer }),
      await send('/nowhere/at-all-9d2e'),
      await send('/slow'),
      await send('/.gatehouse/auth', { headers: { ...bearer, 'x-forwarded-method': 'GET', 'x-forwarded-uri': `/api/users/${USER_ID}` } }),
      await send('/.gatehouse/auth', { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': `/api/users/${USER_ID}` } }),
    ]
    assert.deepEqual(statuses, [200, 200, 405, 200, 200, 401, 401, 200, 200, 401, 403, 200, 200, 429, 404, 504, 200, 401])
    metrics = await scrape(gateway.adminUrl)
  })

  after(async () => {
    await gateway?.close()
    await issuer?.close()
    await upstream?.close()
  })

  it('serves the Prometheus text format without an admin key', async () => {
    const response = await fetch(`${gateway.adminUrl}/metrics`)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
    assert.match(await response.text(), /^# HELP gatehouse_/m)
  })

  it('counts requests by route pattern, method class and status', () => {
    const requests = (route: string, method: string, status: number) =>
      metrics.value('gatehouse_requests_total', { route, method, status: String(status) })
    assert.equal(requests('/public', 'GET', 200), 1)
    assert.equal(requests('/public', 'POST', 200), 1)
    assert.equal(requests('none', 'other', 405), 1, 'PROPFIND is refused before any route matches, and counted as other')
    // The two forward-auth calls are counted under the route of the request they asked about.
    assert.equal(requests('/api/users/:id', 'GET', 200), 5)
    assert.equal(requests('/api/users/:id', 'GET', 401), 4)
    assert.equal(requests('/owners/*', 'GET', 403), 1)
    assert.equal(requests('/limited', 'GET', 200), 2)
    assert.equal(requests('/limited', 'GET', 429), 1)
    assert.equal(requests('none', 'GET', 404), 1)
    assert.equal(requests('/slow', 'GET', 504), 1)
    const total = metrics.samples.filter((s) => s.name === 'gatehouse_requests_total').reduce((sum, s) => sum + s.value, 0)
    assert.equal(total, 18)
  })

  it('counts decisions by outcome and reason, forward-auth calls among them', () => {
    const decisions = (outcome: string, reason: string) => metrics.value('gatehouse_decisions_total', { outcome, reason })
    assert.equal(decisions('allowed', 'none'), 10)
    assert.equal(decisions('denied', 'no_credential'), 2)
    assert.equal(decisions('denied', 'invalid_token'), 1)
    assert.equal(decisions('denied', 'invalid_api_key'), 1)
    assert.equal(decisions('denied', 'forbidden'), 1)
    assert.equal(decisions('denied', 'rate_limited'), 1)
    assert.equal(decisions('denied', 'not_found'), 1)
    assert.equal(decisions('denied', 'method_not_allowed'), 1)
    assert.equal(decisions('denied', 'store_unavailable'), 0, 'every reason is there from the start, at 0')
    assert.equal(metrics.value('gatehouse_forward_auth_decisions_total', { outcome: 'allowed' }), 1)
    assert.equal(metrics.value('gatehouse_forward_auth_decisions_total', { outcome: 'denied' }), 1)
  })

  it('times whole requests and the upstream part, and counts upstream errors by kind', () => {
    assert.equal(metrics.value('gatehouse_request_duration_seconds_count', { route: '/public' }), 2)
    assert.equal(metrics.value('gatehouse_upstream_duration_seconds_count', { route: '/public' }), 2)
    assert.equal(metrics.value('gatehouse_upstream_duration_seconds_count', { route: '/api/users/:id' }), 4)
    assert.equal(
      metrics.value('gatehouse_upstream_duration_seconds_count', { route: '/owners/*' }),
      undefined,
      'a refused request has no upstream part',
    )
    const slow = metrics.value('gatehouse_upstream_duration_seconds_sum', { route: '/slow' })!
    assert.ok(slow >= 0.3 && slow < 2, `the upstream timed out after 300 ms: ${slow}`)
    assert.equal(metrics.value('gatehouse_request_duration_seconds_bucket', { route: '/slow', le: '0.1' }), 0)
    assert.equal(metrics.value('gatehouse_request_duration_seconds_bucket', { route: '/slow', le: '+Inf' }), 1)
    assert.equal(metrics.value('gatehouse_upstream_errors_total', { kind: 'timeout' }), 1)
    assert.equal(metrics.value('gatehouse_upstream_errors_total', { kind: 'connect' }), 0)
  })

  it('counts token and API-key cache hits and misses, and the JWKS fetch', () => {
    // The token: verified once, then found (one proxied, one forbidden, three limited, one forward-auth); the bad one is a miss.
    assert.equal(metrics.value('gatehouse_cache_misses_total', { cache: 'token' }), 2)
    assert.equal(metrics.value('gatehouse_cache_hits_total', { cache: 'token' }), 6)
    assert.equal(metrics.value('gatehouse_cache_misses_total', { cache: 'api_key' }), 2)
    assert.equal(metrics.value('gatehouse_cache_hits_total', { cache: 'api_key' }), 1)
    assert.equal(metrics.value('gatehouse_key_fetches_total', { source: 'jwks', result: 'success' }), 1)
    assert.equal(metrics.value('gatehouse_key_fetches_total', { source: 'jwks', result: 'failure' }), 0)
  })

  it('counts limiter decisions as local without Redis', () => {
    assert.equal(metrics.value('gatehouse_ratelimit_decisions_total', { decided_by: 'local', result: 'allowed' }), 2)
    assert.equal(metrics.value('gatehouse_ratelimit_decisions_total', { decided_by: 'local', result: 'limited' }), 1)
    assert.equal(metrics.value('gatehouse_ratelimit_decisions_total', { decided_by: 'redis', result: 'allowed' }), 0)
  })

  it('reports the gauges and counters nothing has moved yet at 0', () => {
    assert.equal(metrics.value('gatehouse_websocket_tunnels_open'), 0)
    assert.equal(metrics.value('gatehouse_store_errors_total'), 0)
    assert.equal(metrics.value('gatehouse_config_reloads_total', { result: 'success' }), 0)
    assert.equal(metrics.value('gatehouse_config_reloads_total', { result: 'failure' }), 0)
  })

  it('an API-key eviction is counted as invalidated', async () => {
    const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
    assert.equal((await api('POST', `/v1/users/${keyUserId}/disable`)).status, 200)
    const after = await scrape(gateway.adminUrl)
    assert.equal(after.value('gatehouse_cache_evictions_total', { cache: 'api_key', reason: 'invalidated' }), 1)
    assert.equal(after.value('gatehouse_cache_evictions_total', { cache: 'token', reason: 'capacity' }), 0)
  })

  it('no label carries a raw path, a query, a user id or a credential', () => {
    for (const secret of [USER_ID, keyUserId, keySecret, token, 'nowhere', 'at-all-9d2e', 'secret=1', 'report', 'org-m', 'gtu_garbage']) {
      assert.ok(!metrics.text.includes(secret), `${secret} appears in the scrape`)
    }
    const routes = new Set(metrics.samples.flatMap((s) => (s.labels.route === undefined ? [] : [s.labels.route])))
    assert.deepEqual([...routes].sort(), ['/api/users/:id', '/limited', '/owners/*', '/public', '/slow', 'none'])
    const methods = new Set(metrics.samples.flatMap((s) => (s.labels.method === undefined ? [] : [s.labels.method])))
    assert.deepEqual([...methods].sort(), ['GET', 'POST', 'other'])
  })

  it('the Grafana dashboard in deploy/ queries exactly the metrics a scrape serves', () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/gatehouse-dashboard.json', import.meta.url), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[]
      templating: { list: { query?: unknown }[] }
    }
    const queries = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...dashboard.templating.list.flatMap((v) =>
        typeof v.query === 'object' && v.query !== null ? [String((v.query as { query: string }).query)] : [],
      ),
    ]
    const queried = new Set(queries.flatMap((q) => q.match(/\bgatehouse_[a-z_]+/g) ?? []))
    const served = new Set(metrics.samples.map((s) => s.name))
    const unknown = [...queried].filter((name) => !served.has(name))
    assert.deepEqual(unknown, [], 'every name the dashboard queries is in the scrape')
    const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '')
    const shown = new Set([...queried].map(family))
    const missing = [...metrics.families.keys()].filter((name) => !shown.has(name))
    assert.deepEqual(missing, [], 'every metric family is on the dashboard')
  })
})

describe('metrics.enabled: false', () => {
  it('serves no /metrics', async () => {
    const upstream = await startUpstream()
    const gateway = await startGateway({
      upstream: { url: upstream.url },
      metrics: { enabled: false },
      routes: [{ path: '/public', auth: 'none' }],
    })
    try {
      assert.equal((await fetch(`${gateway.url}/public`)).status, 200)
      assert.equal((await fetch(`${gateway.adminUrl}/metrics`)).status, 404)
    } finally {
      await gateway.close()
      await upstream.close()
    }
  })
})

describe('metrics of the store, Redis and WebSocket tunnels', () => {
  it('counts a store outage as store errors and store_unavailable decisions', async () => {
    const upstream = await startUpstream()
    let down = false
    const gateway = await startGateway(
      {
        upstream: { url: upstream.url },
        admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
        store: { url: 'sqlite:./outage.db' },
        routes: [{ path: '/api/*', auth: 'user' }],
      },
      {
        wrapStore: (store) =>
          new Proxy(store, {
            get(target, property, receiver) {
              const value: unknown = Reflect.get(target, property, receiver)
              if (property !== 'findApiKeyWithOwner' || typeof value !== 'function') return value
              return (...args: unknown[]) =>
                down ? Promise.reject(new StoreUnavailableError(new Error('connect ECONNREFUSED'))) : Reflect.apply(value, target, args)
            },
          }),
      },
    )
    try {
      const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
      const userId = String((await api('POST', '/v1/users', { email: 'outage@example.com' })).body.user_id)
      const secret = String((await api('POST', '/v1/api_keys', { user_id: userId })).body.api_key_token)
      down = true
      for (let i = 0; i < 2; i++) assert.equal((await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': secret } })).status, 503)
      const metrics = await scrape(gateway.adminUrl)
      assert.equal(metrics.value('gatehouse_store_errors_total'), 2)
      assert.equal(metrics.value('gatehouse_decisions_total', { outcome: 'denied', reason: 'store_unavailable' }), 2)
      assert.equal(metrics.value('gatehouse_requests_total', { route: '/api/*', method: 'GET', status: '503' }), 2)
    } finally {
      await gateway.close()
      await upstream.close()
    }
  })

  it('counts limiter decisions made by Redis', { skip: redisReason }, async () => {
    const upstream = await startUpstream()
    const gateway = await startGateway({
      upstream: { url: upstream.url },
      redis: { url: process.env.GATEHOUSE_TEST_REDIS_URL, key_prefix: `gh:test:${randomUUID()}:` },
      routes: [{ path: '/open', auth: 'none', rate_limit: '2/1m' }],
    })
    try {
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${gateway.url}/open`)).status)
      assert.deepEqual(statuses, [200, 200, 429])
      const metrics = await scrape(gateway.adminUrl)
      assert.equal(metrics.value('gatehouse_ratelimit_decisions_total', { decided_by: 'redis', result: 'allowed' }), 2)
      assert.equal(metrics.value('gatehouse_ratelimit_decisions_total', { decided_by: 'redis', result: 'limited' }), 1)
      assert.equal(metrics.value('gatehouse_ratelimit_decisions_total', { decided_by: 'local', result: 'allowed' }), 0)
    } finally {
      await gateway.close()
      await upstream.close()
    }
  })

  it('gauges open WebSocket tunnels', async () => {
    const server = createServer()
    const wss = new WebSocketServer({ server })
    wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const gateway = await startGateway({ upstream: { url: `http://127.0.0.1:${port}` }, routes: [{ path: '/ws', auth: 'none' }] })
    const open = async () => (await scrape(gateway.adminUrl)).value('gatehouse_websocket_tunnels_open')
    try {
      const client = new WebSocket(`${gateway.url.replace('http', 'ws')}/ws`)
      await once(client, 'open')
      assert.equal(await open(), 1)
      client.close()
      await once(client, 'close')
      for (let i = 0; i < 50 && (await open()) !== 0; i++) await new Promise((r) => setTimeout(r, 20))
      assert.equal(await open(), 0)
      assert.equal((await scrape(gateway.adminUrl)).value('gatehouse_decisions_total', { outcome: 'allowed', reason: 'none' }), 1)
    } finally {
      await gateway.close()
      wss.close()
      server.close()
    }
  })
})
