import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compileRoutes } from '../../src/rules/index.ts'
import type { RouteConfig } from '../../src/config/index.ts'

const route = (path: string, extra: Partial<RouteConfig> = {}): RouteConfig => ({ path, auth: 'user', ...extra }) as RouteConfig

describe('RouteTable.match', () => {
  const { table, problems } = compileRoutes([
    route('/healthz', { auth: 'none' }),
    route('/org/:org_id/admin', { auth: 'org_member', role: 'Admin' }),
    route('/api/whoami'),
    route('/api/*', { methods: ['GET', 'POST'] }),
    route('/files/:name/raw'),
  ])

  it('compiles without problems', () => assert.deepEqual(problems, []))

  it('matches literals exactly and nothing else', () => {
    assert.equal(table.match('GET', '/healthz').kind, 'matched')
    assert.equal(table.match('GET', '/healthz/').kind, 'not-found')
    assert.equal(table.match('GET', '/healthzx').kind, 'not-found')
  })

  it('matches literals in any letter case, so /ADMIN cannot slip past an admin rule', () => {
    const m = table.match('GET', '/org/1/ADMIN')
    assert.equal(m.kind === 'matched' && m.route.pattern, '/org/:org_id/admin')
    assert.equal(table.match('GET', '/HeAlThZ').kind, 'matched')
  })

  it('keeps the letter case of parameters', () => {
    const m = table.match('GET', '/org/AcMe/Admin')
    assert.deepEqual(m.kind === 'matched' && m.params, { org_id: 'AcMe' })
  })

  it('a route without methods accepts the RFC 9110 methods only', () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      assert.equal(table.match(method, '/healthz').kind, 'matched', method)
    }
    const m = table.match('PROPFIND', '/healthz')
    assert.equal(m.kind, 'method-not-allowed')
  })

  it('binds and decodes path parameters', () => {
    const m = table.match('GET', '/org/acme%20inc/admin')
    assert.equal(m.kind, 'matched')
    assert.deepEqual(m.kind === 'matched' && m.params, { org_id: 'acme inc' })
  })

  it('never binds an empty parameter', () => {
    assert.equal(table.match('GET', '/org//admin').kind, 'not-found')
  })

  it('first match in file order wins', () => {
    const m = table.match('GET', '/api/whoami')
    assert.equal(m.kind === 'matched' && m.route.pattern, '/api/whoami')
  })

  it('a final * matches zero or more segments', () => {
    for (const path of ['/api', '/api/', '/api/a', '/api/a/b/c']) {
      const m = table.match('GET', path)
      assert.equal(m.kind === 'matched' && m.route.pattern, '/api/*', path)
    }
  })

  it('HEAD follows GET; other methods get 405 with the allowed ones', () => {
    assert.equal(table.match('HEAD', '/api/x').kind, 'matched')
    const m = table.match('DELETE', '/api/x')
    assert.equal(m.kind, 'method-not-allowed')
    assert.deepEqual(m.kind === 'method-not-allowed' && m.allow.sort(), ['GET', 'HEAD', 'POST'])
  })
})

describe('case-sensitive matching (upstream.case_sensitive_paths)', () => {
  const { table } = compileRoutes([route('/admin/*'), route('/*', { auth: 'none' })], { caseSensitive: true })
  const pattern = (path: string) => {
    const m = table.match('GET', path)
    return m.kind === 'matched' ? m.route.pattern : m.kind
  }

  it('compares literals exactly', () => {
    assert.equal(pattern('/admin/x'), '/admin/*')
    assert.equal(pattern('/ADMIN/x'), '/*')
  })
})

describe('non-ASCII literals', () => {
  it('fold with their escapes decoded: É and é are one letter in two cases', () => {
    const { table, problems } = compileRoutes([route('/caf%C3%A9/*')])
    assert.deepEqual(problems, [])
    assert.equal(table.match('GET', '/CAF%C3%89/x').kind, 'matched')
  })

  it('a literal that is not NFKC can never match and is a config error', () => {
    assert.equal(compileRoutes([route('/%EF%BD%81dmin')]).problems.length, 1)
  })
})

describe('compileRoutes problems', () => {
  it('a later rule differing only in letter case is unreachable', () => {
    assert.equal(compileRoutes([route('/admin/*'), route('/Admin/x')]).problems.length, 1)
    assert.equal(compileRoutes([route('/admin/*'), route('/Admin/x')], { caseSensitive: true }).problems.length, 0)
  })

  it('a rule listing WebDAV methods is not shadowed by one with the default methods', () => {
    assert.equal(compileRoutes([route('/dav/*'), route('/dav/*', { methods: ['PROPFIND'] })]).problems.length, 0)
    assert.equal(compileRoutes([route('/dav/*'), route('/dav/*', { methods: ['GET'] })]).problems.length, 1)
  })

  it('reports a rule made unreachable by an earlier one', () => {
    const { problems } = compileRoutes([route('/api/*'), route('/api/users/:id')])
    assert.equal(problems.length, 1)
    assert.equal(problems[0]!.index, 1)
    assert.match(problems[0]!.message, /unreachable: routes\[0\]/)
  })

  it('does not report a later rule with methods the earlier one lacks', () => {
    const { problems } = compileRoutes([route('/api/*', { methods: ['GET'] }), route('/api/x', { methods: ['POST'] })])
    assert.deepEqual(problems, [])
  })

  it('a parameter shadows a literal but not a wildcard', () => {
    assert.equal(compileRoutes([route('/a/:x'), route('/a/b')]).problems.length, 1)
    assert.equal(compileRoutes([route('/a/:x'), route('/a/*')]).problems.length, 0)
  })

  it('refuses non-canonical pattern segments', () => {
    for (const path of ['/a/../b', '/a/./b', '/a//b', '/a/b*c', '/a/%2f', '/a/b!c', '/a/%21', '/a/b;c']) {
      assert.equal(compileRoutes([route(path)]).problems.length, 1, path)
    }
  })

  it('requires the org id parameter of an org_member route', () => {
    const { problems } = compileRoutes([route('/org/check', { auth: 'org_member' })])
    assert.match(problems[0]!.message, /:org_id/)
  })
})
