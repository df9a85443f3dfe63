import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Allow } from '../../src/decide/index.ts'
import { createIdentityFields } from '../../src/forward/identity-fields.ts'
import type { AssertionSigner } from '../../src/forward/assertion.ts'
import { deepFreeze } from '../../src/identity/index.ts'
import type { Identity } from '../../src/identity/index.ts'

const admin = { orgId: 'org_1', orgName: 'Acme', role: 'Admin', inheritedRoles: ['Admin', 'Member'], permissions: ['billing:read'] }
const identityOf = (email: string): Identity => ({
  principal: 'user',
  method: 'token',
  user: { userId: 'user_1', email, properties: {} },
  orgs: { org_1: admin },
})

// The signer's own caching is tested in assertion.test.ts; here it only names what it signed.
const signer: AssertionSigner = {
  sign: (identity) => `signed:${identity.user?.email ?? ''}:${identity.activeOrg?.orgId ?? ''}`,
  signBound: () => 'bound',
  bindsRequests: false,
}
const allowedOf = (identity: Identity, authenticated: Identity): Allow =>
  ({ identity, authenticated, target: { path: '/x', query: '' }, forwarded: { requestId: 'r1' } }) as unknown as Allow

const fieldsOf = () => createIdentityFields({ identityPrefix: 'X-Gatehouse-', assertionHeader: 'X-Gatehouse-Assertion', signer })
const header = (fields: readonly string[], name: string) => fields[fields.indexOf(name) + 1]

describe('identity fields', () => {
  it('gives a shared, frozen identity the same headers on every request, each in a list of its own', () => {
    const fields = fieldsOf()
    const cached = deepFreeze(identityOf('ada@example.com'))
    // Built on the first request, built and kept on the second, reused from the third on.
    const requests = [1, 2, 3, 4].map(() => {
      const list = fields(allowedOf(cached, cached), 'GET')
      list.push('x-added-by-caller', '1')
      return list
    })
    for (const list of requests) {
      assert.equal(header(list, 'X-Gatehouse-Email'), 'ada@example.com')
      assert.equal(header(list, 'X-Gatehouse-Assertion'), 'signed:ada@example.com:')
      assert.equal(list.indexOf('x-added-by-caller'), list.length - 2, 'a caller’s additions never reach the next request')
      assert.deepEqual(list, requests[0])
    }
  })

  it('builds the headers of a request’s own copy with its active org, not the cached identity’s', () => {
    const fields = fieldsOf()
    const cached = deepFreeze(identityOf('ada@example.com'))
    fields(allowedOf(cached, cached), 'GET')
    const withOrg = fields(allowedOf({ ...cached, activeOrg: cached.orgs.org_1! }, cached), 'GET')
    assert.equal(header(withOrg, 'X-Gatehouse-Org-Id'), 'org_1')
    assert.equal(header(withOrg, 'X-Gatehouse-Org-Role'), 'Admin')
    assert.equal(header(withOrg, 'X-Gatehouse-Assertion'), 'signed:ada@example.com:org_1')
    const again = fields(allowedOf(cached, cached), 'GET')
    assert.equal(again.indexOf('X-Gatehouse-Org-Role'), -1)
  })

  it('never keeps the headers of an identity that is not frozen', () => {
    const fields = fieldsOf()
    const mutable = identityOf('ada@example.com')
    fields(allowedOf(mutable, mutable), 'GET')
    mutable.user!.email = 'grace@example.com'
    assert.equal(header(fields(allowedOf(mutable, mutable), 'GET'), 'X-Gatehouse-Email'), 'grace@example.com')
  })

  it('an anonymous request has no identity fields', () => {
    assert.deepEqual(fieldsOf()({ identity: undefined } as unknown as Allow, 'GET'), [])
  })
})
