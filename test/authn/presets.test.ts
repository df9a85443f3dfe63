import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createTokenVerifier } from '../../src/authn/index.ts'
import { authorize } from '../../src/authz/index.ts'
import { configWarnings, parseConfig } from '../../src/config/index.ts'
import { ProblemError } from '../../src/http/index.ts'
import { createRoleTable } from '../../src/identity/index.ts'
import type { Identity } from '../../src/identity/index.ts'
import { createKey, nowSeconds, pemOf, sign } from './fixtures.ts'

// Tokens in each provider's documented shape (docs/IDENTITY_PROVIDERS.md cites the sources),
// signed by a local key and verified by the real verifier, from issuer entries parsed as config.
const key = await createKey('RS256', 'preset-key')
const pem = JSON.stringify(await pemOf(key))

const CLERK = 'https://clerk.example.com'
const AUTH0 = 'https://example.eu.auth0.com/'
const KEYCLOAK = 'https://sso.example.com/realms/acme'
const OKTA = 'https://example.okta.com/oauth2/default'

const YAML = `
upstream: { url: http://127.0.0.1:1 }
roles:
  - { name: Owner, permissions: [billing] }
  - { name: Admin, permissions: [manage_keys] }
  - { name: Member, permissions: [read] }
tokens:
  issuers:
    - { issuer: "${CLERK}", public_key: ${pem}, claims: clerk, role_map: { "org:billing_manager": Owner } }
    - { issuer: "${AUTH0}", public_key: ${pem}, claims: auth0, audience: api, oidc: { org_role: "https://example.com/roles" } }
    - { issuer: "${KEYCLOAK}", public_key: ${pem}, claims: keycloak, client_roles: orders-api }
    - issuer: "${OKTA}"
      public_key: ${pem}
      claims: oidc
      audience: api://default
      oidc: { org_id: org, org_role: groups }
      role_map: { "Everyone": Member, "Org Admins": Admin }
      permissions_claim: perms
routes:
  - { path: /x, auth: none }
`

const { config } = parseConfig(YAML, 'presets.yaml', {})
const roles = createRoleTable(config.roles)
const verifier = await createTokenVerifier({
  issuers: config.tokens.issuers,
  leewayMs: 0,
  cache: { maxEntries: 100, ttlMs: 60_000 },
  jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
  roles,
  configDir: '.',
})

const verify = async (claims: Record<string, unknown>) =>
  verifier.verify(await sign(key, { user_id: undefined, iat: nowSeconds(), exp: nowSeconds() + 300, ...claims }))
const plain = (identity: Identity) => ({ ...identity, orgs: { ...identity.orgs } })

test('clerk v2 session token: o.id, o.slg, o.rol without org:, permissions unpacked from fea, per and fpm', async () => {
  // https://clerk.com/docs/guides/sessions/session-tokens (version 2), decoded as @clerk/shared's jwtPayloadParser does.
  const identity = await verify({
    iss: CLERK,
    sub: 'user_2NNEqL2nrIRdJ194ndJqAHwEfxC',
    sid: 'sess_123',
    azp: 'https://app.example.com',
    v: 2,
    fva: [7, -1],
    pla: 'u:free_user,o:pro',
    fea: 'o:invoices,o:reports,u:profile',
    o: { id: 'org_2d9', slg: 'acme', rol: 'admin', per: 'read,manage', fpm: '3,1' },
    sts: 'active',
  })
  assert.deepEqual(plain(identity), {
    principal: 'user',
    method: 'token',
    user: { userId: 'user_2NNEqL2nrIRdJ194ndJqAHwEfxC', properties: {} },
    orgs: {
      org_2d9: {
        orgId: 'org_2d9',
        orgName: 'acme',
        role: 'Admin',
        inheritedRoles: ['Admin', 'Member'],
        permissions: ['manage_keys', 'read', 'org:invoices:read', 'org:invoices:manage', 'org:reports:read'],
      },
    },
  })
})

test('clerk v1 session token: org_id, org_role with org:, org_permissions; role_map overrides; act is the impersonator', async () => {
  const v1 = await verify({
    iss: CLERK,
    sub: 'user_1',
    org_id: 'org_1',
    org_slug: 'one',
    org_role: 'org:member',
    org_permissions: ['org:invoices:read'],
    act: { sub: 'user_support' },
  })
  assert.equal(v1.user?.impersonatorUserId, 'user_support')
  assert.deepEqual(v1.orgs.org_1, {
    orgId: 'org_1',
    orgName: 'one',
    role: 'Member',
    inheritedRoles: ['Member'],
    permissions: ['read', 'org:invoices:read'],
  })
  const mapped = await verify({ iss: CLERK, sub: 'user_2', org_id: 'org_1', org_role: 'org:billing_manager' })
  assert.equal(mapped.orgs.org_1?.role, 'Owner')
  // A role the config does not know stays as stated and passes no role check.
  const unknown = await verify({ iss: CLERK, sub: 'user_3', v: 2, o: { id: 'org_1', rol: 'viewer' } })
  assert.deepEqual([unknown.orgs.org_1?.role, unknown.orgs.org_1?.inheritedRoles], ['org:viewer', []])
  const noOrg = await verify({ iss: CLERK, sub: 'user_4', v: 2 })
  assert.deepEqual({ ...noOrg.orgs }, {})
})

test('auth0: sub, Organizations org_id/org_name, RBAC permissions, a namespaced roles claim; M2M tokens are services', async () => {
  // https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles, .../organizations/using-tokens
  const user = await verify({
    iss: AUTH0,
    sub: 'auth0|5f7c8ec7c33c6c004bbafe82',
    aud: ['api', 'https://example.eu.auth0.com/userinfo'],
    azp: 'my-spa-client-id',
    scope: 'openid profile read:reports',
    org_id: 'org_9ybsU1dN2dKfDkBi',
    org_name: 'acme',
    permissions: ['read:reports', 'create:reports'],
    'https://example.com/roles': ['member', 'ADMIN'],
  })
  assert.equal(user.principal, 'user')
  assert.equal(user.user?.userId, 'auth0|5f7c8ec7c33c6c004bbafe82')
  assert.deepEqual(user.scopes, ['openid', 'profile', 'read:reports'])
  assert.deepEqual(user.orgs.org_9ybsU1dN2dKfDkBi, {
    orgId: 'org_9ybsU1dN2dKfDkBi',
    orgName: 'acme',
    role: 'Admin',
    inheritedRoles: ['Admin', 'Member'],
    permissions: ['read', 'manage_keys', 'read:reports', 'create:reports'],
  })
  // Through an org, without RBAC permissions or a role claim: a member of that org with no role.
  const plainMember = await verify({ iss: AUTH0, sub: 'auth0|2', aud: 'api', org_id: 'org_2' })
  assert.deepEqual(plainMember.orgs.org_2, { orgId: 'org_2', orgName: 'org_2', role: '', inheritedRoles: [], permissions: [] })
  const m2m = await verify({
    iss: AUTH0,
    sub: 'AbCdEf123@clients',
    aud: 'api',
    azp: 'AbCdEf123',
    gty: 'client-credentials',
    scope: 'read:reports',
  })
  assert.deepEqual(plain(m2m), { principal: 'service', method: 'token', orgs: {}, clientId: 'AbCdEf123', scopes: ['read:reports'] })
})

test('keycloak: realm and one named client roles, preferred_username, the realm as org; service accounts', async () => {
  // https://www.keycloak.org/docs/latest/server_admin/ (token claims; service accounts; organizations)
  const user = await verify({
    iss: KEYCLOAK,
    sub: 'f1d2c3b4-0000-4000-8000-000000000001',
    typ: 'Bearer',
    azp: 'web-frontend',
    preferred_username: 'ada',
    email: 'ada@example.com',
    given_name: 'Ada',
    family_name: 'Lovelace',
    realm_access: { roles: ['offline_access', 'uma_authorization', 'default-roles-acme'] },
    resource_access: { 'orders-api': { roles: ['admin'] }, playground: { roles: ['owner'] } },
    scope: 'openid email profile',
  })
  assert.deepEqual(user.user, {
    userId: 'f1d2c3b4-0000-4000-8000-000000000001',
    email: 'ada@example.com',
    username: 'ada',
    firstName: 'Ada',
    lastName: 'Lovelace',
    properties: {},
  })
  // orders-api's admin counts; playground's owner does not (client_roles names only orders-api).
  assert.equal(user.orgs.acme?.role, 'Admin')
  assert.deepEqual(user.orgs.acme?.inheritedRoles, ['Admin', 'Member'])

  const inOrgs = await verify({
    iss: KEYCLOAK,
    sub: 'u-2',
    realm_access: { roles: ['member'] },
    organization: { 'acme-corp': { id: '42c3e0a1-org' }, beta: {} },
  })
  assert.deepEqual(Object.keys(inOrgs.orgs).sort(), ['42c3e0a1-org', 'beta'])
  assert.equal(inOrgs.orgs['42c3e0a1-org']?.orgName, 'acme-corp')

  const service = await verify({
    iss: KEYCLOAK,
    sub: 'a0b1c2d3-service-account-user',
    azp: 'billing-worker',
    client_id: 'billing-worker',
    preferred_username: 'service-account-billing-worker',
    realm_access: { roles: ['default-roles-acme'] },
    scope: 'profile email',
  })
  assert.deepEqual([service.principal, service.clientId, service.user], ['service', 'billing-worker', undefined])
})

test('oidc (Okta-shaped): groups array with role_map in any case, permissions claim as a space-separated string, scp array', async () => {
  const identity = await verify({
    iss: OKTA,
    sub: '00u1ab2cd3',
    aud: 'api://default',
    cid: '0oa1web',
    scp: ['openid', 'orders:read'],
    org: 'org-okta',
    groups: ['everyone', 'org admins'],
    perms: 'orders:read orders:write',
  })
  assert.deepEqual(identity.scopes, ['openid', 'orders:read'])
  assert.deepEqual(identity.orgs['org-okta'], {
    orgId: 'org-okta',
    orgName: 'org-okta',
    role: 'Admin',
    inheritedRoles: ['Admin', 'Member'],
    permissions: ['read', 'manage_keys', 'orders:read', 'orders:write'],
  })
  // Client credentials at Okta: sub is the client id, as cid is, and no user claim is present.
  const service = await verify({ iss: OKTA, sub: '0oa1svc', cid: '0oa1svc', aud: 'api://default', scp: ['orders:read'] })
  assert.deepEqual([service.principal, service.clientId, service.scopes], ['service', '0oa1svc', ['orders:read']])
  // The same subject with a user claim is a user, not a service.
  const person = await verify({ iss: OKTA, sub: '0oa1svc', cid: '0oa1svc', aud: 'api://default', email: 'x@example.com' })
  assert.equal(person.principal, 'user')
})

test('service tokens and scopes against route rules', async () => {
  const service = await verify({ iss: AUTH0, sub: 'c@clients', azp: 'c', aud: 'api', gty: 'client-credentials', scope: 'read' })
  const user = await verify({ iss: AUTH0, sub: 'auth0|u', aud: 'api' })
  const route = (rule: Record<string, unknown>) => {
    const { routes } = parseConfig(
      `upstream: { url: http://127.0.0.1:1 }\nroutes:\n  - ${JSON.stringify({ path: '/x', ...rule })}\n`,
      'r.yaml',
      {},
    )
    return routes.routes[0]!
  }
  const lookup = { params: {}, header: () => undefined, query: () => undefined }
  const outcome = (rule: Record<string, unknown>, identity: Identity) => {
    try {
      authorize(route(rule), identity, lookup)
      return 'allowed'
    } catch (err) {
      return err instanceof ProblemError ? `${err.status} ${err.problem.detail}` : 'threw'
    }
  }
  assert.equal(outcome({ auth: 'authenticated' }, service), 'allowed')
  assert.equal(outcome({ auth: 'authenticated', credentials: ['service_token'] }, service), 'allowed')
  assert.equal(
    outcome({ auth: 'authenticated', credentials: ['service_token'] }, user),
    '403 This route does not accept this kind of credential',
  )
  assert.equal(
    outcome({ auth: 'authenticated', credentials: ['token'] }, service),
    '403 This route does not accept this kind of credential',
  )
  assert.equal(outcome({ auth: 'user', credentials: ['token', 'service_token'] }, service), '403 This route requires a user')
  assert.equal(outcome({ auth: 'authenticated', scopes: ['read'] }, service), 'allowed')
  assert.equal(outcome({ auth: 'authenticated', scopes: ['write'] }, service), "403 Token doesn't have the required scopes")
  // A user token that states no scopes is not narrowed by them (first-party session tokens).
  assert.equal(outcome({ auth: 'authenticated', scopes: ['write'] }, user), 'allowed')
})

test('check warns when a preset maps to roles the config does not define', () => {
  const yaml = `upstream: { url: http://127.0.0.1:1 }
roles: [{ name: Admin }]
tokens:
  issuers:
    - { issuer: "${CLERK}", public_key: k, claims: clerk, role_map: { "org:billing": Billing } }
    - { issuer: "${KEYCLOAK}", public_key: k, claims: keycloak, audience: api }
    - { issuer: "${AUTH0}", public_key: k, claims: auth0, oidc: { org_role: "https://example.com/roles" } }
routes: [{ path: /x, auth: none }]
`
  const warnings = configWarnings(parseConfig(yaml, 'w.yaml', {}).config)
  assert.deepEqual(warnings, [
    `tokens.issuers[0] (${CLERK}): role_map maps "org:billing" to "Billing", which roles: does not define; it passes no role check`,
    `tokens.issuers[2] (${AUTH0}): claims: auth0 without audience: an ID token for another client would pass; set audience`,
  ])
  const none = configWarnings(
    parseConfig(yaml.replace('roles: [{ name: Admin }]\n', '').replace(', role_map: { "org:billing": Billing }', ''), 'w.yaml', {}).config,
  )
  assert.deepEqual(none, [
    `tokens.issuers[0] (${CLERK}): claims: clerk maps the token's roles to roles: but none are defined; no token passes a role check`,
    `tokens.issuers[1] (${KEYCLOAK}): claims: keycloak maps the token's roles to roles: but none are defined; no token passes a role check`,
    `tokens.issuers[2] (${AUTH0}): claims: auth0 without audience: an ID token for another client would pass; set audience`,
    `tokens.issuers[2] (${AUTH0}): claims: auth0 maps the token's roles to roles: but none are defined; no token passes a role check`,
  ])
})

test.after(() => verifier.close())
