import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'

describe('usage counts only what the proxy forwarded', () => {
  let upstream: TestUpstream
  let gw: TestGateway
  const api = adminClient(() => gw.adminUrl, ADMIN_KEY)
  const today = () => new Date().toISOString().slice(0, 10)

  before(async () => {
    upstream = await startUpstream()
    gw = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      tokens: { local_issuer: true },
      api_keys: { usage_flush: '50ms' },
      routes: [
        { path: '/api/*', auth: 'user' },
        { path: '/org/:org_id/billing', auth: 'org_member', permission: 'can_view_billing' },
        { path: '/org/:org_id/*', auth: 'org_member' },
      ],
    })
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
  })

  const call = async (path: string, headers: Record<string, string>) => {
    const res = await fetch(gw.url + path, { headers })
    await res.arrayBuffer()
    return res.status
  }
  const withKey = (secret: string) => ({ 'x-api-key': secret })
  const withToken = (token: string) => ({ authorization: `Bearer ${token}` })

  async function newUser(): Promise<string> {
    const user = await api('POST', '/v1/users', { email: `${randomBytes(6).toString('hex')}@example.com` })
    assert.equal(user.status, 201)
    return String(user.body.user_id)
  }
  async function tokenOf(userId: string): Promise<string> {
    const minted = await api('POST', '/v1/access_tokens', { user_id: userId, duration_in_minutes: 10 })
    assert.equal(minted.status, 200)
    return String(minted.body.access_token)
  }
  const usageOf = async (query: string) => {
    const res = await api('GET', `/v1/usage?date=${today()}&${query}`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return Number(res.body.count)
  }

  /**
   * Waits until everything counted so far is in the store: one forwarded request of a fresh user,
   * counted after everything before it, shows up only with the flush that carries the rest.
   */
  async function flushed(): Promise<void> {
    const sentinel = await newUser()
    assert.equal(await call('/api/sentinel', withToken(await tokenOf(sentinel))), 200)
    for (let i = 0; i < 100 && (await usageOf(`user_id=${sentinel}`)) === 0; i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(await usageOf(`user_id=${sentinel}`), 1)
  }

  it('requests refused by a rate limit are not usage: 3 allowed + 2 refused with 429 count 3', async () => {
    const userId = await newUser()
    const key = await api('POST', '/v1/api_keys', { user_id: userId, rate_limit_override: 3 })
    assert.equal(key.status, 201)
    const secret = String(key.body.api_key_token)
    const statuses = []
    for (let i = 0; i < 5; i++) statuses.push(await call('/api/x', withKey(secret)))
    assert.deepEqual(statuses, [200, 200, 200, 429, 429])
    await flushed()
    assert.equal((await api('GET', `/v1/api_keys/usage?date=${today()}&api_key_id=${key.body.api_key_id}`)).body.count, 3)
    assert.equal(await usageOf(`user_id=${userId}`), 3)
  })

  it('token requests count for their user, and for the org they were authorized against', async () => {
    const userId = await newUser()
    const org = String((await api('POST', '/v1/orgs', { name: `usage ${randomBytes(4).toString('hex')}` })).body.org_id)
    assert.ok((await api('POST', `/v1/orgs/${org}/members`, { user_id: userId, role: 'Owner' })).status < 300)
    const token = await tokenOf(userId)
    for (let i = 0; i < 2; i++) assert.equal(await call('/api/x', withToken(token)), 200)
    for (let i = 0; i < 3; i++) assert.equal(await call(`/org/${org}/x`, withToken(token)), 200)
    // A personal key acting in the org counts for the org too; an org key counts for its org.
    const personal = String((await api('POST', '/v1/api_keys', { user_id: userId })).body.api_key_token)
    assert.equal(await call(`/org/${org}/x`, withKey(personal)), 200)
    const orgKey = String((await api('POST', '/v1/api_keys', { org_id: org })).body.api_key_token)
    assert.equal(await call(`/org/${org}/x`, withKey(orgKey)), 200)
    await flushed()
    assert.equal(await usageOf(`user_id=${userId}`), 6)
    assert.equal(await usageOf(`org_id=${org}`), 5)
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)
    assert.equal((await api('GET', `/v1/usage?date=${yesterday}&user_id=${userId}`)).body.count, 0)
  })

  it('refused requests (401, 403) are not usage', async () => {
    const userId = await newUser()
    const org = String((await api('POST', '/v1/orgs', { name: `refused ${randomBytes(4).toString('hex')}` })).body.org_id)
    const other = String((await api('POST', '/v1/orgs', { name: `other ${randomBytes(4).toString('hex')}` })).body.org_id)
    assert.ok((await api('POST', `/v1/orgs/${org}/members`, { user_id: userId, role: 'Member' })).status < 300)
    const token = await tokenOf(userId)
    const key = await api('POST', '/v1/api_keys', { user_id: userId })
    const secret = String(key.body.api_key_token)
    // Not a member of `other`; Member lacks can_view_billing.
    assert.equal(await call(`/org/${other}/x`, withToken(token)), 403)
    assert.equal(await call(`/org/${org}/billing`, withToken(token)), 403)
    assert.equal(await call(`/org/${org}/billing`, withKey(secret)), 403)
    await api('POST', `/v1/users/${userId}/disable`)
    assert.equal(await call('/api/x', withToken(token)), 401)
    assert.equal(await call('/api/x', withKey(secret)), 401)
    await flushed()
    assert.equal(await usageOf(`user_id=${userId}`), 0)
    assert.equal(await usageOf(`org_id=${org}`), 0)
    assert.equal(await usageOf(`org_id=${other}`), 0)
    assert.equal((await api('GET', `/v1/api_keys/usage?date=${today()}&api_key_id=${key.body.api_key_id}`)).body.count, 0)
  })

  it('GET /v1/usage takes exactly one of user_id and org_id, and a calendar date', async () => {
    for (const query of [`date=${today()}`, `date=${today()}&user_id=u&org_id=o`, 'date=2026-02-30&user_id=u', 'user_id=u']) {
      const res = await api('GET', `/v1/usage?${query}`)
      assert.equal(res.status, 400, query)
    }
    const doc = (await (await fetch(`${gw.adminUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    assert.ok(doc.paths['/v1/usage'])
  })
})
