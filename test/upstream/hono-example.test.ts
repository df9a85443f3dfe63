import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { serve } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import { createApp } from '../../examples/hono-upstream/server.ts'
import { createVerifier } from '../../src/upstream/index.ts'
import type { Verifier } from '../../src/upstream/index.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'

const ORG = 'org-1'

describe('examples/hono-upstream behind the real gateway', () => {
  let issuer: TestIssuer
  let gateway: TestGateway
  let server: ServerType
  let appUrl: string
  const tokens: Record<string, string> = {}

  before(async () => {
    // The app needs the gateway's JWKS URL and the gateway needs the app's URL: start the app on a
    // lazily-bound verifier, then the gateway.
    let jwksUrl = ''
    let verifier: Verifier | undefined
    const real = () => (verifier ??= createVerifier({ jwksUrl }))
    const lazy: Verifier = { verify: (a) => real().verify(a), fromHeaders: (h) => real().fromHeaders(h) }
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: createApp(lazy).fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
    })
    appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    issuer = await startIssuer()
    gateway = await startGateway({
      upstream: { url: appUrl },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256', 'RS256'] }] },
      routes: [
        { path: '/api/whoami', auth: 'user' },
        // The gateway only checks membership; the example enforces minRole Admin itself.
        { path: '/org/:org_id/admin', auth: 'org_member' },
      ],
    })
    jwksUrl = `${gateway.adminUrl}/.well-known/jwks.json`
    tokens.admin = await issuer.sign(propelauthClaims('u-admin', { [ORG]: { role: 'Admin', permissions: ['can_manage_api_keys'] } }))
    tokens.member = await issuer.sign(propelauthClaims('u-member', { [ORG]: { role: 'Member' } }))
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await new Promise<void>((r) => server.close(() => r()))
  })

  const get = (base: string, path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers })

  it('whoami returns the user verified from the assertion', async () => {
    const res = await get(gateway.url, '/api/whoami', { authorization: `Bearer ${tokens.member}` })
    assert.equal(res.status, 200)
    const body = (await res.json()) as { userId: string; email: string; orgs: string[] }
    assert.equal(body.userId, 'u-member')
    assert.equal(body.email, 'u-member@example.com')
    assert.deepEqual(body.orgs, [ORG])
  })

  it('the org admin route: 200 for an Admin, 403 for a Member (enforced by the example)', async () => {
    const ok = await get(gateway.url, `/org/${ORG}/admin`, { authorization: `Bearer ${tokens.admin}` })
    assert.equal(ok.status, 200)
    const body = (await ok.json()) as Record<string, unknown>
    assert.equal(body.userId, 'u-admin')
    assert.equal(body.orgId, ORG)
    assert.equal(body.role, 'Admin')
    const denied = await get(gateway.url, `/org/${ORG}/admin`, { authorization: `Bearer ${tokens.member}` })
    assert.equal(denied.status, 403)
  })

  it('forged X-Gatehouse-* headers straight to the app without an assertion get 401', async () => {
    const forged = {
      'x-gatehouse-user-id': 'u-admin',
      'x-gatehouse-principal': 'user',
      'x-gatehouse-auth-method': 'token',
      'x-gatehouse-email': 'u-admin@example.com',
    }
    assert.equal((await get(appUrl, '/api/whoami', forged)).status, 401)
    assert.equal((await get(appUrl, `/org/${ORG}/admin`, forged)).status, 401)
    assert.equal((await get(appUrl, '/api/whoami', { ...forged, 'x-gatehouse-assertion': 'e30.e30.sig' })).status, 401)
  })
})
