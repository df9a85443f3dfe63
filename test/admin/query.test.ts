import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { assertProblem, harness, send } from './harness.ts'
import type { Harness } from './harness.ts'

type Operation = { parameters?: { name: string; in: string }[] }
type Doc = { paths: Record<string, Record<string, Operation>> }

describe('admin API: query strings are strict', () => {
  let h: Harness
  let operations: { method: string; path: string; query: string[] }[]
  before(async () => {
    h = await harness({ accessTokenJwks: () => ({ keys: [] }) })
    const doc = (await send<Doc>(h.app, '/openapi.json')).body
    operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        // Any value will do for a path parameter: the query is refused before the record is looked up.
        path: path.replace(/\{[^}]+\}/g, 'x'),
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      })),
    )
  })
  after(() => h.close())

  it('covers every operation of the OpenAPI document, probes and the management API alike', () => {
    const paths = new Set(operations.map((o) => o.path))
    for (const path of [
      '/healthz',
      '/readyz',
      '/.well-known/jwks.json',
      '/.well-known/access-token-jwks.json',
      '/v1/users',
      '/v1/api_keys',
    ]) {
      assert.ok(paths.has(path), path)
    }
    assert.ok(operations.length >= 40, `${operations.length} operations`)
  })

  it('answers 400 naming an unknown parameter on every operation', async () => {
    for (const { method, path } of operations) {
      const reply = await h.call(method, `${path}?bogus=1`)
      assertProblem(reply, 400, 'bogus')
      assert.deepEqual(reply.body.errors, [{ field: 'bogus', message: 'unknown query parameter' }], `${method} ${path}`)
    }
  })

  it('answers 400 naming a declared parameter given twice, on every operation that takes one', async () => {
    const withQuery = operations.filter((o) => o.query.length > 0)
    assert.ok(withQuery.length >= 8, `${withQuery.length} operations with query parameters`)
    for (const { method, path, query } of withQuery) {
      for (const name of query) {
        const reply = await h.call(method, `${path}?${name}=1&${name}=2`)
        assertProblem(reply, 400, name)
        assert.deepEqual(reply.body.errors, [{ field: name, message: 'given 2 times; send it once' }], `${method} ${path}`)
      }
    }
  })

  it("refuses the issue's example instead of returning every key: GET /v1/api_keys?subject=U&limit=2", async () => {
    const userId = await h.createUser('keys@example.com')
    for (let i = 0; i < 3; i++) assert.equal((await h.call('POST', '/v1/api_keys', { user_id: userId })).status, 201)
    const reply = await h.call('GET', `/v1/api_keys?subject=${userId}&limit=2`)
    assertProblem(reply, 400, 'subject')
    assert.deepEqual(reply.body.errors, [
      { field: 'subject', message: 'unknown query parameter' },
      { field: 'limit', message: 'unknown query parameter' },
    ])
    assert.equal(reply.body.detail, 'subject: unknown query parameter; limit: unknown query parameter')
  })

  it('still takes the declared parameters, once each', async () => {
    const userId = await h.createUser('declared@example.com')
    await h.call('POST', '/v1/api_keys', { user_id: userId })
    const page = await h.call<{ total_api_keys: number }>('GET', `/v1/api_keys?user_id=${userId}&page_size=1&page_number=0`)
    assert.equal(page.status, 200, page.text)
    assert.equal(page.body.total_api_keys, 1)
    assert.equal((await h.call('GET', '/healthz')).status, 200)
  })

  it('checks the admin key first: without it an unknown parameter is a 401', async () => {
    assertProblem(await send(h.app, '/v1/api_keys?bogus=1'), 401)
  })
})
