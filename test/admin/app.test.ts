import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { getRequestListener } from '@hono/node-server'
import { createAdminApp } from '../../src/admin/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import { ADMIN_KEY, assertProblem, harness, send } from './harness.ts'
import type { Harness } from './harness.ts'

describe('admin app: probes, admin key, OpenAPI document', () => {
  let h: Harness
  before(async () => {
    h = await harness({ checks: [{ name: 'token_keys', ready: () => true }], jwks: () => ({ keys: [{ kty: 'OKP', kid: 'k1' }] }) })
  })
  after(() => h.close())

  it('serves the probes and the JWKS without a key', async () => {
    assert.deepEqual((await send(h.app, '/healthz')).body, { status: 'ok' })
    const ready = await send(h.app, '/readyz')
    assert.equal(ready.status, 200)
    assert.deepEqual(ready.body, { status: 'ready', checks: { token_keys: { ready: true } } })
    const jwks = await send(h.app, '/.well-known/jwks.json')
    assert.deepEqual(jwks.body, { keys: [{ kty: 'OKP', kid: 'k1' }] })
    assert.equal(jwks.headers.get('cache-control'), 'public, max-age=300')
  })

  it('answers 503 while a readiness check fails', async () => {
    const app = createAdminApp({ jwks: () => ({ keys: [] }), checks: [{ name: 'db', ready: () => false, detail: () => 'down' }] })
    const reply = await send(app, '/readyz')
    assert.equal(reply.status, 503)
    assert.deepEqual(reply.body, { status: 'not_ready', checks: { db: { ready: false, detail: 'down' } } })
  })

  it('refuses /v1/ without a key, with a wrong key, with another scheme, and never echoes the key', async () => {
    const wrong = `${ADMIN_KEY}x`
    const attempts: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${wrong}` },
      { authorization: 'Bearer short' },
      { authorization: `Basic ${ADMIN_KEY}` },
      { authorization: `Bearer ${ADMIN_KEY} extra` },
      { authorization: 'Bearer' },
    ]
    for (const headers of attempts) {
      const reply = await send(h.app, '/v1/users', { headers })
      assertProblem(reply, 401)
      assert.equal(reply.headers.get('www-authenticate'), 'Bearer realm="gatehouse-admin"')
      assert.ok(!reply.text.includes(ADMIN_KEY) && !reply.text.includes(wrong), 'no key in the body')
    }
  })

  it('checks the key before anything else: unknown /v1/ paths are 401 without it, 404 with it', async () => {
    assertProblem(await send(h.app, '/v1/nothing-here'), 401)
    assertProblem(await send(h.app, '/v1/users', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } }), 401)
    assertProblem(await h.call('GET', '/v1/nothing-here'), 404)
    assertProblem(await send(h.app, '/nowhere'), 404)
  })

  it('accepts the scheme in any case', async () => {
    assert.equal((await send(h.app, '/v1/users', { headers: { authorization: `bearer ${ADMIN_KEY}` } })).status, 200)
  })

  it('answers 404 under /v1/ when the admin key or the store is not configured', async () => {
    const store = await createSqliteStore(':memory:')
    try {
      const noKey = createAdminApp({ jwks: () => ({ keys: [] }), checks: [], store })
      const reply = await send(noKey, '/v1/users', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      assertProblem(reply, 404)
      assert.equal(reply.body.detail, 'The management API is off: set admin.api_key')
      assertProblem(await send(noKey, '/v1/orgs', { method: 'POST' }), 404)
      assert.equal((await send(noKey, '/healthz')).status, 200)

      const noStore = createAdminApp({ jwks: () => ({ keys: [] }), checks: [], apiKey: ADMIN_KEY })
      const without = await send(noStore, '/v1/users', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      assertProblem(without, 404)
      assert.match(without.body.detail ?? '', /management API is off/)
    } finally {
      await store.close()
    }
  })

  it('turns malformed bodies into problems: bad JSON 400, a non-object 400, a body without JSON content type 415', async () => {
    const auth = { authorization: `Bearer ${ADMIN_KEY}` }
    const badJson = await send(h.app, '/v1/users', {
      method: 'POST',
      body: '{"email":',
      headers: { ...auth, 'content-type': 'application/json' },
    })
    assertProblem(badJson, 400)
    assertProblem(await h.call('POST', '/v1/users', [1, 2]), 400, 'body')
    assertProblem(await h.call('POST', '/v1/users', null), 400, 'body')
    const text = await send(h.app, '/v1/users', {
      method: 'POST',
      body: 'email=a@b.co',
      headers: { ...auth, 'content-type': 'text/plain' },
    })
    assertProblem(text, 415)
  })

  it('works behind the node:http adapter the admin listener uses (own Request objects, not the global ones)', async () => {
    const server = createServer(getRequestListener(h.app.fetch, { overrideGlobalObjects: false }))
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const auth = { authorization: `Bearer ${ADMIN_KEY}` }
    try {
      const created = await fetch(`${base}/v1/users`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'wire@example.com' }),
      })
      assert.equal(created.status, 201)
      const { user_id } = (await created.json()) as { user_id: string }
      assert.equal((await fetch(`${base}/v1/users/${user_id}/disable`, { method: 'POST', headers: auth })).status, 200)
      assert.equal((await fetch(`${base}/v1/users/${user_id}`, { method: 'DELETE', headers: auth })).status, 204)
      assert.equal((await fetch(`${base}/v1/users/${user_id}`, { headers: auth })).status, 404)
    } finally {
      await new Promise((done) => server.close(done))
    }
  })

  it('answers an unexpected failure with a 500 that reveals nothing', async () => {
    const store = await createSqliteStore(':memory:')
    const app = createAdminApp({ jwks: () => ({ keys: [] }), checks: [], apiKey: ADMIN_KEY, store })
    await store.close()
    const reply = await send(app, '/v1/users', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    assertProblem(reply, 500)
    assert.equal(reply.body.detail, 'The gateway failed to handle this request')
  })

  describe('/openapi.json', () => {
    type Doc = {
      openapi: string
      paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>>
      components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> }
    }
    const expected: Record<string, string[]> = {
      '/healthz': ['get'],
      '/readyz': ['get'],
      '/.well-known/jwks.json': ['get'],
      '/v1/users': ['get', 'post'],
      '/v1/users/migrate': ['post'],
      '/v1/users/batch': ['post'],
      '/v1/users/{user_id}': ['delete', 'get', 'patch'],
      '/v1/users/email/{email}': ['get'],
      '/v1/users/username/{username}': ['get'],
      '/v1/users/{user_id}/email': ['put'],
      '/v1/users/{user_id}/disable': ['post'],
      '/v1/users/{user_id}/enable': ['post'],
      '/v1/users/{user_id}/enable_can_create_orgs': ['post'],
      '/v1/users/{user_id}/disable_can_create_orgs': ['post'],
      '/v1/users/{user_id}/password': ['delete', 'put'],
      '/v1/orgs': ['get', 'post'],
      '/v1/orgs/{org_id}': ['delete', 'get', 'patch'],
      '/v1/orgs/{org_id}/users': ['get'],
      '/v1/orgs/{org_id}/members': ['post'],
      '/v1/orgs/{org_id}/members/{user_id}': ['delete', 'put'],
      '/v1/access_tokens': ['post'],
      '/v1/api_keys': ['get', 'post'],
      '/v1/api_keys/import': ['post'],
      '/v1/api_keys/validate': ['post'],
      '/v1/api_keys/validate_personal': ['post'],
      '/v1/api_keys/validate_org': ['post'],
      '/v1/api_keys/validate_imported': ['post'],
      '/v1/api_keys/archived': ['get'],
      '/v1/api_keys/usage': ['get'],
      '/v1/api_keys/{api_key_id}': ['delete', 'get', 'patch'],
      '/v1/api_keys/{api_key_id}/rotate': ['post'],
      '/v1/api_keys/{api_key_id}/archive': ['post'],
      '/v1/usage': ['get'],
      '/v1/magic_links': ['post'],
      '/v1/invites': ['get', 'post'],
      '/v1/orgs/{org_id}/invites/{email}': ['delete'],
    }

    it('is public, OpenAPI 3.1, and lists every path and method', async () => {
      const reply = await send<Doc>(h.app, '/openapi.json')
      assert.equal(reply.status, 200)
      const doc = reply.body
      assert.equal(doc.openapi, '3.1.0')
      assert.deepEqual(Object.fromEntries(Object.entries(doc.paths).map(([path, ops]) => [path, Object.keys(ops).sort()])), expected)
    })

    it('declares the bearer scheme on every /v1/ operation and on nothing else', async () => {
      const doc = (await send<Doc>(h.app, '/openapi.json')).body
      assert.deepEqual(doc.components.securitySchemes.adminKey, {
        type: 'http',
        scheme: 'bearer',
        description: 'The admin API key (admin.api_key)',
      })
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const op of Object.values(ops)) {
          assert.deepEqual(op.security, path.startsWith('/v1/') ? [{ adminKey: [] }] : undefined, path)
        }
      }
    })

    it('is generated from the validating schemas (a strict body, a password that is write-only)', async () => {
      const doc = (await send<Doc>(h.app, '/openapi.json')).body
      const createUser = doc.components.schemas.CreateUser as {
        properties: Record<string, unknown>
        additionalProperties: boolean
        required: string[]
      }
      assert.equal(createUser.additionalProperties, false)
      assert.deepEqual(createUser.required, ['email'])
      assert.ok('password' in createUser.properties)
      const view = doc.components.schemas.UserMetadata as { properties: Record<string, unknown> }
      assert.ok('has_password' in view.properties)
      assert.ok(!Object.keys(view.properties).some((k) => k.endsWith('_hash')), 'no hash in a user view')
      assert.ok('Problem' in doc.components.schemas)
    })

    it('lists only the probes while the management API is off', async () => {
      const app = createAdminApp({ jwks: () => ({ keys: [] }), checks: [] })
      const doc = (await send<Doc>(app, '/openapi.json')).body
      assert.deepEqual(Object.keys(doc.paths), ['/healthz', '/readyz', '/.well-known/jwks.json'])
    })
  })
})
