import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import jwt from 'jsonwebtoken'
import { loadOrCreateAssertionKeys } from '../../src/forward/index.ts'
import { createVerifier } from '../../src/upstream/index.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

type Jwks = { keys: (JsonWebKey & { kid: string })[] }

const claimsOf = (assertion: string) => JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

/** What an upstream using jsonwebtoken does: the key named by the header's kid, from the JWKS, algorithm pinned. */
async function verifyWithJsonwebtoken(assertion: string, adminUrl: string, algorithm: jwt.Algorithm): Promise<jwt.JwtPayload> {
  const { header } = jwt.decode(assertion, { complete: true })!
  const jwks = (await (await fetch(`${adminUrl}/.well-known/jwks.json`)).json()) as Jwks
  const jwk = jwks.keys.find((k) => k.kid === header.kid)
  assert.ok(jwk, `the JWKS publishes kid ${header.kid}`)
  const key = createPublicKey({ key: jwk, format: 'jwk' })
  return jwt.verify(assertion, key, { algorithms: [algorithm], issuer: 'gatehouse', audience: 'upstream' }) as jwt.JwtPayload
}

describe('the identity assertion through the real gateway', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  const dirs: string[] = []
  const gateways: TestGateway[] = []

  const tokenIssuer = () => ({ issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] })
  const routes = [{ path: '/api/*', methods: ['GET', 'POST', 'DELETE'], auth: 'user' }]
  async function gateway(config: Record<string, unknown>): Promise<TestGateway> {
    const g = await startGateway({ upstream: { url: upstream.url }, tokens: tokenIssuer(), routes, ...config })
    gateways.push(g)
    return g
  }
  const call = async (g: TestGateway, path: string, init: RequestInit = {}) => {
    const token = await issuer.sign(propelauthClaims('u-assert'))
    const res = await fetch(g.url + path, { ...init, headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    return res
  }

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
  })

  after(async () => {
    for (const g of gateways) await g.close()
    await issuer.close()
    await upstream.close()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('by default is ES256 with a 30 s lifetime, and jsonwebtoken verifies it against the JWKS', async () => {
    const g = await gateway({})
    assert.equal((await call(g, '/api/me')).status, 200)
    const assertion = String(upstream.last().headers['x-gatehouse-assertion'])
    const payload = await verifyWithJsonwebtoken(assertion, g.adminUrl, 'ES256')
    assert.equal(payload.sub, 'u-assert')
    assert.equal(payload.exp! - payload.iat!, 30)
    assert.equal((payload.identity as { user: { userId: string } }).user.userId, 'u-assert')
    assert.equal(payload.jti, undefined, 'unbound by default')
    // The same algorithm pin that protects it refuses a forged one.
    const [h, , s] = assertion.split('.')
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'u-admin' })).toString('base64url')}.${s}`
    await assert.rejects(verifyWithJsonwebtoken(forged, g.adminUrl, 'ES256'), /invalid signature/)
  })

  it('with bind_request, carries the method, the path as the upstream received it and the request id as jti', async () => {
    const g = await gateway({
      upstream: { url: `${upstream.url}/base` },
      identity: { assertion: { bind_request: true } },
    })
    const verifier = createVerifier({ jwksUrl: `${g.adminUrl}/.well-known/jwks.json`, requireBinding: true, replayCache: true })
    const seen: string[] = []
    for (const [method, path] of [
      ['POST', '/api/invoices?draft=1&q=%22x%22'],
      ['POST', '/api/invoices?draft=1&q=%22x%22'],
      ['DELETE', '/api/invoices/7'],
    ] as const) {
      assert.equal((await call(g, path, { method })).status, 200)
      const received = upstream.last()
      const assertion = String(received.headers['x-gatehouse-assertion'])
      const claims = claimsOf(assertion)
      assert.equal(claims.htm, method)
      assert.equal(claims.htp, received.url)
      assert.equal(received.url, `/base${path}`)
      assert.equal(claims.jti, received.headers['x-request-id'])
      assert.ok(!seen.includes(assertion), 'no assertion serves two requests')
      seen.push(assertion)
      assert.equal((await verifier.verify(assertion, { method: received.method, path: received.url })).user?.userId, 'u-assert')
      await assert.rejects(verifier.verify(assertion, { method: received.method, path: received.url }), /already used/)
      const elsewhere = createVerifier({ jwksUrl: `${g.adminUrl}/.well-known/jwks.json` })
      await assert.rejects(elsewhere.verify(assertion, { method: 'GET', path: received.url }), /bound to/)
      await assert.rejects(elsewhere.verify(assertion, { method, path: '/base/api/admin' }), /bound to another path/)
    }
  })

  it('a key file generated for EdDSA stops a start under the ES256 default with what to do, and algorithm: EdDSA keeps it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-eddsa-'))
    dirs.push(dir)
    const keyFile = join(dir, 'gatehouse-keys.json')
    const old = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })
    await assert.rejects(
      gateway({ identity: { assertion: { key_file: keyFile } } }),
      /the current assertion key is EdDSA but the configured algorithm is ES256 .*Set identity\.assertion\.algorithm: EdDSA to keep signing with this key, or remove the file/,
    )
    const g = await gateway({ identity: { assertion: { key_file: keyFile, algorithm: 'EdDSA' } } })
    assert.equal((await call(g, '/api/me')).status, 200)
    const assertion = String(upstream.last().headers['x-gatehouse-assertion'])
    const header = jwt.decode(assertion, { complete: true })!.header
    assert.deepEqual([header.alg, header.kid], ['EdDSA', old.current.kid])
    // Why ES256 is the default: jsonwebtoken has no EdDSA.
    await assert.rejects(
      verifyWithJsonwebtoken(assertion, g.adminUrl, 'EdDSA' as jwt.Algorithm),
      /Unknown key type "ed25519"|invalid algorithm/,
    )
  })
})
