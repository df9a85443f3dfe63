import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ORG = 'org-1'

describe('route rules through the real gateway', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  let gateway: TestGateway
  const tokens: Record<string, string> = {}

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256', 'RS256'] }] },
      routes: [
        { path: '/healthz', auth: 'none' },
        { path: '/api/whoami', auth: 'user' },
        { path: '/api/whoami_optional', auth: 'optional' },
        { path: '/org/:org_id/check', auth: 'org_member' },
        { path: '/org/:org_id/admin', auth: 'org_member', role: 'Admin' },
        { path: '/org/:org_id/admin_or_owner', auth: 'org_member', min_role: 'Admin' },
        { path: '/org/:org_id/billing', auth: 'org_member', permission: 'can_view_billing' },
        { path: '/org/:org_id/all', auth: 'org_member', all_permissions: ['can_view_billing', 'can_manage_api_keys'] },
        { path: '/by-header/check', auth: 'org_member', org_id: 'header:X-Org-Id' },
        { path: '/by-query/check', auth: 'org_member', org_id: 'query:org' },
        { path: '/any', auth: 'authenticated' },
        { path: '/api/*', methods: ['GET', 'POST'], auth: 'user' },
      ],
    })
    tokens.owner = await issuer.sign(
      propelauthClaims('u-owner', { [ORG]: { role: 'Owner', permissions: ['can_view_billing', 'can_manage_api_keys'] } }),
    )
    tokens.admin = await issuer.sign(propelauthClaims('u-admin', { [ORG]: { role: 'Admin', permissions: ['can_manage_api_keys'] } }))
    tokens.member = await issuer.sign(propelauthClaims('u-member', { [ORG]: { role: 'Member' } }))
    tokens.stranger = await issuer.sign(propelauthClaims('u-stranger', { 'org-2': { role: 'Owner' } }))
    tokens.unknownRole = await issuer.sign(
      propelauthClaims('u-weird', { [ORG]: { role: 'SuperAdmin', permissions: ['can_view_billing'] } }),
    )
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await upstream.close()
  })

  async function get(path: string, token?: string, headers: Record<string, string> = {}) {
    const res = await fetch(gateway.url + path, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } })
    const body = await res.text()
    return { status: res.status, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> }
  }

  it('auth: none forwards without looking at credentials', async () => {
    const res = await get('/healthz', 'garbage')
    assert.equal(res.status, 200)
    assert.equal(upstream.last().headers['x-gatehouse-principal'], undefined)
  })

  it('auth: user allows a valid token and forwards the identity', async () => {
    const res = await get('/api/whoami', tokens.member)
    assert.equal(res.status, 200)
    const seen = upstream.last().headers
    assert.equal(seen['x-gatehouse-user-id'], 'u-member')
    assert.equal(seen['x-gatehouse-email'], 'u-member@example.com')
    assert.equal(seen['x-gatehouse-principal'], 'user')
    assert.equal(seen['x-gatehouse-auth-method'], 'token')
    assert.ok(seen['x-gatehouse-assertion'])
    assert.equal(seen.authorization, undefined, 'hide_credentials removes the consumed token')
  })

  it('auth: user without a credential is 401 problem+json with WWW-Authenticate', async () => {
    const res = await get('/api/whoami')
    assert.equal(res.status, 401)
    assert.equal(res.headers.get('content-type'), 'application/problem+json')
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/)
    assert.equal(res.json().detail, 'No authorization header found')
  })

  it('an invalid token is 401 "Invalid access token" and never reaches the upstream', async () => {
    const before = upstream.received.length
    const res = await get('/api/whoami', tokens.member!.slice(0, -4) + 'AAAA')
    assert.equal(res.status, 401)
    assert.equal(res.json().detail, 'Invalid access token')
    assert.equal(upstream.received.length, before)
  })

  it('a malformed Authorization header is 401 with the expected format', async () => {
    const res = await get('/api/whoami', undefined, { authorization: 'Basic dXNlcjpwYXNz' })
    assert.equal(res.status, 401)
    assert.match(String(res.json().detail), /Expected: Bearer/)
  })

  it('auth: optional forwards with an identity when valid and without when absent or invalid', async () => {
    assert.equal((await get('/api/whoami_optional', tokens.member)).status, 200)
    assert.equal(upstream.last().headers['x-gatehouse-user-id'], 'u-member')
    assert.equal((await get('/api/whoami_optional')).status, 200)
    assert.equal(upstream.last().headers['x-gatehouse-user-id'], undefined)
    assert.equal((await get('/api/whoami_optional', 'not.a.token')).status, 200)
    assert.equal(upstream.last().headers['x-gatehouse-user-id'], undefined)
  })

  it('org_member allows members and names the active org', async () => {
    const res = await get(`/org/${ORG}/check`, tokens.member)
    assert.equal(res.status, 200)
    const seen = upstream.last().headers
    assert.equal(seen['x-gatehouse-org-id'], ORG)
    assert.equal(seen['x-gatehouse-org-role'], 'Member')
    assert.equal(seen['x-gatehouse-org-name'], `Org ${ORG}`)
  })

  it('org_member denies non-members with 403 and PropelAuth wording', async () => {
    const res = await get(`/org/${ORG}/check`, tokens.stranger)
    assert.equal(res.status, 403)
    assert.equal(res.json().detail, `User is not a member of org ${ORG}`)
  })

  it('org_member without a credential is 401, not 403', async () => {
    assert.equal((await get(`/org/${ORG}/check`)).status, 401)
  })

  it('role: exactly that role', async () => {
    assert.equal((await get(`/org/${ORG}/admin`, tokens.admin)).status, 200)
    assert.equal((await get(`/org/${ORG}/admin`, tokens.owner)).status, 403)
    const res = await get(`/org/${ORG}/admin`, tokens.member)
    assert.equal(res.status, 403)
    assert.equal(res.json().detail, "User doesn't have required role")
  })

  it('min_role: that role or higher, by the configured order', async () => {
    assert.equal((await get(`/org/${ORG}/admin_or_owner`, tokens.admin)).status, 200)
    assert.equal((await get(`/org/${ORG}/admin_or_owner`, tokens.owner)).status, 200)
    assert.equal((await get(`/org/${ORG}/admin_or_owner`, tokens.member)).status, 403)
  })

  it('a role the config does not know passes no role check, even with the right permissions', async () => {
    assert.equal((await get(`/org/${ORG}/admin_or_owner`, tokens.unknownRole)).status, 403)
    assert.equal((await get(`/org/${ORG}/check`, tokens.unknownRole)).status, 200)
  })

  it('permission and all_permissions', async () => {
    assert.equal((await get(`/org/${ORG}/billing`, tokens.owner)).status, 200)
    const res = await get(`/org/${ORG}/billing`, tokens.admin)
    assert.equal(res.status, 403)
    assert.equal(res.json().detail, "User doesn't have required permission")
    assert.equal((await get(`/org/${ORG}/all`, tokens.owner)).status, 200)
    assert.equal((await get(`/org/${ORG}/all`, tokens.admin)).status, 403)
  })

  it('org id from a header or the query', async () => {
    assert.equal((await get('/by-header/check', tokens.member, { 'x-org-id': ORG })).status, 200)
    assert.equal((await get('/by-header/check', tokens.member, { 'x-org-id': 'org-2' })).status, 403)
    const missing = await get('/by-header/check', tokens.member)
    assert.equal(missing.status, 403)
    assert.equal(missing.json().detail, 'Required org is unspecified')
    assert.equal((await get(`/by-query/check?org=${ORG}`, tokens.member)).status, 200)
    assert.equal((await get('/by-query/check?org=org-2', tokens.member)).status, 403)
  })

  it('auth: authenticated accepts any valid principal', async () => {
    assert.equal((await get('/any', tokens.member)).status, 200)
    assert.equal((await get('/any')).status, 401)
  })

  it('methods: other methods get 405 with Allow; HEAD follows GET', async () => {
    const res = await fetch(`${gateway.url}/api/things`, { method: 'DELETE', headers: { authorization: `Bearer ${tokens.member}` } })
    assert.equal(res.status, 405)
    assert.match(res.headers.get('allow') ?? '', /GET/)
    const head = await fetch(`${gateway.url}/api/things`, { method: 'HEAD', headers: { authorization: `Bearer ${tokens.member}` } })
    assert.equal(head.status, 200)
    assert.equal(upstream.last().method, 'HEAD')
  })

  it('an unmatched request is 404 problem+json and never reaches the upstream', async () => {
    const before = upstream.received.length
    const res = await get('/nowhere', tokens.owner)
    assert.equal(res.status, 404)
    assert.equal(res.headers.get('content-type'), 'application/problem+json')
    assert.equal(upstream.received.length, before)
  })

  it('two different credentials are refused with 400', async () => {
    const res = await get('/api/whoami', tokens.member, { 'x-api-key': 'something_else' })
    assert.equal(res.status, 400)
  })

  it('the upstream response streams back with its headers; X-Request-Id is set both ways', async () => {
    const res = await get('/api/anything?x=1', tokens.member)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-upstream'), 'yes')
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2'])
    assert.equal(upstream.last().url, '/api/anything?x=1')
    assert.equal(upstream.last().headers['x-request-id'], res.headers.get('x-request-id'))
    assert.equal(upstream.last().headers['x-forwarded-for'], '127.0.0.1')
  })

  it('writes one access-log line per request without the credential', async () => {
    await get('/api/whoami', tokens.admin)
    const line = gateway.logs.filter((l) => l.msg === 'request').at(-1)!
    assert.equal(line.status, 200)
    assert.equal(line.user_id, 'u-admin')
    assert.equal(line.path, '/api/whoami')
    assert.ok(typeof line.duration_ms === 'number')
    assert.ok(!JSON.stringify(gateway.logs).includes(tokens.admin!), 'no token in any log line')
  })
})
