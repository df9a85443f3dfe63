import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { freePort, serviceUrl } from '../support/services.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import type { TcpProxy } from '../support/tcp-proxy.ts'
import { startUpstream } from '../support/upstream.ts'

type Readiness = { status: string; checks: Record<string, { ready: boolean; detail?: Record<string, unknown> }> }

async function readiness(gateway: TestGateway): Promise<{ code: number; body: Readiness }> {
  const res = await fetch(`${gateway.adminUrl}/readyz`)
  return { code: res.status, body: (await res.json()) as Readiness }
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`${what} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('/readyz names what is failing', () => {
  let gateway: TestGateway
  let deadIssuerPort: number

  before(async () => {
    deadIssuerPort = await freePort()
    gateway = await startGateway({
      upstream: { url: `http://127.0.0.1:${await freePort()}` },
      tokens: {
        issuers: [{ issuer: 'https://issuer.example', jwks_url: `http://127.0.0.1:${deadIssuerPort}/jwks.json`, algorithms: ['ES256'] }],
      },
      routes: [{ path: '/api/*', auth: 'user' }],
    })
  })
  after(() => gateway.close())

  it('an issuer whose keys cannot be fetched is named with its error, and makes the gateway unready', async () => {
    await eventually('the JWKS fetch fails', async () => (await readiness(gateway)).body.checks.token_keys?.detail !== undefined)
    const { code, body } = await readiness(gateway)
    assert.equal(code, 503)
    assert.equal(body.status, 'not_ready')
    const unready = body.checks.token_keys!.detail!.unready as { issuer: string; error?: string }[]
    assert.equal(unready[0]?.issuer, 'https://issuer.example')
    assert.match(String(unready[0]?.error), /ECONNREFUSED|fetch failed|connect/i)
  })

  it('an unreachable upstream is a start-up warning and a readiness detail, never unready on its own', async () => {
    await eventually('the start-up warning', () =>
      gateway.logs.some((l) => l.level === 40 && /upstream is not reachable/.test(String(l.msg))),
    )
    const { body } = await readiness(gateway)
    assert.equal(body.checks.upstream?.ready, true)
    assert.equal(body.checks.upstream?.detail?.reachable, false)
    assert.match(String(body.checks.upstream?.detail?.error), /ECONNREFUSED/)
  })
})

describe('a reachable upstream and store are ready', () => {
  it('reports both', async () => {
    const upstream = await startUpstream()
    const gateway = await startGateway({
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./ready.db' },
      routes: [{ path: '/x', auth: 'none' }],
    })
    try {
      const { code, body } = await readiness(gateway)
      assert.equal(code, 200)
      assert.deepEqual(body.checks.upstream, { ready: true, detail: { reachable: true } })
      assert.deepEqual(body.checks.store, { ready: true })
      assert.ok(!gateway.logs.some((l) => /upstream is not reachable/.test(String(l.msg))))
    } finally {
      await gateway.close()
      await upstream.close()
    }
  })
})

const postgres = serviceUrl('POSTGRES')

describe('a PostgreSQL outage shows in /readyz and is logged once', { skip: postgres.skip }, () => {
  let proxy: TcpProxy
  let gateway: TestGateway

  before(async () => {
    const target = new URL(postgres.url!)
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    target.host = `127.0.0.1:${proxy.port}`
    target.searchParams.set('schema', `gh_ready_${randomBytes(4).toString('hex')}`)
    const upstream = await startUpstream()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      store: { url: target.href, query_timeout: '1s', connect_timeout: '1s' },
      api_keys: { usage_flush: '1h' },
      routes: [{ path: '/api/*', auth: 'user' }],
    })
    after(() => upstream.close())
  })
  after(async () => {
    await gateway.close()
    await proxy.close()
  })

  it('ready, then unready naming the store and its error while cut, then ready again; one log line each way', async () => {
    assert.equal((await readiness(gateway)).code, 200)
    proxy.cut()
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': `gtu_${'A'.repeat(22)}000000` } })
      assert.ok(res.status === 503 || res.status === 401, String(res.status))
    }
    const cut = await readiness(gateway)
    assert.equal(cut.code, 503)
    assert.equal(cut.body.checks.store?.ready, false)
    assert.match(String(cut.body.checks.store?.detail?.error), /store is unavailable/)
    await readiness(gateway)
    assert.equal(gateway.logs.filter((l) => l.msg === 'store unavailable: requests that need it get 503').length, 1)
    proxy.heal()
    await eventually('the store answers again', async () => (await readiness(gateway)).code === 200, 10_000)
    assert.equal(gateway.logs.filter((l) => l.msg === 'store available again').length, 1)
    assert.equal((await readiness(gateway)).body.checks.store?.detail, undefined)
  })
})
