import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compileRoutes, describeRequirements, walkRoutes } from '../../src/rules/index.ts'
import type { RouteRule } from '../../src/rules/index.ts'

const rule = (path: string, extra: Partial<RouteRule> = {}): RouteRule => ({ path, auth: 'none', pass_credentials: false, ...extra })

function table(rules: RouteRule[], caseSensitive = false) {
  const { table: compiled, problems } = compileRoutes(rules, { caseSensitive })
  assert.deepEqual(problems, [])
  return compiled
}

describe('walkRoutes', () => {
  const routes = table([
    rule('/healthz'),
    rule('/orgs/:org_id/billing', { methods: ['GET'] }),
    rule('/orgs/:org_id/*', { auth: 'user' }),
    rule('/files/*'),
  ])

  it('says why each earlier rule did not match and stops at the one that does, as match() chooses', () => {
    const verdicts = walkRoutes(routes, 'POST', '/orgs/acme/billing')
    assert.deepEqual(verdicts, [
      { index: 0, pattern: '/healthz', matched: false, why: 'path', detail: 'segment 1 is "orgs", the rule wants "healthz"' },
      { index: 1, pattern: '/orgs/:org_id/billing', matched: false, why: 'method', detail: 'POST is not one of GET, HEAD' },
      { index: 2, pattern: '/orgs/:org_id/*', matched: true, params: { org_id: 'acme', '*': 'billing' } },
    ])
    const match = routes.match('POST', '/orgs/acme/billing')
    assert.equal(match.kind === 'matched' && match.route.index, 2)
  })

  it('names a segment count that does not fit', () => {
    const [first, second] = walkRoutes(routes, 'GET', '/orgs')
    assert.equal(first!.matched === false && first!.detail, 'segment 1 is "orgs", the rule wants "healthz"')
    assert.equal(second!.matched === false && second!.detail, 'the path has 1 segment, the rule wants 3')
    const third = walkRoutes(routes, 'GET', '/orgs')[2]!
    assert.equal(third.matched === false && third.detail, 'the path has 1 segment, the rule wants at least 2')
  })

  it('walks the whole table when nothing matches (the request is denied)', () => {
    const verdicts = walkRoutes(routes, 'GET', '/nothing/here')
    assert.equal(verdicts.length, 4)
    assert.ok(verdicts.every((v) => !v.matched))
    assert.equal(routes.match('GET', '/nothing/here').kind, 'not-found')
  })

  it('compares literals as the table does: folded unless case-sensitive', () => {
    assert.equal(walkRoutes(routes, 'GET', '/HEALTHZ')[0]!.matched, true)
    const exact = table([rule('/healthz')], true)
    const [verdict] = walkRoutes(exact, 'GET', '/HEALTHZ')
    assert.equal(verdict!.matched === false && verdict!.detail, 'segment 1 is "HEALTHZ", the rule wants "healthz"')
  })

  it('describes requirements for people', () => {
    const [route] = table([rule('/orgs/:org_id', { auth: 'org_member', min_role: 'Admin', permission: 'can_x', scopes: ['read'] })]).routes
    assert.deepEqual(describeRequirements(route!), [
      'org from path:org_id',
      'role>=Admin',
      'permissions=can_x',
      'credentials=token,personal_key,org_key',
      'scopes=read',
    ])
  })
})
