import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { pino } from 'pino'
import { stringify } from 'yaml'
import { loadConfig } from '../../src/config/index.ts'
import { startGatehouse } from '../../src/server.ts'
import type { RunningGatehouse } from '../../src/server.ts'
import { adminClient } from '../support/admin.ts'
import { TEST_ROLES } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'

describe('identity backend end to end: admin API, own tokens, gateway rules', () => {
  let upstream: TestUpstream
  let dir: string
  let file: string
  let running: RunningGatehouse
  let gateway: string
  let admin: string

  async function start() {
    const log = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }))
    running = await startGatehouse(loadConfig(file), { log })
    gateway = `http://127.0.0.1:${running.gateway.port}`
    admin = `http://127.0.0.1:${running.admin.port}`
  }

  before(async () => {
    upstream = await startUpstream()
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-directory-'))
    file = join(dir, 'gatehouse.yaml')
    writeFileSync(
      file,
      stringify({
        server: { listen: '127.0.0.1:0', shutdown_timeout: '1s' },
        admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
        upstream: { url: upstream.url },
        store: { url: 'sqlite:./gatehouse.db' },
        roles: TEST_ROLES,
        tokens: { local_issuer: true },
        routes: [
          { path: '/api/whoami', auth: 'user' },
          { path: '/org/:org_id/admin', auth: 'org_member', role: 'Admin' },
          { path: '/org/:org_id/billing', auth: 'org_member', permission: 'can_view_billing' },
        ],
      }),
    )
    await start()
  })

  after(async () => {
    await running.close()
    await upstream.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const api = adminClient(() => admin, ADMIN_KEY)
  const asUser = async (path: string, token: string) =>
    (await fetch(gateway + path, { headers: { authorization: `Bearer ${token}` } })).status

  let userId: string
  let orgId: string
  let token: string

  it('the admin API refuses a missing or wrong key', async () => {
    assert.equal((await fetch(`${admin}/v1/users`)).status, 401)
    assert.equal((await api('GET', '/v1/users', undefined, 'wrong-key-wrong-key-wrong')).status, 401)
  })

  it('serves the OpenAPI document', async () => {
    const doc = (await (await fetch(`${admin}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    assert.ok(doc.paths['/v1/access_tokens'])
    assert.ok(Object.keys(doc.paths).length >= 15)
  })

  it('a token minted through the admin API passes the gateway’s org-role rules', async () => {
    const created = await api('POST', '/v1/users', { email: 'ada@example.com', username: 'ada', first_name: 'Ada' })
    assert.equal(created.status, 201)
    userId = String(created.body.user_id)
    const org = await api('POST', '/v1/orgs', { name: 'Acme' })
    assert.equal(org.status, 201)
    orgId = String(org.body.org_id)
    assert.equal((await api('POST', `/v1/orgs/${orgId}/members`, { user_id: userId, role: 'Admin' })).status < 300, true)
    const minted = await api('POST', '/v1/access_tokens', { user_id: userId, duration_in_minutes: 30 })
    assert.equal(minted.status, 200)
    token = String(minted.body.access_token)

    assert.equal(await asUser('/api/whoami', token), 200)
    assert.equal(upstream.last().headers['x-gatehouse-user-id'], userId)
    assert.equal(await asUser(`/org/${orgId}/admin`, token), 200)
    assert.equal(upstream.last().headers['x-gatehouse-org-role'], 'Admin')
    // Admin has no can_view_billing in the configured roles.
    assert.equal(await asUser(`/org/${orgId}/billing`, token), 403)
  })

  it('publishes the access-token keys, which verify the minted token', async () => {
    const jwks = (await (await fetch(`${admin}/.well-known/access-token-jwks.json`)).json()) as { keys: Record<string, unknown>[] }
    assert.equal(jwks.keys.length, 1)
    assert.equal(jwks.keys[0]!.d, undefined, 'no private member is published')
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), { issuer: 'urn:gatehouse:local', algorithms: ['ES256'] })
    assert.equal(payload.user_id, userId)
  })

  it('an active-org token carries only that org', async () => {
    const other = await api('POST', '/v1/orgs', { name: 'Other' })
    const minted = await api('POST', '/v1/access_tokens', { user_id: userId, duration_in_minutes: 5, active_org_id: orgId })
    assert.equal(minted.status, 200)
    assert.equal(await asUser(`/org/${orgId}/admin`, String(minted.body.access_token)), 200)
    const refused = await api('POST', '/v1/access_tokens', { user_id: userId, duration_in_minutes: 5, active_org_id: other.body.org_id })
    assert.equal(refused.status, 400)
  })

  it('a disabled user’s token stops at once; enabled again, it works', async () => {
    assert.equal((await api('POST', `/v1/users/${userId}/disable`)).status < 300, true)
    assert.equal(await asUser('/api/whoami', token), 401)
    assert.equal((await api('POST', '/v1/access_tokens', { user_id: userId, duration_in_minutes: 5 })).status, 404)
    assert.equal((await api('POST', `/v1/users/${userId}/enable`)).status < 300, true)
    assert.equal(await asUser('/api/whoami', token), 200)
  })

  it('users, orgs, memberships and the signing key survive a restart on the same file', async () => {
    await running.close()
    await start()
    const user = await api('GET', `/v1/users/${userId}?include_orgs=true`)
    assert.equal(user.status, 200)
    assert.equal(user.body.email, 'ada@example.com')
    const orgs = user.body.org_id_to_org_info as Record<string, { user_role: string }>
    assert.equal(orgs[orgId]?.user_role, 'Admin')
    // The token minted before the restart still verifies: the key lives in the store.
    assert.equal(await asUser(`/org/${orgId}/admin`, token), 200)
  })

  it('a deleted user’s token stops at once', async () => {
    assert.equal((await api('DELETE', `/v1/users/${userId}`)).status < 300, true)
    assert.equal(await asUser('/api/whoami', token), 401)
    assert.equal((await api('GET', `/v1/users/${userId}`)).status, 404)
  })
})
