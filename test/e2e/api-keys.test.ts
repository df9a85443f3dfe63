import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'

describe('API keys through the real gateway', () => {
  let upstream: TestUpstream
  let gateway: TestGateway
  let userId: string
  let orgId: string
  const secrets: string[] = []

  before(async () => {
    upstream = await startUpstream()
    gateway = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./keys.db' },
      api_keys: { usage_flush: '100ms', org_key_role: 'Member' },
      routes: [
        { path: '/api/*', auth: 'user' },
        { path: '/org/:org_id/billing', auth: 'org_member', permission: 'can_view_billing' },
        { path: '/org/:org_id/*', auth: 'org_member' },
        { path: '/svc', auth: 'authenticated', credentials: ['generic_key'] },
        { path: '/scoped', auth: 'authenticated', scopes: ['reports:read'] },
      ],
    })
    userId = String((await api('POST', '/v1/users', { email: 'kay@example.com' })).body.user_id)
    orgId = String((await api('POST', '/v1/orgs', { name: 'Keys Inc' })).body.org_id)
    await api('POST', `/v1/orgs/${orgId}/members`, { user_id: userId, role: 'Owner' })
  })

  after(async () => {
    await gateway.close()
    await upstream.close()
  })

  const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)

  async function createKey(body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
    const res = await api('POST', '/v1/api_keys', body)
    assert.equal(res.status, 201, JSON.stringify(res.body))
    const secret = String(res.body.api_key_token)
    secrets.push(secret)
    return { id: String(res.body.api_key_id), secret }
  }

  const call = async (path: string, secret: string, header: 'authorization' | 'x-api-key' = 'authorization') =>
    (await fetch(gateway.url + path, { headers: { [header]: header === 'authorization' ? `Bearer ${secret}` : secret } })).status

  it('a personal key authenticates as its user, in either header, and forwards the key id', async () => {
    const key = await createKey({ user_id: userId, name: 'laptop' })
    assert.equal(await call('/api/x', key.secret), 200)
    const seen = upstream.last().headers
    assert.equal(seen['x-gatehouse-user-id'], userId)
    assert.equal(seen['x-gatehouse-auth-method'], 'api_key')
    assert.equal(seen['x-gatehouse-api-key-id'], key.id)
    assert.equal(seen['x-api-key'], undefined, 'the consumed key is not forwarded')
    assert.equal(await call('/api/x', key.secret, 'x-api-key'), 200)
  })

  it('garbage and a bad checksum are refused with one 401', async () => {
    const key = await createKey({ user_id: userId })
    const flipped = key.secret.slice(0, -1) + (key.secret.endsWith('A') ? 'B' : 'A')
    for (const bad of ['not-a-key', 'gtu_tooshort', flipped]) {
      const res = await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': bad } })
      assert.equal(res.status, 401)
      assert.equal(((await res.json()) as { detail: string }).detail, 'Invalid API key')
    }
  })

  it('an org key satisfies org_member for its own org only; its scopes are its permissions', async () => {
    const plain = await createKey({ org_id: orgId })
    assert.equal(await call(`/org/${orgId}/things`, plain.secret), 200)
    assert.equal(upstream.last().headers['x-gatehouse-principal'], 'org')
    assert.equal(await call('/org/other-org/things', plain.secret), 403)
    assert.equal(await call(`/org/${orgId}/billing`, plain.secret), 403)
    const billing = await createKey({ org_id: orgId, scopes: ['can_view_billing'] })
    assert.equal(await call(`/org/${orgId}/billing`, billing.secret), 200)
  })

  it('a personal key’s scopes narrow its owner’s permissions', async () => {
    const narrow = await createKey({ user_id: userId, scopes: ['reports:read'] })
    // The user is an Owner (can_view_billing), but the key's scopes do not include it.
    assert.equal(await call(`/org/${orgId}/billing`, narrow.secret), 403)
    assert.equal(await call('/scoped', narrow.secret), 200)
    const unscoped = await createKey({ user_id: userId })
    assert.equal(await call('/scoped', unscoped.secret), 403)
  })

  it('routes accept only the credential kinds they name', async () => {
    const generic = await createKey({ name: 'ci' })
    assert.equal(await call('/svc', generic.secret), 200)
    assert.equal(upstream.last().headers['x-gatehouse-principal'], 'service')
    assert.equal(await call('/api/x', generic.secret), 403)
    const personal = await createKey({ user_id: userId })
    assert.equal(await call('/svc', personal.secret), 403)
  })

  it('archive stops a cached key at once; rotate without grace stops the old secret, with grace keeps it', async () => {
    const key = await createKey({ user_id: userId })
    assert.equal(await call('/api/x', key.secret), 200)
    assert.equal((await api('POST', `/v1/api_keys/${key.id}/archive`, { reason: 'leaked' })).status, 200)
    assert.equal(await call('/api/x', key.secret), 401)

    const hard = await createKey({ user_id: userId })
    assert.equal(await call('/api/x', hard.secret), 200)
    const rotated = await api('POST', `/v1/api_keys/${hard.id}/rotate`, {})
    secrets.push(String(rotated.body.api_key_token))
    assert.equal(await call('/api/x', hard.secret), 401)
    assert.equal(await call('/api/x', String(rotated.body.api_key_token)), 200)

    const soft = await createKey({ user_id: userId })
    const graced = await api('POST', `/v1/api_keys/${soft.id}/rotate`, { grace_seconds: 3600 })
    secrets.push(String(graced.body.api_key_token))
    assert.equal(await call('/api/x', soft.secret), 200)
    assert.equal(await call('/api/x', String(graced.body.api_key_token)), 200)
  })

  it('a key that expires while cached is refused from its expiry on', async () => {
    const key = await createKey({ user_id: userId, expires_at_seconds: Math.floor(Date.now() / 1000) + 2 })
    assert.equal(await call('/api/x', key.secret), 200)
    await new Promise((r) => setTimeout(r, 2200))
    assert.equal(await call('/api/x', key.secret), 401)
  })
})

describe('API key limits and invalidation through the real gateway', () => {
  let upstream: TestUpstream
  let gateway: TestGateway

  before(async () => {
    upstream = await startUpstream()
    gateway = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./limits.db' },
      api_keys: { usage_flush: '100ms', org_key_role: 'Member' },
      rate_limits: { user: '4/1m', org: '3/1m' },
      routes: [
        { path: '/api/*', auth: 'user' },
        { path: '/org/:org_id/*', auth: 'org_member' },
      ],
    })
  })

  after(async () => {
    await gateway.close()
    await upstream.close()
  })

  const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
  const key = async (body: Record<string, unknown>) => {
    const res = await api('POST', '/v1/api_keys', body)
    assert.equal(res.status, 201, JSON.stringify(res.body))
    return { id: String(res.body.api_key_id), secret: String(res.body.api_key_token) }
  }
  const call = async (path: string, secret: string) => (await fetch(gateway.url + path, { headers: { 'x-api-key': secret } })).status

  it('two keys of one user share the user budget; two org keys share the org budget', async () => {
    const user = String((await api('POST', '/v1/users', { email: 'limit@example.com' })).body.user_id)
    const [a, b] = [await key({ user_id: user }), await key({ user_id: user })]
    const statuses = []
    for (const k of [a, b, a, b, a]) statuses.push(await call('/api/x', k.secret))
    assert.deepEqual(statuses, [200, 200, 200, 200, 429])

    const org = String((await api('POST', '/v1/orgs', { name: 'Budget' })).body.org_id)
    const [c, d] = [await key({ org_id: org }), await key({ org_id: org })]
    const orgStatuses = []
    for (const k of [c, d, c, d]) orgStatuses.push(await call(`/org/${org}/x`, k.secret))
    assert.deepEqual(orgStatuses, [200, 200, 200, 429])
  })

  it('usage is counted in memory and flushed: per-day counts and last_used_at', async () => {
    const user = String((await api('POST', '/v1/users', { email: 'usage@example.com' })).body.user_id)
    const k = await key({ user_id: user })
    for (let i = 0; i < 3; i++) assert.equal(await call('/api/x', k.secret), 200)
    await new Promise((r) => setTimeout(r, 400))
    const today = new Date().toISOString().slice(0, 10)
    const usage = await api('GET', `/v1/api_keys/usage?date=${today}&api_key_id=${k.id}`)
    assert.equal(usage.body.count, 3)
    const fetched = await api('GET', `/v1/api_keys/${k.id}`)
    assert.ok(Number(fetched.body.last_used_at) > 0)
  })

  it('a disabled user’s personal key, a deleted org’s key and a departed creator’s key stop', async () => {
    const user = String((await api('POST', '/v1/users', { email: 'gone@example.com' })).body.user_id)
    const personal = await key({ user_id: user })
    assert.equal(await call('/api/x', personal.secret), 200)
    await api('POST', `/v1/users/${user}/disable`)
    assert.equal(await call('/api/x', personal.secret), 401)

    const org = String((await api('POST', '/v1/orgs', { name: 'Doomed' })).body.org_id)
    const orgKey = await key({ org_id: org })
    assert.equal(await call(`/org/${org}/x`, orgKey.secret), 200)
    await api('DELETE', `/v1/orgs/${org}`)
    assert.equal(await call(`/org/${org}/x`, orgKey.secret), 401)

    const creator = String((await api('POST', '/v1/users', { email: 'creator@example.com' })).body.user_id)
    const team = String((await api('POST', '/v1/orgs', { name: 'Team' })).body.org_id)
    await api('POST', `/v1/orgs/${team}/members`, { user_id: creator, role: 'Admin' })
    const bound = await key({ org_id: team, user_id: creator, revoke_on_creator_leave: true })
    assert.equal(await call(`/org/${team}/x`, bound.secret), 200)
    await api('DELETE', `/v1/orgs/${team}/members/${creator}`)
    assert.equal(await call(`/org/${team}/x`, bound.secret), 401)
  })

  it('no secret appears in any log line or list response', async () => {
    const user = String((await api('POST', '/v1/users', { email: 'secret@example.com' })).body.user_id)
    const k = await key({ user_id: user })
    await call('/api/x', k.secret)
    const listed = JSON.stringify((await api('GET', `/v1/api_keys?user_id=${user}`)).body)
    assert.ok(listed.includes(k.id))
    assert.ok(!listed.includes(k.secret))
    assert.ok(!JSON.stringify(gateway.logs).includes(k.secret))
  })
})
