import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { schemaErrors } from '../support/json-schema.ts'
import type { Schema } from '../support/json-schema.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'

type Operation = { operationId?: string; responses: Record<string, { content?: Record<string, { schema: Schema }> }> }
type Doc = Schema & { paths: Record<string, Record<string, Operation>> }

/**
 * Every operation of the served /openapi.json, called for real against a running gatehouse: each
 * answer's status must be one the document declares for it, and its body must fit that status's
 * schema. A field the document says is never null, a missing declared status, an operation
 * without an operationId: each fails here.
 */
describe('the OpenAPI document describes what the admin API answers', () => {
  let upstream: TestUpstream
  let gateway: TestGateway
  let doc: Doc
  const covered = new Set<string>()

  before(async () => {
    upstream = await startUpstream()
    gateway = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./openapi.db' },
      tokens: { local_issuer: true },
      end_users: { enabled: true, public_url: 'https://app.example.com' },
      routes: [{ path: '/api/*', auth: 'user' }],
    })
    doc = (await (await fetch(`${gateway.adminUrl}/openapi.json`)).json()) as Doc
  })
  after(async () => {
    await gateway.close()
    await upstream.close()
  })

  /** Calls `method template` with the template's {params} filled in, and checks the answer against the document. */
  async function call(method: string, template: string, params: Record<string, string> = {}, body?: unknown, query = '') {
    const operation = doc.paths[template]?.[method.toLowerCase()]
    assert.ok(operation, `${method} ${template} is in the document`)
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]!))
    const res = await fetch(gateway.adminUrl + path + query, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    const declared = operation.responses[String(res.status)]
    assert.ok(declared, `${method} ${template} answered ${res.status}, which the document does not declare: ${text}`)
    const type = res.headers.get('content-type')?.split(';')[0]
    if (declared.content && type) {
      const schema = declared.content[type]?.schema
      assert.ok(schema, `${method} ${template} ${res.status}: ${type} is declared`)
      const errors = schemaErrors(type.endsWith('json') ? JSON.parse(text) : text, schema, doc)
      assert.deepEqual(errors, [], `${method} ${template} ${res.status}: ${text}`)
    }
    covered.add(`${method.toLowerCase()} ${template}`)
    const json = res.headers.get('content-type')?.includes('json') && text !== ''
    return { status: res.status, body: (json ? JSON.parse(text) : undefined) as Record<string, unknown> }
  }

  it('every operation has a unique operationId, and every one with a body declares 415', () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId))
    assert.ok(ids.every((id) => typeof id === 'string' && id !== ''))
    assert.equal(new Set(ids).size, ids.length)
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if ((op as { requestBody?: unknown }).requestBody) assert.ok(op.responses['415'], `${method} ${path} declares 415`)
      }
    }
  })

  it('a body of another content type is the declared 415', async () => {
    const res = await fetch(`${gateway.adminUrl}/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/plain' },
      body: 'email=a@example.com',
    })
    assert.equal(res.status, 415)
    assert.deepEqual(
      schemaErrors(await res.json(), doc.paths['/v1/users']!.post!.responses['415']!.content!['application/problem+json']!.schema, doc),
      [],
    )
  })

  it('every endpoint answers as documented', async () => {
    await call('GET', '/healthz')
    await call('GET', '/readyz')
    await call('GET', '/.well-known/jwks.json')
    await call('GET', '/metrics')
    if (doc.paths['/.well-known/access-token-jwks.json']) await call('GET', '/.well-known/access-token-jwks.json')
    const user = await call('POST', '/v1/users', {}, { email: 'doc@example.com', username: 'doc', first_name: 'Doc' })
    assert.equal(user.status, 201)
    const user_id = String(user.body.user_id)
    await call('POST', '/v1/users/migrate', {}, { email: 'migrated@example.com', email_confirmed: true, existing_user_id: 'legacy-1' })
    await call('GET', '/v1/users', {}, undefined, '?page_size=5')
    await call('POST', '/v1/users/batch', {}, { user_ids: [user_id] })
    await call('GET', '/v1/users/{user_id}', { user_id }, undefined, '?include_orgs=true')
    await call('GET', '/v1/users/{user_id}', { user_id: 'nobody' })
    await call('PATCH', '/v1/users/{user_id}', { user_id }, { last_name: 'Umented' })
    await call('GET', '/v1/users/email/{email}', { email: 'doc@example.com' })
    await call('GET', '/v1/users/username/{username}', { username: 'doc' })
    await call('PUT', '/v1/users/{user_id}/email', { user_id }, { new_email: 'doc2@example.com', require_email_confirmation: false })
    await call('PUT', '/v1/users/{user_id}/password', { user_id }, { password: 'a documented passphrase' })
    await call('DELETE', '/v1/users/{user_id}/password', { user_id })
    await call('POST', '/v1/magic_links', {}, { email: 'doc2@example.com' })
    for (const flag of ['disable', 'enable', 'disable_can_create_orgs', 'enable_can_create_orgs']) {
      await call('POST', `/v1/users/{user_id}/${flag}`, { user_id })
    }
    const org = await call('POST', '/v1/orgs', {}, { name: 'Documented' })
    assert.equal(org.status, 201)
    const org_id = String(org.body.org_id)
    await call('GET', '/v1/orgs')
    await call('GET', '/v1/orgs/{org_id}', { org_id })
    await call('PATCH', '/v1/orgs/{org_id}', { org_id }, { max_users: 10 })
    await call('POST', '/v1/orgs/{org_id}/members', { org_id }, { user_id, role: 'Owner' })
    await call('GET', '/v1/orgs/{org_id}/users', { org_id })
    await call('PUT', '/v1/orgs/{org_id}/members/{user_id}', { org_id, user_id }, { role: 'Admin' })
    const invited = await call('POST', '/v1/invites', {}, { org_id, email: 'invitee@example.com', role: 'Member' })
    assert.equal(invited.status, 201)
    await call('POST', '/v1/invites', {}, { org_id, email: 'doc2@example.com', role: 'Member' })
    await call('POST', '/v1/invites', {}, { org_id: 'no-such-org', email: 'invitee@example.com', role: 'Member' })
    await call('GET', '/v1/invites', {}, undefined, `?org_id=${org_id}`)
    await call('DELETE', '/v1/orgs/{org_id}/invites/{email}', { org_id, email: 'invitee@example.com' })
    await call('DELETE', '/v1/orgs/{org_id}/invites/{email}', { org_id, email: 'invitee@example.com' })
    await call('POST', '/v1/access_tokens', {}, { user_id, duration_in_minutes: 5 })
    await call('POST', '/v1/explain', {}, { method: 'GET', path: '/api/x' })
    const personal = await call('POST', '/v1/api_keys', {}, { user_id, name: 'personal' })
    const orgKey = await call('POST', '/v1/api_keys', {}, { org_id, user_id })
    const generic = await call('POST', '/v1/api_keys', {}, { name: 'generic' })
    await call('POST', '/v1/api_keys/import', {}, { imported_api_key: 'legacy-key-0123456789abcdef', user_id })
    await call('GET', '/v1/api_keys')
    await call('GET', '/v1/api_keys/archived')
    await call('GET', '/v1/api_keys/usage')
    await call('GET', '/v1/usage')
    // Validation answers carry user, org and user_in_org, each of which is null for some key.
    for (const key of [personal, orgKey, generic])
      await call('POST', '/v1/api_keys/validate', {}, { api_key_token: key.body.api_key_token })
    await call('POST', '/v1/api_keys/validate_personal', {}, { api_key_token: personal.body.api_key_token })
    await call('POST', '/v1/api_keys/validate_org', {}, { api_key_token: orgKey.body.api_key_token })
    await call('POST', '/v1/api_keys/validate_imported', {}, { api_key_token: 'legacy-key-0123456789abcdef' })
    await call('POST', '/v1/api_keys/validate', {}, { api_key_token: 'gtu_notakey' })
    const api_key_id = String(personal.body.api_key_id)
    await call('GET', '/v1/api_keys/{api_key_id}', { api_key_id })
    await call('PATCH', '/v1/api_keys/{api_key_id}', { api_key_id }, { name: 'renamed' })
    await call('POST', '/v1/api_keys/{api_key_id}/rotate', { api_key_id }, {})
    await call('POST', '/v1/api_keys/{api_key_id}/archive', { api_key_id }, {})
    await call('DELETE', '/v1/api_keys/{api_key_id}', { api_key_id: String(generic.body.api_key_id) })
    await call('DELETE', '/v1/orgs/{org_id}/members/{user_id}', { org_id, user_id })
    await call('DELETE', '/v1/orgs/{org_id}', { org_id })
    await call('DELETE', '/v1/users/{user_id}', { user_id })

    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
    const left = documented.filter((op) => !covered.has(op) && !op.includes('/api/backend/'))
    assert.deepEqual(left, [], 'every operation of the document was called')
  })
})
