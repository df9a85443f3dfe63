import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createClaimsMapper, InvalidTokenError, oidcIdentity, propelauthIdentity } from '../../src/authn/index.ts'
import type { OrgMembership } from '../../src/identity/index.ts'
import { ROLES, issuerConfig } from './fixtures.ts'

// The claims of a PropelAuth access token as documented in reference/api-semantics.md (a).
const orgMemberInfo = (orgId: string, orgName: string, role: string, permissions: string[]) => ({
  org_id: orgId,
  org_name: orgName,
  url_safe_org_name: orgName.toLowerCase(),
  org_metadata: { plan: 'pro' },
  user_role: role,
  inherited_user_roles_plus_current_role: [role, 'Member'],
  user_permissions: permissions,
  org_role_structure: 'single_role_in_hierarchy',
  additional_roles: [],
  legacy_org_id: 'legacy-org',
})

const PROPELAUTH_CLAIMS = {
  user_id: '2f9b1c7e-5d4a-4c1b-9b0e-1f2a3b4c5d6e',
  email: 'a@b.com',
  first_name: 'Ada',
  last_name: 'Lovelace',
  username: 'ada',
  properties: { favourite_colour: 'green', nested: { n: 1 } },
  metadata: { ignored: true },
  legacy_user_id: 'legacy-1',
  impersonator_user_id: '9a8b7c6d-0000-4000-8000-000000000000',
  login_method: { login_method: 'password' },
  org_id_to_org_member_info: {
    'org-acme': orgMemberInfo('org-acme', 'Acme', 'Admin', ['manage_keys', 'read']),
    'org-beta': orgMemberInfo('org-beta', 'Beta', 'Member', ['read']),
  },
  iat: 1700000000,
  exp: 1700001800,
  iss: 'https://auth.example.com',
}

const plain = (orgs: Record<string, OrgMembership>) => ({ ...orgs })

test('propelauth claims map to a user Identity with config-derived role hierarchies', () => {
  const identity = propelauthIdentity(PROPELAUTH_CLAIMS, ROLES)
  assert.deepEqual(
    { ...identity, orgs: plain(identity.orgs) },
    {
      principal: 'user',
      method: 'token',
      user: {
        userId: '2f9b1c7e-5d4a-4c1b-9b0e-1f2a3b4c5d6e',
        email: 'a@b.com',
        firstName: 'Ada',
        lastName: 'Lovelace',
        username: 'ada',
        properties: { favourite_colour: 'green', nested: { n: 1 } },
        legacyUserId: 'legacy-1',
        impersonatorUserId: '9a8b7c6d-0000-4000-8000-000000000000',
      },
      orgs: {
        'org-acme': {
          orgId: 'org-acme',
          orgName: 'Acme',
          role: 'Admin',
          inheritedRoles: ['Admin', 'Member'],
          permissions: ['manage_keys', 'read'],
        },
        'org-beta': { orgId: 'org-beta', orgName: 'Beta', role: 'Member', inheritedRoles: ['Member'], permissions: ['read'] },
      },
    },
  )
  assert.equal(identity.activeOrg, undefined)
})

test('an active-org token: org_member_info replaces the map', () => {
  const identity = propelauthIdentity(
    { ...PROPELAUTH_CLAIMS, org_member_info: orgMemberInfo('org-gamma', 'Gamma', 'Owner', ['billing']) },
    ROLES,
  )
  assert.deepEqual(plain(identity.orgs), {
    'org-gamma': {
      orgId: 'org-gamma',
      orgName: 'Gamma',
      role: 'Owner',
      inheritedRoles: ['Owner', 'Admin', 'Member'],
      permissions: ['billing'],
    },
  })
  // Even a malformed org_member_info never widens the token back to the whole map.
  assert.deepEqual(plain(propelauthIdentity({ ...PROPELAUTH_CLAIMS, org_member_info: 'org-gamma' }, ROLES).orgs), {})
})

test('a role the config does not know gets no inherited roles, whatever the token claims', () => {
  const identity = propelauthIdentity(
    {
      user_id: 'u',
      org_id_to_org_member_info: {
        o: { ...orgMemberInfo('o', 'O', 'SuperAdmin', ['x']), inherited_user_roles_plus_current_role: ['SuperAdmin', 'Owner', 'Admin'] },
      },
    },
    ROLES,
  )
  assert.deepEqual(identity.orgs.o?.inheritedRoles, [])
  assert.equal(identity.orgs.o?.role, 'SuperAdmin')
})

test('propelauth claims are read defensively', () => {
  assert.throws(() => propelauthIdentity({ email: 'a@b.com' }, ROLES), InvalidTokenError)
  assert.throws(() => propelauthIdentity({ user_id: 42 }, ROLES), InvalidTokenError)
  assert.throws(() => propelauthIdentity({ user_id: '' }, ROLES), InvalidTokenError)

  const identity = propelauthIdentity(
    {
      user_id: 'u',
      email: ['a@b.com'],
      first_name: null,
      properties: ['not', 'an', 'object'],
      impersonator_user_id: '',
      org_id_to_org_member_info: {
        noRole: { org_id: 'noRole', org_name: 'No role' },
        numericRole: { org_id: 'numericRole', org_name: 'N', user_role: 3 },
        notObject: 'Admin',
        mismatch: { org_id: 'other', org_name: 'Other', user_role: 'Owner' },
        noName: { org_id: 'noName', user_role: 'Member', user_permissions: ['read', 7, null] },
      },
    },
    ROLES,
  )
  assert.deepEqual(identity.user, { userId: 'u', properties: {} })
  assert.deepEqual(Object.keys(identity.orgs).sort(), ['noName'])
  assert.deepEqual(identity.orgs.noName, {
    orgId: 'noName',
    orgName: 'noName',
    role: 'Member',
    inheritedRoles: ['Member'],
    permissions: ['read'],
  })
  // The orgs map has no prototype: request-supplied ids like these find nothing.
  assert.equal(identity.orgs.constructor, undefined)
  assert.equal(identity.orgs.toString, undefined)

  const protoOrg = propelauthIdentity(
    {
      user_id: 'u',
      org_id_to_org_member_info: JSON.parse('{"__proto__": {"org_id": "__proto__", "org_name": "P", "user_role": "Admin"}}'),
    },
    ROLES,
  )
  const inherited = Object.getPrototypeOf(protoOrg.orgs) as object
  assert.deepEqual(Reflect.ownKeys(inherited), [])
  assert.equal(Object.getPrototypeOf(inherited), null)
  assert.ok(Object.isFrozen(inherited))
  assert.equal(protoOrg.orgs.__proto__?.role, 'Admin')
  assert.equal(protoOrg.orgs.orgId, undefined)

  assert.deepEqual(plain(propelauthIdentity({ user_id: 'u', org_id_to_org_member_info: [1, 2] }, ROLES).orgs), {})
})

test("inherited roles are the role table's shared, frozen arrays: no identity can change them", () => {
  const identity = propelauthIdentity({ user_id: 'u', org_member_info: orgMemberInfo('o', 'O', 'Admin', []) }, ROLES)
  assert.equal(identity.orgs.o!.inheritedRoles, ROLES.inheritedRoles('Admin'))
  assert.throws(() => (identity.orgs.o!.inheritedRoles as string[]).push('Owner'), TypeError)
  assert.deepEqual(ROLES.inheritedRoles('Admin'), ['Admin', 'Member'])
})

const OIDC = {
  userId: 'sub',
  email: 'email',
  orgId: 'o.id',
  orgName: 'o.name',
  orgRole: 'https://example.com/role',
}

test('oidc claims map through the configured claim names and dotted paths', () => {
  const identity = oidcIdentity(
    { sub: 'auth0|42', email: 'x@y.z', o: { id: 'org-1', name: 'One' }, 'https://example.com/role': 'Admin' },
    OIDC,
    ROLES,
  )
  assert.deepEqual(
    { ...identity, orgs: plain(identity.orgs) },
    {
      principal: 'user',
      method: 'token',
      user: { userId: 'auth0|42', email: 'x@y.z', properties: {} },
      orgs: {
        'org-1': {
          orgId: 'org-1',
          orgName: 'One',
          role: 'Admin',
          inheritedRoles: ['Admin', 'Member'],
          permissions: ['manage_keys', 'read'],
        },
      },
    },
  )
})

test('oidc: org name defaults to the id, an unknown role gets nothing, no role means no membership', () => {
  const noName = oidcIdentity({ sub: 's', o: { id: 'org-1' }, 'https://example.com/role': 'Member' }, OIDC, ROLES)
  assert.deepEqual(noName.orgs['org-1'], {
    orgId: 'org-1',
    orgName: 'org-1',
    role: 'Member',
    inheritedRoles: ['Member'],
    permissions: ['read'],
  })

  const unknownRole = oidcIdentity({ sub: 's', o: { id: 'org-1' }, 'https://example.com/role': 'Root' }, OIDC, ROLES)
  assert.deepEqual(unknownRole.orgs['org-1'], { orgId: 'org-1', orgName: 'org-1', role: 'Root', inheritedRoles: [], permissions: [] })

  const noRole = oidcIdentity({ sub: 's', o: { id: 'org-1' } }, OIDC, ROLES)
  assert.deepEqual(plain(noRole.orgs), {})

  const numericOrg = oidcIdentity({ sub: 's', o: { id: 5 }, 'https://example.com/role': 'Admin' }, OIDC, ROLES)
  assert.deepEqual(plain(numericOrg.orgs), {})

  // Paths read own properties only.
  const inherited = oidcIdentity(
    { sub: 's', o: 'string', 'https://example.com/role': 'Admin' },
    { ...OIDC, orgId: 'o.constructor.name' },
    ROLES,
  )
  assert.deepEqual(plain(inherited.orgs), {})
})

test('oidc: the user id claim is required and must be a string', () => {
  const mapping = { ...OIDC, userId: 'uid' }
  assert.throws(() => oidcIdentity({ sub: 's' }, mapping, ROLES), InvalidTokenError)
  assert.throws(() => oidcIdentity({ uid: { id: 1 } }, mapping, ROLES), InvalidTokenError)
  assert.equal(oidcIdentity({ uid: 'u-1', email: 3 }, mapping, ROLES).user?.email, undefined)
})

test('createClaimsMapper picks the preset of the issuer', () => {
  const oidc = createClaimsMapper(issuerConfig({ claims: 'oidc' }), ROLES)
  assert.equal(oidc({ sub: 'from-sub', user_id: 'from-user-id' }).user?.userId, 'from-sub')
  const propelauth = createClaimsMapper(issuerConfig({ claims: 'propelauth' }), ROLES)
  assert.equal(propelauth({ sub: 'from-sub', user_id: 'from-user-id' }).user?.userId, 'from-user-id')
})
