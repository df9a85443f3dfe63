import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const PARTNER = 'https://partner.test.example'
const COOLDOWN_MS = 2000

async function waitReady(gateway: TestGateway): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await fetch(`${gateway.adminUrl}/readyz`)).status === 200) return
    await delay(100)
  }
  throw new Error('the gateway never became ready')
}

const nowSeconds = () => Math.floor(Date.now() / 1000)

describe('token hardening through the real gateway', () => {
  let upstream: TestUpstream
  let corp: TestIssuer
  let partner: TestIssuer
  let gateway: TestGateway

  before(async () => {
    upstream = await startUpstream()
    corp = await startIssuer()
    partner = await startIssuer()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: {
        leeway: '60s',
        jwks: { cooldown: `${COOLDOWN_MS}ms`, refresh: '10m', timeout: '2s' },
        issuers: [
          { name: 'corp', issuer: corp.issuer, jwks_url: corp.jwksUrl, algorithms: ['ES256'], token_type: 'access' },
          { name: 'partner', issuer: PARTNER, jwks_url: partner.jwksUrl, algorithms: ['ES256'] },
        ],
      },
      routes: [
        { path: '/corp/*', auth: 'user', issuers: ['corp'] },
        { path: '/optional/*', auth: 'optional' },
        { path: '/api/*', auth: 'user' },
      ],
    })
    await waitReady(gateway)
  })

  after(async () => {
    await gateway.close()
    await partner.close()
    await corp.close()
    await upstream.close()
  })

  const call = (path: string, token: string) => fetch(gateway.url + path, { headers: { authorization: `Bearer ${token}` } })
  const status = async (path: string, token: string) => (await call(path, token)).status
  const corpToken = (userId: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    corp.sign({ ...propelauthClaims(userId), ...claims }, { header })
  const partnerToken = (userId: string, options: Parameters<TestIssuer['sign']>[1] = {}) =>
    partner.sign({ ...propelauthClaims(userId), iss: PARTNER }, options)
  const lastLogOf = (path: string) => gateway.logs.filter((l) => l.msg === 'request' && l.path === path).at(-1)

  describe('iat', () => {
    it('a token issued beyond the leeway in the future is 401, with the reason logged', async () => {
      const res = await call('/api/iat-future', await corpToken('u-iat', { iat: nowSeconds() + 600 }))
      assert.equal(res.status, 401)
      assert.equal(((await res.json()) as { detail: string }).detail, 'Invalid access token')
      assert.match(String(lastLogOf('/api/iat-future')?.error), /iat is \d+ s in the future/)
    })

    it('within the leeway, or without iat, the token is accepted', async () => {
      assert.equal(await status('/api/x', await corpToken('u-iat-1', { iat: nowSeconds() + 30 })), 200)
      assert.equal(await status('/api/x', await corpToken('u-iat-2', { iat: undefined })), 200)
    })
  })

  describe('issuer binding', () => {
    it('a route bound to corp refuses a valid partner token with 401 and accepts corp’s', async () => {
      const foreign = await partnerToken('u-partner')
      assert.equal(await status('/api/x', foreign), 200, 'the partner token is valid elsewhere')
      const res = await call('/corp/refused', foreign)
      assert.equal(res.status, 401)
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="gatehouse"')
      assert.equal(res.headers.get('content-type'), 'application/problem+json')
      assert.equal(((await res.json()) as { detail: string }).detail, 'Invalid access token')
      assert.match(String(lastLogOf('/corp/refused')?.error), /issuer this route does not list/)
      assert.equal(await status('/corp/x', await corpToken('u-corp')), 200)
    })

    it('the issuer name stays out of the forwarded assertion and headers', async () => {
      assert.equal(await status('/corp/assertion', await corpToken('u-bound-assert')), 200)
      const seen = upstream.last()
      assert.equal(seen.url, '/corp/assertion')
      const assertion = String(seen.headers['x-gatehouse-assertion'])
      const payload = JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()) as { identity: object }
      assert.equal(JSON.stringify(payload.identity).includes('corp'), false)
    })
  })

  describe('token_type: access', () => {
    it('accepts typ at+jwt, application/at+jwt and JWT', async () => {
      for (const typ of ['at+jwt', 'application/at+jwt', 'JWT']) {
        assert.equal(await status('/corp/x', await corpToken(`u-typ-${typ}`, {}, { typ })), 200, typ)
      }
    })

    it('refuses typ id+jwt or another type, and a nonce claim, with 401', async () => {
      for (const typ of ['id+jwt', 'JOSE']) {
        assert.equal(await status('/api/x', await corpToken(`u-typ-${typ}`, {}, { typ })), 401, typ)
      }
      assert.equal(await status('/api/x', await corpToken('u-nonce', { nonce: 'n-0S6_WzA2Mj' })), 401)
    })

    it('an issuer without token_type checks no type', async () => {
      const idToken = await partner.sign({ ...propelauthClaims('u-id'), iss: PARTNER, nonce: 'n-1' }, { header: { typ: 'id+jwt' } })
      assert.equal(await status('/api/x', idToken), 200)
    })
  })

  describe('key rotation inside the JWKS cooldown', () => {
    it('a second rotation within the cooldown is 503 with Retry-After, never 401, then 200 after it', async () => {
      await delay(COOLDOWN_MS + 100)
      const first = await partner.addKey('ES256')
      assert.equal(await status('/api/x', await partnerToken('u-rot-1', { key: first })), 200, 'the first rotation refetches')
      const fetches = partner.fetches
      const second = await partner.addKey('ES256')
      const token = await partnerToken('u-rot-2', { key: second })
      const res = await call('/api/rotated', token)
      assert.equal(res.status, 503)
      assert.equal(res.headers.get('content-type'), 'application/problem+json')
      const retryAfter = Number(res.headers.get('retry-after'))
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= COOLDOWN_MS / 1000, `Retry-After ${retryAfter}`)
      assert.match(String(lastLogOf('/api/rotated')?.error), /cooldown holds off a refetch/)
      assert.equal(await status('/optional/rotated', token), 503, 'auth: optional keeps 503 as 503')
      assert.equal(partner.fetches, fetches, 'no refetch within the cooldown')
      await delay(retryAfter * 1000)
      assert.equal(await status('/api/x', token), 200)
      assert.equal(partner.fetches, fetches + 1)
    })

    it('random kids within the cooldown cause no fetch; after it, at most one', async () => {
      await delay(COOLDOWN_MS + 100)
      assert.equal(await status('/api/x', await partnerToken('u-kid', { header: { kid: 'first-stray' } })), 401, 'a fetch ran: absent')
      const fetches = partner.fetches
      const strays = await Promise.all(Array.from({ length: 20 }, (_, i) => partnerToken(`u-kid-${i}`, { header: { kid: `stray-${i}` } })))
      const within = await Promise.all(strays.map((token) => call('/api/x', token)))
      assert.deepEqual(
        within.map((res) => res.status),
        strays.map(() => 503),
      )
      assert.equal(partner.fetches, fetches, 'no fetch within the cooldown')
      await delay(COOLDOWN_MS + 100)
      const afterwards = await Promise.all(strays.map((token) => status('/api/x', token)))
      assert.ok(
        afterwards.every((s) => s === 401 || s === 503),
        afterwards.join(),
      )
      assert.equal(partner.fetches, fetches + 1, 'one fetch for all of them')
    })
  })
})

describe("issuer binding with gatehouse's own issuer and API keys", () => {
  const ADMIN_KEY = 'test-admin-key-0123456789'
  let upstream: TestUpstream
  let corp: TestIssuer
  let gateway: TestGateway
  let localToken: string
  let apiKey: string

  before(async () => {
    upstream = await startUpstream()
    corp = await startIssuer()
    gateway = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./issuers.db' },
      tokens: {
        local_issuer: true,
        issuers: [{ name: 'corp', issuer: corp.issuer, jwks_url: corp.jwksUrl, algorithms: ['ES256'] }],
      },
      routes: [
        { path: '/local/*', auth: 'user', issuers: ['local'] },
        { path: '/corp/*', auth: 'user', issuers: ['corp'] },
      ],
    })
    await waitReady(gateway)
    const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
    const userId = String((await api('POST', '/v1/users', { email: 'lou@example.com' })).body.user_id)
    localToken = String((await api('POST', '/v1/access_tokens', { user_id: userId, duration_in_minutes: 5 })).body.access_token)
    apiKey = String((await api('POST', '/v1/api_keys', { user_id: userId, name: 'cli' })).body.api_key_token)
  })

  after(async () => {
    await gateway.close()
    await corp.close()
    await upstream.close()
  })

  const status = async (path: string, credential: string) =>
    (await fetch(gateway.url + path, { headers: { authorization: `Bearer ${credential}` } })).status

  it("local names gatehouse's own issuer: its tokens pass local routes only", async () => {
    assert.equal(await status('/local/x', localToken), 200)
    assert.equal(await status('/corp/x', localToken), 401)
    const corpToken = await corp.sign(propelauthClaims('u-corp-local'))
    assert.equal(await status('/corp/x', corpToken), 200)
    assert.equal(await status('/local/x', corpToken), 401)
  })

  it('issuers binds tokens only: an API key is governed by credentials', async () => {
    assert.equal(await status('/local/x', apiKey), 200)
    assert.equal(await status('/corp/x', apiKey), 200)
  })
})
