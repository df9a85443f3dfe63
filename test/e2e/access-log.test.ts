import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

describe('the access log names why a request was refused', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  let gateway: TestGateway

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      rate_limits: { user: '1/1m' },
      routes: [{ path: '/api/*', auth: 'user', methods: ['GET'] }],
    })
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await upstream.close()
  })

  const lastLogOf = (path: string) => gateway.logs.filter((l) => l.msg === 'request' && l.path === path).at(-1)
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(gateway.url + path, { method, headers })

  it('an API key refusal logs invalid_api_key and the authenticator’s reason, never the key', async () => {
    const res = await get('/api/key', { 'x-api-key': 'not-a-gatehouse-key' })
    assert.equal(res.status, 401)
    const line = lastLogOf('/api/key')
    assert.equal(line?.reason, 'invalid_api_key')
    assert.equal(line?.error, 'malformed')
    assert.ok(!JSON.stringify(line).includes('not-a-gatehouse-key'))
  })

  it('every refusal logs its code: no_credential, malformed_credential, not_found, method_not_allowed, rate_limited', async () => {
    assert.equal((await get('/api/none')).status, 401)
    assert.equal(lastLogOf('/api/none')?.reason, 'no_credential')
    assert.equal((await get('/api/basic', { authorization: 'Basic dXNlcjpwdw==' })).status, 401)
    assert.equal(lastLogOf('/api/basic')?.reason, 'malformed_credential')
    assert.equal((await get('/elsewhere')).status, 404)
    assert.equal(lastLogOf('/elsewhere')?.reason, 'not_found')
    assert.equal((await get('/api/post', {}, 'POST')).status, 405)
    assert.equal(lastLogOf('/api/post')?.reason, 'method_not_allowed')
    const token = await issuer.sign(propelauthClaims('u-logged'))
    assert.equal((await get('/api/limited', { authorization: `Bearer ${token}` })).status, 200)
    assert.equal(lastLogOf('/api/limited')?.reason, undefined)
    assert.equal((await get('/api/limited', { authorization: `Bearer ${token}` })).status, 429)
    assert.equal(lastLogOf('/api/limited')?.reason, 'rate_limited')
  })

  it('an invalid token logs invalid_token and jose’s code', async () => {
    const expired = await issuer.sign(propelauthClaims('u-expired'), { expiresIn: -3600 })
    assert.equal((await get('/api/expired', { authorization: `Bearer ${expired}` })).status, 401)
    assert.equal(lastLogOf('/api/expired')?.reason, 'invalid_token')
    assert.match(String(lastLogOf('/api/expired')?.error), /^ERR_JWT_EXPIRED/)
  })
})
