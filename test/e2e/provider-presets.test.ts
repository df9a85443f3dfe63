import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

// Each provider's preset through the real gateway, with tokens in the provider's shape signed by
// a local key behind a real JWKS endpoint; roles are the plain names a team configures.
const CLERK = 'https://clerk.presets.test'
const AUTH0 = 'https://presets.eu.auth0.com/'
const KEYCLOAK = 'https://sso.presets.test/realms/acme'
const API = 'https://api.presets.test'

describe('provider presets through the gateway', () => {
  let upstream: TestUpstream
  let clerk: TestIssuer
  let auth0: TestIssuer
  let keycloak: TestIssuer
  let gateway: TestGateway

  before(async () => {
    upstream = await startUpstream()
    ;[clerk, auth0, keycloak] = await Promise.all([startIssuer(), startIssuer(), startIssuer()])
    gateway = await startGateway({
      upstream: { url: upstream.url },
      roles: [{ name: 'Admin', permissions: ['members:write'] }, { name: 'Member' }],
      tokens: {
        issuers: [
          { issuer: CLERK, jwks_url: clerk.jwksUrl, algorithms: ['ES256'], claims: 'clerk' },
          { issuer: AUTH0, jwks_url: auth0.jwksUrl, algorithms: ['ES256'], claims: 'auth0', audience: API },
          { issuer: KEYCLOAK, jwks_url: keycloak.jwksUrl, algorithms: ['ES256'], claims: 'keycloak', client_roles: 'orders-api' },
        ],
      },
      routes: [
        { path: '/orgs/:org_id/admin', auth: 'org_member', role: 'Admin' },
        { path: '/orgs/:org_id/invoices', auth: 'org_member', permission: 'org:invoices:create' },
        { path: '/orgs/:org_id/*', auth: 'org_member', min_role: 'Member' },
        { path: '/jobs', auth: 'authenticated', credentials: ['service_token'], scopes: ['jobs:run'] },
        { path: '/me', auth: 'user' },
      ],
    })
    for (let i = 0; i < 50 && (await fetch(`${gateway.adminUrl}/readyz`)).status !== 200; i++) await delay(50)
  })

  after(async () => {
    await gateway.close()
    await Promise.all([clerk.close(), auth0.close(), keycloak.close()])
    await upstream.close()
  })

  const status = async (path: string, token: string) => {
    const res = await fetch(gateway.url + path, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    return res.status
  }
  const last = () => upstream.last().headers

  it('clerk v2: o.rol "admin" meets role: Admin with no role_map; o.per/o.fpm permissions meet permission rules', async () => {
    const admin = await clerk.sign({
      iss: CLERK,
      sub: 'user_2admin',
      sid: 'sess_1',
      v: 2,
      fea: 'o:invoices',
      o: { id: 'org_acme', slg: 'acme', rol: 'admin', per: 'create,read', fpm: '3' },
    })
    assert.equal(await status('/orgs/org_acme/admin', admin), 200)
    assert.deepEqual(
      [last()['x-gatehouse-user-id'], last()['x-gatehouse-org-id'], last()['x-gatehouse-org-name'], last()['x-gatehouse-org-role']],
      ['user_2admin', 'org_acme', 'acme', 'Admin'],
    )
    assert.equal(last()['x-gatehouse-org-permissions'], 'members:write,org:invoices:create,org:invoices:read')
    assert.equal(await status('/orgs/org_acme/invoices', admin), 200)
    assert.equal(await status('/orgs/org_other/admin', admin), 403, 'only the active org')

    const member = await clerk.sign({ iss: CLERK, sub: 'user_2member', org_id: 'org_acme', org_role: 'org:member', org_permissions: [] })
    assert.equal(await status('/orgs/org_acme/things', member), 200)
    assert.equal(last()['x-gatehouse-org-role'], 'Member')
    assert.equal(await status('/orgs/org_acme/admin', member), 403)
    assert.equal(await status('/orgs/org_acme/invoices', member), 403)

    const unknownRole = await clerk.sign({ iss: CLERK, sub: 'user_2x', v: 2, o: { id: 'org_acme', rol: 'billing' } })
    assert.equal(await status('/orgs/org_acme/things', unknownRole), 403, 'a role the config does not know passes no role check')
  })

  it('auth0: an M2M token is a service (its azp the client) for service_token routes with its scopes; never auth: user', async () => {
    const m2m = await auth0.sign({
      iss: AUTH0,
      sub: 'WorkerClient123@clients',
      aud: API,
      azp: 'WorkerClient123',
      gty: 'client-credentials',
      scope: 'jobs:run',
    })
    assert.equal(await status('/jobs', m2m), 200)
    assert.deepEqual([last()['x-gatehouse-principal'], last()['x-gatehouse-client-id']], ['service', 'WorkerClient123'])
    assert.equal(await status('/me', m2m), 403)
    const unscoped = await auth0.sign({
      iss: AUTH0,
      sub: 'Other@clients',
      aud: API,
      azp: 'Other',
      gty: 'client-credentials',
      scope: 'read',
    })
    assert.equal(await status('/jobs', unscoped), 403)

    const user = await auth0.sign({ iss: AUTH0, sub: 'auth0|u1', aud: API, org_id: 'org_a0', permissions: ['org:invoices:create'] })
    assert.equal(await status('/jobs', user), 403, 'a user token is not a service token')
    assert.equal(await status('/orgs/org_a0/invoices', user), 200)
    assert.equal(await status('/orgs/org_a0/things', user), 403, 'no role: min_role Member is not met')
  })

  it('keycloak: the named client role counts, another client’s does not; the realm is the org', async () => {
    const token = (resourceAccess: Record<string, unknown>) =>
      keycloak.sign({
        iss: KEYCLOAK,
        sub: 'f1d2c3b4-0000-4000-8000-000000000001',
        azp: 'web',
        preferred_username: 'ada',
        realm_access: { roles: ['offline_access', 'member'] },
        resource_access: resourceAccess,
      })
    assert.equal(await status('/orgs/acme/admin', await token({ 'orders-api': { roles: ['admin'] } })), 200)
    assert.equal(last()['x-gatehouse-org-role'], 'Admin')
    assert.equal(await status('/orgs/acme/admin', await token({ playground: { roles: ['admin'] } })), 403)
    assert.equal(await status('/orgs/acme/things', await token({})), 200)
    assert.equal(last()['x-gatehouse-org-role'], 'Member')
  })
})
