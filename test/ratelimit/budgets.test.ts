import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Identity } from '../../src/identity/index.ts'
import type { RateSpec } from '../../src/units/index.ts'
import { budgetsFor } from '../../src/ratelimit/index.ts'
import type { RateLimits } from '../../src/ratelimit/index.ts'

const spec = (limit: number): RateSpec => ({ limit, windowMs: 60_000, text: `${limit}/1m` })
const ALL: RateLimits = { user: spec(100), org: spec(200), generic: spec(50), anonymous: spec(10) }
const plain = { index: 0, auth: 'user' as const, rateLimit: undefined }
const limitedRoute = { index: 3, auth: 'user' as const, rateLimit: spec(5) }
const acme = { orgId: 'acme', orgName: 'Acme', role: 'Admin', inheritedRoles: ['Admin'], permissions: [] }
const key = (type: 'personal' | 'org' | 'generic', rateLimit?: number) => ({
  id: `key-${type}`,
  type,
  scopes: [],
  metadata: {},
  expiresAt: null,
  ...(rateLimit === undefined ? {} : { rateLimit }),
})

const tokenUser: Identity = { principal: 'user', method: 'token', user: { userId: 'u1', properties: {} }, orgs: { acme } }
const personal: Identity = { ...tokenUser, method: 'api_key', apiKey: key('personal', 7) }
const orgKey: Identity = {
  principal: 'org',
  method: 'api_key',
  orgs: { acme },
  org: { orgId: 'acme', orgName: 'Acme' },
  apiKey: key('org', 9),
}
const generic: Identity = { principal: 'service', method: 'api_key', orgs: {}, apiKey: key('generic') }
const genericOverride: Identity = { ...generic, apiKey: key('generic', 3) }

const keyed = (route: Parameters<typeof budgetsFor>[0], identity: Identity | undefined, limits = ALL) =>
  budgetsFor(route, identity, '203.0.113.9', limits).map((b) => `${b.name} ${b.key} ${b.spec.limit}`)

describe('budgetsFor', () => {
  it('a user draws on the user budget, and the route budget keyed by the user', () => {
    assert.deepEqual(keyed(limitedRoute, tokenUser), ['user user:u1 100', 'route route:3:user:u1 5'])
  })

  it('the active org of an org rule adds the org budget', () => {
    assert.deepEqual(keyed(plain, { ...tokenUser, activeOrg: acme }), ['user user:u1 100', 'org org:acme 200'])
  })

  it("a personal key's override is its own budget on top of its user's", () => {
    assert.deepEqual(keyed(plain, personal), ['user user:u1 100', 'key key:key-personal 7'])
  })

  it("an org key draws on its org's budget and its own", () => {
    assert.deepEqual(keyed(limitedRoute, orgKey), ['org org:acme 200', 'key key:key-org 9', 'route route:3:org:acme 5'])
  })

  it('a generic key draws on the generic budget, which its override replaces', () => {
    assert.deepEqual(keyed(plain, generic), ['generic key:key-generic 50'])
    assert.deepEqual(keyed(plain, genericOverride), ['generic key:key-generic 3'])
  })

  it('a service token draws on the generic budget keyed by its client, each client its own', () => {
    const client = (clientId: string): Identity => ({ principal: 'service', method: 'token', orgs: {}, clientId, scopes: [] })
    assert.deepEqual(keyed(limitedRoute, client('billing')), ['generic key:billing 50', 'route route:3:key:billing 5'])
    assert.deepEqual(keyed(plain, client('reports')), ['generic key:reports 50'])
  })

  it('an anonymous caller draws on the anonymous budget by client address, except on auth: none routes', () => {
    assert.deepEqual(keyed(limitedRoute, undefined), ['anonymous ip:203.0.113.9 10', 'route route:3:ip:203.0.113.9 5'])
    assert.deepEqual(keyed({ index: 1, auth: 'none', rateLimit: spec(5) }, undefined), ['route route:1:ip:203.0.113.9 5'])
  })

  it('draws on no budget that is not configured', () => {
    const none: RateLimits = { user: undefined, org: undefined, generic: undefined, anonymous: undefined }
    assert.deepEqual(keyed(plain, { ...tokenUser, activeOrg: acme }, none), [])
    assert.deepEqual(keyed(plain, generic, none), [])
  })

  it('gives one override value one spec object, so a per-replica share is computed once', () => {
    const [, first] = budgetsFor(plain, personal, 'x', ALL)
    const [, second] = budgetsFor(plain, personal, 'y', ALL)
    assert.equal(first!.spec, second!.spec)
  })
})
