import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { authorize, explainAuthorization, requestOrgIdLookup, unevaluatedChecks } from '../../src/authz/index.ts'
import { authorizationChecks } from '../../src/authz/checks.ts'
import { ProblemError } from '../../src/http/index.ts'
import { CredentialError } from '../../src/authn/index.ts'
import { VERIFIED_BY } from '../../src/identity/index.ts'
import type { Identity } from '../../src/identity/index.ts'
import { compileRoutes } from '../../src/rules/index.ts'
import type { RouteRule } from '../../src/rules/index.ts'

const ORG = 'org-1'

function route(rule: Partial<RouteRule>) {
  const { table, problems } = compileRoutes([{ path: '/orgs/:org_id/x', auth: 'org_member', pass_credentials: false, ...rule }])
  assert.deepEqual(problems, [])
  return table.routes[0]!
}

function member(role: string, inheritedRoles: string[], permissions: string[] = []): Identity {
  return {
    principal: 'user',
    method: 'token',
    user: { userId: 'u1', properties: {} },
    orgs: { [ORG]: { orgId: ORG, orgName: 'Acme', role, inheritedRoles, permissions } },
    [VERIFIED_BY]: 'local',
  }
}

const inOrg = requestOrgIdLookup({ org_id: ORG }, [], '')
const verdicts = (r: ReturnType<typeof route>, identity: Identity, lookup = inOrg) =>
  explainAuthorization(r, identity, lookup).map(({ check, verdict, detail }) =>
    detail ? `${check} ${verdict}: ${detail}` : `${check} ${verdict}`,
  )

/** What authorize answers: the membership's org, or the refusal's status and detail. */
function decided(r: ReturnType<typeof route>, identity: Identity, lookup = inOrg): string {
  try {
    return `allowed ${authorize(r, identity, lookup)?.orgId ?? ''}`.trim()
  } catch (err) {
    assert.ok(err instanceof ProblemError)
    return `${err.status} ${err instanceof CredentialError ? err.reason : err.problem.detail}`
  }
}

describe('authorization checks', () => {
  it('are built once per compiled route, in the order they are decided', () => {
    const r = route({ role: 'Admin', min_role: 'Member', all_permissions: ['a'], scopes: ['read'], issuers: ['local'] })
    assert.equal(authorizationChecks(r), authorizationChecks(r), 'the same list for every request')
    assert.deepEqual(
      authorizationChecks(r).map((c) => c.code),
      ['credential_kind', 'issuer', 'scopes', 'org_id', 'membership', 'role', 'min_role', 'permissions'],
    )
    assert.deepEqual(
      authorizationChecks(route({ path: '/me', auth: 'user' })).map((c) => c.code),
      ['credential_kind', 'user_principal'],
    )
    assert.deepEqual(authorizationChecks(route({ path: '/open', auth: 'none' })), [])
    assert.deepEqual(authorizationChecks(route({ path: '/maybe', auth: 'optional' })), [])
  })

  it('describe what each requires', () => {
    const r = route({ min_role: 'Owner', permission: 'can_x', org_id: { from: 'header', name: 'X-Org-Id' }, path: '/x' })
    assert.deepEqual(
      unevaluatedChecks(r).map(({ check, description, verdict }) => [check, description, verdict]),
      [
        ['credential_kind', 'the credential is one of token, personal_key, org_key', 'not_evaluated'],
        ['org_id', 'the request names an org in the header X-Org-Id', 'not_evaluated'],
        ['membership', 'the caller is a member of that org', 'not_evaluated'],
        ['min_role', "the caller's role in the org is Owner or above", 'not_evaluated'],
        ['permissions', 'the caller has the permissions can_x in the org', 'not_evaluated'],
      ],
    )
  })

  it('pass one by one for a caller that meets them all, and authorize returns the membership', () => {
    const r = route({ role: 'Admin', min_role: 'Member', permission: 'can_x' })
    const admin = member('Admin', ['Admin', 'Member'], ['can_x'])
    assert.deepEqual(verdicts(r, admin), [
      'credential_kind passed',
      'org_id passed',
      'membership passed',
      'role passed',
      'min_role passed',
      'permissions passed',
    ])
    assert.equal(decided(r, admin), `allowed ${ORG}`)
  })

  it('a wrong role fails its check; authorize refuses with the first failure, explain reports each', () => {
    const r = route({ role: 'Owner', min_role: 'Owner', permission: 'can_x' })
    const identity = member('Admin', ['Admin', 'Member'])
    assert.deepEqual(verdicts(r, identity), [
      'credential_kind passed',
      'org_id passed',
      'membership passed',
      "role failed: User doesn't have required role",
      "min_role failed: User doesn't have required role",
      "permissions failed: User doesn't have required permission",
    ])
    assert.equal(decided(r, identity), "403 User doesn't have required role")
  })

  it('after the membership failed, the checks that read it are not evaluated', () => {
    const r = route({ min_role: 'Member' })
    const stranger = { ...member('Admin', ['Admin']), orgs: {} }
    assert.deepEqual(verdicts(r, stranger), [
      'credential_kind passed',
      'org_id passed',
      `membership failed: User is not a member of org ${ORG}`,
      'min_role not_evaluated: membership failed',
    ])
    assert.equal(decided(r, stranger), `403 User is not a member of org ${ORG}`)
  })

  it('an org id the request does not give fails org_id, and everything after it waits', () => {
    const r = route({ path: '/x', role: 'Admin', org_id: { from: 'query', name: 'org' } })
    const identity = member('Admin', ['Admin'])
    assert.deepEqual(verdicts(r, identity), [
      'credential_kind passed',
      'org_id failed: Required org is unspecified',
      'membership not_evaluated: org_id failed',
      'role not_evaluated: membership failed',
    ])
    assert.equal(decided(r, identity), '403 Required org is unspecified')
    const repeated = requestOrgIdLookup({}, [], `?org=${ORG}&org=other`)
    assert.equal(verdicts(r, identity, repeated)[1], 'org_id failed: The query parameter org was given more than once')
    assert.equal(decided(r, identity, requestOrgIdLookup({}, [], `?org=${ORG}`)), `allowed ${ORG}`)
  })

  it("the caller's own checks are each evaluated, whichever failed first", () => {
    const r = route({ path: '/svc', auth: 'user', credentials: ['token'], scopes: ['write'], issuers: ['other'] })
    const key: Identity = {
      principal: 'user',
      method: 'api_key',
      orgs: {},
      apiKey: { id: 'k1', type: 'personal', scopes: ['read'], metadata: {}, expiresAt: null },
    }
    assert.deepEqual(verdicts(r, key), [
      'credential_kind failed: This route does not accept this kind of credential',
      'issuer passed',
      "scopes failed: API key doesn't have the required scopes",
      'user_principal passed',
    ])
    assert.equal(decided(r, key), '403 This route does not accept this kind of credential')
    const service: Identity = { principal: 'service', method: 'token', orgs: {}, scopes: ['write'], [VERIFIED_BY]: 'local' }
    assert.deepEqual(verdicts(r, service), [
      'credential_kind failed: This route does not accept this kind of credential',
      'issuer failed: the token was verified by an issuer this route does not list in issuers',
      'scopes passed',
      'user_principal failed: This route requires a user',
    ])
  })

  it('an issuer the route does not list is a 401 invalid_token, as before the checks were a list', () => {
    const r = route({ path: '/t', auth: 'authenticated', issuers: ['partner'] })
    const identity = member('Admin', ['Admin'])
    assert.equal(decided(r, identity), '401 the token was verified by an issuer this route does not list in issuers')
    assert.deepEqual(verdicts(r, identity), [
      'credential_kind passed',
      'issuer failed: the token was verified by an issuer this route does not list in issuers',
    ])
  })
})
