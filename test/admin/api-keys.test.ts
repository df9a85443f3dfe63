import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { z } from '@hono/zod-openapi'
import type * as schemas from '../../src/admin/schemas.ts'
import type { AuditEvent } from '../../src/directory/index.ts'
import { generateApiKeySecret, parseApiKeySecret } from '../../src/apikeys/index.ts'
import { assertProblem, harness, send } from './harness.ts'
import type { Harness, Problem, Reply } from './harness.ts'

type KeyView = z.infer<typeof schemas.apiKey>
type KeyWithSecret = z.infer<typeof schemas.apiKeyWithSecret>
type KeysPage = z.infer<typeof schemas.apiKeysPage>
type Validation = z.infer<typeof schemas.apiKeyValidation>
type Refusal = Problem & { error_code?: string; api_key_token?: string[] }

const T0 = 1_800_000_000
const DAY = 86_400

let h: Harness
let clock: { now: number }
let audits: AuditEvent[]
let alice: string
let bob: string
let acme: string

beforeEach(async () => {
  clock = { now: T0 }
  audits = []
  h = await harness({ now: () => clock.now, audit: (e) => audits.push(e) })
  alice = await h.createUser('alice@example.com')
  bob = await h.createUser('bob@example.com')
  acme = await h.createOrg('Acme')
  await h.addMember(acme, alice, 'Admin')
  h.changes.length = 0
})
afterEach(() => h.close())

const create = (body: Record<string, unknown>) => h.call<KeyWithSecret>('POST', '/v1/api_keys', body)
async function created(body: Record<string, unknown>): Promise<KeyWithSecret> {
  const reply = await create(body)
  assert.equal(reply.status, 201, reply.text)
  return reply.body
}
const validate = (token: string, path = 'validate') => h.call<Validation>('POST', `/v1/api_keys/${path}`, { api_key_token: token })
async function refused(reply: Reply<unknown>, status: number, code: string): Promise<Refusal> {
  assertProblem(reply, status, 'api_key_token')
  const body = reply.body as Refusal
  assert.equal(body.error_code, code, reply.text)
  assert.equal(body.api_key_token?.length, 1)
  return body
}
const get = (id: string) => h.call<KeyView>('GET', `/v1/api_keys/${id}`)
const list = (query = '', archived = false) =>
  h.call<KeysPage>('GET', `/v1/api_keys${archived ? '/archived' : ''}${query ? `?${query}` : ''}`)

const VIEW_FIELDS = [
  'api_key_id',
  'type',
  'user_id',
  'org_id',
  'name',
  'description',
  'metadata',
  'scopes',
  'rate_limit_override',
  'created_by',
  'created_at',
  'expires_at_seconds',
  'last_used_at',
  'archived_at',
  'archive_reason',
  'protected',
  'revoke_on_creator_leave',
  'display',
  'imported',
].sort()

describe('POST /v1/api_keys', () => {
  it("creates a personal key: the secret once, in the type's format, and the view without any hash", async () => {
    const reply = await create({
      user_id: alice,
      name: 'CI',
      description: 'deploys',
      metadata: { team: 'ops' },
      scopes: ['read', 'write', 'read'],
      rate_limit_override: 120,
    })
    assert.equal(reply.status, 201, reply.text)
    const key = reply.body
    assert.deepEqual(Object.keys(key).sort(), [...VIEW_FIELDS, 'api_key_token'].sort())
    assert.match(key.api_key_id, /^[0-9a-f]{32}$/)
    assert.equal(parseApiKeySecret(key.api_key_token), 'personal')
    assert.ok(key.api_key_token.startsWith('gtu_'))
    assert.equal(key.type, 'personal')
    assert.equal(key.user_id, alice)
    assert.equal(key.org_id, null)
    assert.equal(key.created_by, alice)
    assert.equal(key.name, 'CI')
    assert.equal(key.description, 'deploys')
    assert.deepEqual(key.metadata, { team: 'ops' })
    assert.deepEqual(key.scopes, ['read', 'write'], 'duplicates dropped')
    assert.equal(key.rate_limit_override, 120)
    assert.equal(key.expires_at_seconds, null, 'default: never expires')
    assert.equal(key.protected, false)
    assert.equal(key.imported, false)
    assert.equal(key.archived_at, null)
    assert.ok(key.api_key_token.startsWith(key.display.replace('…', '')))
    assert.ok(key.display.length < 12)
    assert.ok(!/hash/.test(reply.text))
    assert.deepEqual(h.changes, [{ kind: 'api_key', apiKeyId: key.api_key_id, userId: alice }])
  })

  it('creates an org key with its creating member, and a generic key owned by no one', async () => {
    const org = await created({ org_id: acme, user_id: alice, revoke_on_creator_leave: true })
    assert.equal(org.type, 'org')
    assert.equal(parseApiKeySecret(org.api_key_token), 'org')
    assert.equal(org.user_id, alice)
    assert.equal(org.created_by, alice)
    assert.equal(org.org_id, acme)
    assert.equal(org.revoke_on_creator_leave, true)
    const orgOnly = await created({ org_id: acme })
    assert.equal(orgOnly.user_id, null)
    assert.equal(orgOnly.revoke_on_creator_leave, false)
    const generic = await created({ name: 'billing sync', created_by: bob, protected: true })
    assert.equal(generic.type, 'generic')
    assert.equal(parseApiKeySecret(generic.api_key_token), 'generic')
    assert.equal(generic.user_id, null)
    assert.equal(generic.org_id, null)
    assert.equal(generic.created_by, bob)
    assert.equal(generic.protected, true)
    assert.deepEqual(h.changes, [
      { kind: 'api_key', apiKeyId: org.api_key_id, userId: alice, orgId: acme },
      { kind: 'api_key', apiKeyId: orgOnly.api_key_id, orgId: acme },
      { kind: 'api_key', apiKeyId: generic.api_key_id },
    ])
  })

  it('defaults revoke_on_creator_leave from the config for org keys with a creator', async () => {
    const other = await harness({ apiKeys: { revokeOnCreatorLeave: true } })
    try {
      const u = await other.createUser('u@example.com')
      const o = await other.createOrg('O')
      await other.addMember(o, u, 'Member')
      const withCreator = await other.call<KeyView>('POST', '/v1/api_keys', { org_id: o, created_by: u })
      assert.equal(withCreator.body.revoke_on_creator_leave, true)
      assert.equal(withCreator.body.user_id, u)
      const without = await other.call<KeyView>('POST', '/v1/api_keys', { org_id: o })
      assert.equal(without.body.revoke_on_creator_leave, false)
    } finally {
      await other.close()
    }
  })

  it('uses configured prefixes', async () => {
    const other = await harness({ apiKeys: { prefixes: { personal: 'acme_pk', org: 'acme_ok', generic: 'acme_sk' } } })
    try {
      const reply = await other.call<KeyWithSecret>('POST', '/v1/api_keys', {})
      assert.ok(reply.body.api_key_token.startsWith('acme_sk_'))
      assert.equal((await other.call('POST', '/v1/api_keys/validate', { api_key_token: reply.body.api_key_token })).status, 200)
    } finally {
      await other.close()
    }
  })

  const presets: [string, number | null][] = [
    ['two_weeks', 14],
    ['one_month', 30],
    ['three_months', 90],
    ['six_months', 180],
    ['one_year', 365],
    ['never', null],
  ]
  for (const [expiration, days] of presets) {
    it(`sets expiration ${expiration}`, async () => {
      const key = await created({ expiration })
      assert.equal(key.expires_at_seconds, days === null ? null : T0 + days * DAY)
    })
  }

  it('sets expiry from expires_at_seconds or expires_in_seconds', async () => {
    assert.equal((await created({ expires_at_seconds: T0 + 500 })).expires_at_seconds, T0 + 500)
    assert.equal((await created({ expires_in_seconds: 60 })).expires_at_seconds, T0 + 60)
  })

  it('answers 400 naming the field for bad input', async () => {
    assertProblem(await create({ expiration: 'one_month', expires_in_seconds: 5 }), 400, 'expires_in_seconds')
    assertProblem(await create({ expires_at_seconds: T0 + 5, expiration: 'never' }), 400, 'expiration')
    assertProblem(await create({ expires_at_seconds: T0 }), 400, 'expires_at_seconds')
    assertProblem(await create({ expires_in_seconds: 0 }), 400, 'expires_in_seconds')
    assertProblem(await create({ expiration: 'forever' }), 400, 'expiration')
    assertProblem(await create({ rate_limit_override: 0 }), 400, 'rate_limit_override')
    assertProblem(await create({ rate_limit_override: 1.5 }), 400, 'rate_limit_override')
    assertProblem(await create({ scopes: 'read' }), 400, 'scopes')
    assertProblem(await create({ scopes: [''] }), 400, 'scopes.0')
    assertProblem(await create({ name: '   ' }), 400, 'name')
    assertProblem(await create({ secret: 'x' }), 400, 'secret')
    assertProblem(await create({ user_id: alice, revoke_on_creator_leave: true }), 400, 'revoke_on_creator_leave')
    assertProblem(await create({ org_id: acme, revoke_on_creator_leave: true }), 400, 'revoke_on_creator_leave')
    assertProblem(await create({ created_by: 'nobody' }), 400, 'created_by')
    assertProblem(await create({ org_id: acme, user_id: alice, created_by: bob }), 400, 'created_by')
    assertProblem(await create({ org_id: acme, user_id: bob }), 400, 'user_id')
    assertProblem(await create({ org_id: acme, created_by: bob }), 400, 'created_by')
    assert.equal((await h.call(`POST`, `/v1/users/${bob}/disable`)).status, 200)
    assertProblem(await create({ user_id: bob }), 400, 'user_id')
    assert.equal(h.changes.filter((c) => c.kind === 'api_key').length, 0)
  })

  it('answers 404 for an unknown user or org', async () => {
    assertProblem(await create({ user_id: 'no-such-user' }), 404)
    assertProblem(await create({ org_id: 'no-such-org' }), 404)
    assertProblem(await create({ org_id: acme, user_id: 'no-such-user' }), 404)
  })

  it('answers 401 without the admin key, on every API-key route', async () => {
    for (const [method, path] of [
      ['POST', '/v1/api_keys'],
      ['GET', '/v1/api_keys'],
      ['GET', '/v1/api_keys/archived'],
      ['GET', '/v1/api_keys/usage?date=2026-01-01'],
      ['POST', '/v1/api_keys/validate'],
      ['POST', '/v1/api_keys/import'],
      ['DELETE', '/v1/api_keys/abc'],
    ]) {
      const reply = await send(h.app, path as string, { method, headers: { authorization: 'Bearer wrong-key-wrong-key' } })
      assertProblem(reply, 401)
    }
  })
})

describe('GET /v1/api_keys/{id} and the lists', () => {
  it('fetches a key, archived too, never with its secret; 404 for an unknown id', async () => {
    const key = await created({ user_id: alice, name: 'one' })
    const reply = await get(key.api_key_id)
    assert.equal(reply.status, 200)
    assert.deepEqual(Object.keys(reply.body).sort(), VIEW_FIELDS)
    const { api_key_token, ...view } = key
    assert.deepEqual(reply.body, view)
    assert.ok(!reply.text.includes(api_key_token))
    assert.equal((await h.call('POST', `/v1/api_keys/${key.api_key_id}/archive`)).status, 200)
    const archived = await get(key.api_key_id)
    assert.equal(archived.status, 200)
    assert.notEqual(archived.body.archived_at, null)
    assertProblem(await get('0123456789abcdef0123456789abcdef'), 404)
  })

  it('lists current keys with filters and PropelAuth paging; secrets never appear', async () => {
    const secrets: string[] = []
    const mk = async (body: Record<string, unknown>) => {
      const k = await created(body)
      secrets.push(k.api_key_token)
      return k.api_key_id
    }
    const p1 = await mk({ user_id: alice, name: 'Deploy bot' })
    const p2 = await mk({ user_id: alice, name: 'laptop' })
    const pb = await mk({ user_id: bob, name: 'bob deploy' })
    const o1 = await mk({ org_id: acme, user_id: alice, name: 'org deploy' })
    const g1 = await mk({ name: 'generic' })

    const all = await list()
    assert.equal(all.status, 200)
    assert.equal(all.body.total_api_keys, 5)
    assert.deepEqual(new Set(all.body.api_keys.map((k) => k.api_key_id)), new Set([p1, p2, pb, o1, g1]))
    assert.equal(all.body.current_page, 0)
    assert.equal(all.body.page_size, 10)
    assert.equal(all.body.has_more_results, false)
    for (const s of secrets) assert.ok(!all.text.includes(s))
    assert.ok(!/secret_hash|previous_secret/.test(all.text))

    const ids = async (query: string, archived = false) => {
      const reply = await list(query, archived)
      assert.equal(reply.status, 200, reply.text)
      return new Set(reply.body.api_keys.map((k) => k.api_key_id))
    }
    assert.deepEqual(await ids(`user_id=${alice}`), new Set([p1, p2, o1]))
    assert.deepEqual(await ids(`user_id=${alice}&type=personal`), new Set([p1, p2]))
    assert.deepEqual(await ids(`api_key_type=org`), new Set([o1]))
    assert.deepEqual(await ids(`type=generic`), new Set([g1]))
    assert.deepEqual(await ids(`org_id=${acme}`), new Set([o1]))
    assert.deepEqual(await ids(`user_email=BOB@example.com`), new Set([pb]))
    assert.deepEqual(await ids(`user_email=nobody@example.com`), new Set())
    assert.deepEqual(await ids(`user_email=bob@example.com&user_id=${alice}`), new Set())
    assert.deepEqual(await ids(`query=DEPLOY`), new Set([p1, pb, o1]))
    assertProblem(await list('type=personal&api_key_type=org'), 400, 'api_key_type')
    assertProblem(await list('type=admin'), 400, 'type')
    assertProblem(await list('page_size=0'), 400, 'page_size')

    const page0 = await list('page_size=2&page_number=0')
    const page2 = await list('page_size=2&page_number=2')
    assert.equal(page0.body.api_keys.length, 2)
    assert.equal(page0.body.has_more_results, true)
    assert.equal(page0.body.total_api_keys, 5)
    assert.equal(page2.body.api_keys.length, 1)
    assert.equal(page2.body.current_page, 2)
    assert.equal(page2.body.has_more_results, false)

    // Archived keys leave the current list for the archived one.
    assert.equal((await h.call('POST', `/v1/api_keys/${p1}/archive`, { reason: 'leaked' })).status, 200)
    assert.deepEqual(await ids(`user_id=${alice}`), new Set([p2, o1]))
    assert.deepEqual(await ids(``, true), new Set([p1]))
    assert.deepEqual(await ids(`type=org`, true), new Set())
    const archived = await list('', true)
    assert.equal(archived.body.total_api_keys, 1)
    assert.equal(archived.body.api_keys[0]?.archive_reason, 'leaked')
    for (const s of secrets) assert.ok(!archived.text.includes(s))
  })
})

describe('PATCH /v1/api_keys/{id}', () => {
  it('updates fields, clears with null, replaces metadata and scopes, and announces it', async () => {
    const key = await created({
      user_id: alice,
      name: 'a',
      description: 'd',
      metadata: { a: 1 },
      scopes: ['x'],
      rate_limit_override: 10,
      expiration: 'one_month',
    })
    h.changes.length = 0
    const patch = (body: Record<string, unknown>) => h.call<KeyView>('PATCH', `/v1/api_keys/${key.api_key_id}`, body)
    const r1 = await patch({ name: 'b', description: null, metadata: { b: 2 }, scopes: [], rate_limit_override: null })
    assert.equal(r1.status, 200, r1.text)
    assert.equal(r1.body.name, 'b')
    assert.equal(r1.body.description, null)
    assert.deepEqual(r1.body.metadata, { b: 2 })
    assert.deepEqual(r1.body.scopes, [])
    assert.equal(r1.body.rate_limit_override, null)
    assert.equal(r1.body.expires_at_seconds, T0 + 30 * DAY, 'expiry untouched')
    assert.ok(!r1.text.includes(key.api_key_token))
    assert.deepEqual(h.changes, [{ kind: 'api_key', apiKeyId: key.api_key_id, userId: alice }])

    assert.equal((await patch({ set_to_never_expire: true })).body.expires_at_seconds, null)
    assert.equal((await patch({ expires_at_seconds: T0 + 99 })).body.expires_at_seconds, T0 + 99)
    assert.equal((await patch({ expiration: 'never' })).body.expires_at_seconds, null)
    assert.equal((await patch({ expiration: 'two_weeks' })).body.expires_at_seconds, T0 + 14 * DAY)
    assert.equal((await patch({ expires_in_seconds: 10 })).body.expires_at_seconds, T0 + 10)
    assert.equal((await patch({ rate_limit_override: 7 })).body.rate_limit_override, 7)
  })

  it('answers 400 for bad input and 404 for an unknown key', async () => {
    const key = await created({ user_id: alice })
    const path = `/v1/api_keys/${key.api_key_id}`
    assertProblem(await h.call('PATCH', path, { set_to_never_expire: true, expiration: 'one_year' }), 400)
    assertProblem(await h.call('PATCH', path, { set_to_never_expire: false }), 400, 'set_to_never_expire')
    assertProblem(await h.call('PATCH', path, { expires_at_seconds: T0 - 1 }), 400, 'expires_at_seconds')
    assertProblem(await h.call('PATCH', path, { user_id: bob }), 400, 'user_id')
    assertProblem(await h.call('PATCH', path, { protected: false }), 400, 'protected')
    assertProblem(await h.call('PATCH', '/v1/api_keys/0123456789abcdef0123456789abcdef', { name: 'x' }), 404)
  })

  it('lets a key that expired be given a new expiry, and validation follows', async () => {
    const key = await created({ user_id: alice, expires_in_seconds: 60 })
    clock.now = T0 + 61
    await refused(await validate(key.api_key_token), 400, 'expired')
    assert.equal((await h.call('PATCH', `/v1/api_keys/${key.api_key_id}`, { set_to_never_expire: true })).status, 200)
    assert.equal((await validate(key.api_key_token)).status, 200)
  })
})

describe('POST /v1/api_keys/{id}/rotate', () => {
  it('without grace: a new secret; the old one stops at once', async () => {
    const key = await created({ user_id: alice })
    h.changes.length = 0
    const reply = await h.call<KeyWithSecret>('POST', `/v1/api_keys/${key.api_key_id}/rotate`)
    assert.equal(reply.status, 200, reply.text)
    assert.equal(reply.body.api_key_id, key.api_key_id)
    assert.notEqual(reply.body.api_key_token, key.api_key_token)
    assert.equal(parseApiKeySecret(reply.body.api_key_token), 'personal')
    assert.notEqual(reply.body.display, key.display)
    await refused(await validate(key.api_key_token), 404, 'not_found')
    assert.equal((await validate(reply.body.api_key_token)).status, 200)
    assert.deepEqual(h.changes, [{ kind: 'api_key', apiKeyId: key.api_key_id, userId: alice }])
    const fetched = await get(key.api_key_id)
    assert.ok(!fetched.text.includes(reply.body.api_key_token))
  })

  it('with grace_seconds: both secrets work until the grace ends', async () => {
    const key = await created({ org_id: acme, user_id: alice })
    const reply = await h.call<KeyWithSecret>('POST', `/v1/api_keys/${key.api_key_id}/rotate`, { grace_seconds: 3600 })
    assert.equal(reply.status, 200, reply.text)
    const old = await validate(key.api_key_token)
    assert.equal(old.status, 200)
    assert.equal(old.body.api_key_id, key.api_key_id)
    assert.equal((await validate(reply.body.api_key_token)).status, 200)
    clock.now = T0 + 3599
    assert.equal((await validate(key.api_key_token)).status, 200)
    clock.now = T0 + 3600
    await refused(await validate(key.api_key_token), 404, 'not_found')
    assert.equal((await validate(reply.body.api_key_token)).status, 200)
  })

  it('grace_seconds 0 is the same as none', async () => {
    const key = await created({})
    assert.equal((await h.call('POST', `/v1/api_keys/${key.api_key_id}/rotate`, { grace_seconds: 0 })).status, 200)
    await refused(await validate(key.api_key_token), 404, 'not_found')
  })

  it('answers 409 for protected or archived keys, 404 for unknown ones, 400 for a bad grace', async () => {
    const prot = await created({ protected: true })
    const rotateProt = await h.call<Refusal>('POST', `/v1/api_keys/${prot.api_key_id}/rotate`)
    assertProblem(rotateProt, 409, 'api_key_id')
    assert.equal(rotateProt.body.error_code, 'protected')
    assert.equal((await validate(prot.api_key_token)).status, 200, 'still the same secret')
    const key = await created({})
    await h.call('POST', `/v1/api_keys/${key.api_key_id}/archive`)
    const rotateArchived = await h.call<Refusal>('POST', `/v1/api_keys/${key.api_key_id}/rotate`)
    assertProblem(rotateArchived, 409, 'api_key_id')
    assert.equal(rotateArchived.body.error_code, 'archived')
    assertProblem(await h.call('POST', '/v1/api_keys/0123456789abcdef0123456789abcdef/rotate'), 404)
    const other = await created({})
    assertProblem(await h.call('POST', `/v1/api_keys/${other.api_key_id}/rotate`, { grace_seconds: -1 }), 400, 'grace_seconds')
    assertProblem(await h.call('POST', `/v1/api_keys/${other.api_key_id}/rotate`, { grace_seconds: 31 * DAY }), 400, 'grace_seconds')
  })
})

describe('POST /v1/api_keys/{id}/archive and DELETE', () => {
  it('archives with a reason; the key stops; archiving again changes nothing', async () => {
    const key = await created({ user_id: alice })
    h.changes.length = 0
    const reply = await h.call<KeyView>('POST', `/v1/api_keys/${key.api_key_id}/archive`, { reason: 'leaked in a gist' })
    assert.equal(reply.status, 200, reply.text)
    assert.equal(typeof reply.body.archived_at, 'number')
    assert.equal(reply.body.archive_reason, 'leaked in a gist')
    assert.deepEqual(h.changes, [{ kind: 'api_key', apiKeyId: key.api_key_id, userId: alice }])
    const why = await refused(await validate(key.api_key_token), 400, 'archived')
    assert.match(why.detail ?? '', /leaked in a gist/)
    const again = await h.call<KeyView>('POST', `/v1/api_keys/${key.api_key_id}/archive`, { reason: 'other' })
    assert.equal(again.status, 200)
    assert.equal(again.body.archive_reason, 'leaked in a gist')
    assert.equal(h.changes.length, 1)
  })

  it('answers 409 for a protected key, 404 for an unknown one', async () => {
    const prot = await created({ protected: true })
    const reply = await h.call<Refusal>('POST', `/v1/api_keys/${prot.api_key_id}/archive`)
    assertProblem(reply, 409, 'api_key_id')
    assert.equal(reply.body.error_code, 'protected')
    assertProblem(await h.call('POST', '/v1/api_keys/0123456789abcdef0123456789abcdef/archive'), 404)
    assertProblem(await h.call('POST', `/v1/api_keys/${prot.api_key_id}/archive`, { reason: '' }), 400, 'reason')
  })

  it('deletes a key with its usage, audits it without the secret, and announces it', async () => {
    const key = await created({ org_id: acme, user_id: alice, name: 'doomed' })
    await h.store.recordApiKeyUsage([{ api_key_id: key.api_key_id, date: '2026-01-02', count: 3, last_used_at: T0 }])
    h.changes.length = 0
    const reply = await h.call('DELETE', `/v1/api_keys/${key.api_key_id}`)
    assert.equal(reply.status, 204, reply.text)
    assertProblem(await get(key.api_key_id), 404)
    await refused(await validate(key.api_key_token), 404, 'not_found')
    assert.deepEqual(h.changes, [{ kind: 'api_key', apiKeyId: key.api_key_id, userId: alice, orgId: acme }])
    assert.equal(audits.length, 1)
    assert.deepEqual(audits[0], {
      action: 'api_key.delete',
      api_key_id: key.api_key_id,
      type: 'org',
      user_id: alice,
      org_id: acme,
      name: 'doomed',
      display: key.display,
      at: T0,
    })
    assert.ok(!JSON.stringify(audits).includes(key.api_key_token))
    const usage = await h.call<{ count: number }>('GET', `/v1/api_keys/usage?date=2026-01-02&api_key_id=${key.api_key_id}`)
    assert.deepEqual(usage.body, { count: 0 })
    assertProblem(await h.call('DELETE', `/v1/api_keys/${key.api_key_id}`), 404)
    assert.equal(audits.length, 1)
  })

  it('refuses to delete a protected key (409) and deletes archived ones', async () => {
    const prot = await created({ protected: true })
    const reply = await h.call<Refusal>('DELETE', `/v1/api_keys/${prot.api_key_id}`)
    assertProblem(reply, 409, 'api_key_id')
    assert.equal(reply.body.error_code, 'protected')
    assert.equal(audits.length, 0)
    const key = await created({})
    await h.call('POST', `/v1/api_keys/${key.api_key_id}/archive`)
    assert.equal((await h.call('DELETE', `/v1/api_keys/${key.api_key_id}`)).status, 204)
  })
})

describe('POST /v1/api_keys/import and validate_imported', () => {
  const EXTERNAL = 'sk_live_51HxTq2ExampleExternalKey0000'

  it('imports any key string; validate_imported finds it, the format-checked validate does not', async () => {
    const reply = await h.call<{ api_key_id: string }>('POST', '/v1/api_keys/import', {
      imported_api_key: EXTERNAL,
      user_id: alice,
      name: 'from stripe-like system',
      metadata: { source: 'legacy' },
      expiration: 'one_year',
    })
    assert.equal(reply.status, 201, reply.text)
    assert.deepEqual(Object.keys(reply.body), ['api_key_id'])
    const id = reply.body.api_key_id
    assert.deepEqual(h.changes, [{ kind: 'api_key', apiKeyId: id, userId: alice }])
    const fetched = await get(id)
    assert.equal(fetched.body.imported, true)
    assert.equal(fetched.body.type, 'personal')
    assert.equal(fetched.body.expires_at_seconds, T0 + 365 * DAY)
    assert.ok(!fetched.text.includes(EXTERNAL))
    assert.ok(EXTERNAL.startsWith(fetched.body.display.replace('…', '')))
    assert.ok(fetched.body.display.length - 1 <= EXTERNAL.length / 4)

    const ok = await validate(`bearer ${EXTERNAL}`, 'validate_imported')
    assert.equal(ok.status, 200, ok.text)
    assert.equal(ok.body.api_key_id, id)
    assert.equal(ok.body.user?.user_id, alice)
    assert.deepEqual(ok.body.metadata, { source: 'legacy' })
    await refused(await validate(EXTERNAL), 404, 'not_found')
  })

  it('imports org and generic keys; a short string shows only its start', async () => {
    const org = await h.call<{ api_key_id: string }>('POST', '/v1/api_keys/import', {
      imported_api_key: 'abcdefghijklmnopqrstuvwxyz012345',
      org_id: acme,
    })
    assert.equal(org.status, 201)
    assert.equal((await get(org.body.api_key_id)).body.type, 'org')
    const short = 'nounderscore1234'
    const gen = await h.call<{ api_key_id: string }>('POST', '/v1/api_keys/import', { imported_api_key: short })
    const view = await get(gen.body.api_key_id)
    assert.equal(view.body.type, 'generic')
    assert.equal(view.body.display, 'noun…')
    assert.equal((await validate(short, 'validate_imported')).status, 200)
  })

  it('answers 409 for a duplicate, 400 for a bad body, 404 for unknown owners', async () => {
    assert.equal((await h.call('POST', '/v1/api_keys/import', { imported_api_key: EXTERNAL })).status, 201)
    assertProblem(await h.call('POST', '/v1/api_keys/import', { imported_api_key: EXTERNAL, user_id: alice }), 409, 'imported_api_key')
    // A generated key's secret is taken too.
    const key = await created({})
    assertProblem(await h.call('POST', '/v1/api_keys/import', { imported_api_key: key.api_key_token }), 409, 'imported_api_key')
    assertProblem(await h.call('POST', '/v1/api_keys/import', { imported_api_key: 'short' }), 400, 'imported_api_key')
    assertProblem(await h.call('POST', '/v1/api_keys/import', {}), 400, 'imported_api_key')
    assertProblem(await h.call('POST', '/v1/api_keys/import', { imported_api_key: `${EXTERNAL}x`, user_id: 'ghost' }), 404)
  })
})

describe('POST /v1/api_keys/validate (and _personal, _org)', () => {
  it("validates a personal key, with or without a bearer prefix, in PropelAuth's shape", async () => {
    const key = await created({ user_id: alice, metadata: { m: 1 }, scopes: ['read'] })
    for (const token of [key.api_key_token, `Bearer ${key.api_key_token}`, `BEARER ${key.api_key_token}`]) {
      for (const path of ['validate', 'validate_personal', 'validate_imported']) {
        const reply = await validate(token, path)
        assert.equal(reply.status, 200, `${path}: ${reply.text}`)
        assert.equal(reply.body.api_key_id, key.api_key_id)
        assert.equal(reply.body.type, 'personal')
        assert.deepEqual(reply.body.metadata, { m: 1 })
        assert.deepEqual(reply.body.scopes, ['read'])
        assert.equal(reply.body.user?.user_id, alice)
        assert.equal(reply.body.user?.email, 'alice@example.com')
        assert.ok(reply.body.user?.org_id_to_org_info?.[acme])
        assert.equal(reply.body.org, null)
        assert.equal(reply.body.user_in_org, null)
        assert.equal(reply.body.user_id, alice)
        assert.equal(reply.body.org_id, null)
        assert.ok(!reply.text.includes(key.api_key_token))
      }
    }
    await refused(await validate(key.api_key_token, 'validate_org'), 400, 'not_org')
  })

  it('validates an org key with its creator: org, user and user_in_org', async () => {
    const key = await created({ org_id: acme, user_id: alice })
    for (const path of ['validate', 'validate_org']) {
      const reply = await validate(key.api_key_token, path)
      assert.equal(reply.status, 200, reply.text)
      assert.equal(reply.body.type, 'org')
      assert.deepEqual(reply.body.org, {
        org_id: acme,
        org_name: 'Acme',
        url_safe_org_name: 'acme',
        max_users: null,
        is_saml_configured: false,
        can_setup_saml: false,
        metadata: {},
      })
      assert.equal(reply.body.user?.user_id, alice)
      assert.equal(reply.body.user_in_org?.user_role, 'Admin')
      assert.ok(reply.body.user_in_org?.user_permissions.includes('can_manage_api_keys'))
      assert.equal(reply.body.org_id, acme)
    }
    await refused(await validate(key.api_key_token, 'validate_personal'), 400, 'not_personal')
    const bare = await created({ org_id: acme })
    const reply = await validate(bare.api_key_token, 'validate_org')
    assert.equal(reply.body.user, null)
    assert.equal(reply.body.user_in_org, null)
  })

  it('validates a generic key with no owners; it is neither personal nor org', async () => {
    const key = await created({ metadata: { svc: 'billing' } })
    const reply = await validate(key.api_key_token)
    assert.equal(reply.status, 200)
    assert.deepEqual(
      { user: reply.body.user, org: reply.body.org, user_in_org: reply.body.user_in_org, type: reply.body.type },
      { user: null, org: null, user_in_org: null, type: 'generic' },
    )
    await refused(await validate(key.api_key_token, 'validate_personal'), 400, 'not_personal')
    await refused(await validate(key.api_key_token, 'validate_org'), 400, 'not_org')
  })

  it('rejects garbage by the format, without a store lookup', async () => {
    let lookups = 0
    const find = h.store.findApiKeyWithOwner.bind(h.store)
    h.store.findApiKeyWithOwner = async (...args) => {
      lookups++
      return find(...args)
    }
    const key = await created({})
    // A flipped character breaks the checksum.
    const last = key.api_key_token.at(-1) === 'a' ? 'b' : 'a'
    const tampered = key.api_key_token.slice(0, -1) + last
    for (const token of ['garbage', 'gts_short', tampered, `Bearer ${tampered}`, 'x'.repeat(2000)]) {
      for (const path of ['validate', 'validate_personal', 'validate_org']) await refused(await validate(token, path), 404, 'not_found')
    }
    assert.equal(lookups, 0)
    // Well-formed but unknown: looked up, then not found.
    const other = await harness()
    const stranger = (await other.call<KeyWithSecret>('POST', '/v1/api_keys', {})).body.api_key_token
    await other.close()
    await refused(await validate(stranger), 404, 'not_found')
    assert.equal(lookups, 1)
    // validate_imported skips the format check.
    await refused(await validate('garbage', 'validate_imported'), 404, 'not_found')
    assert.equal(lookups, 2)
    assertProblem(await h.call('POST', '/v1/api_keys/validate', {}), 400, 'api_key_token')
    assertProblem(await h.call('POST', '/v1/api_keys/validate', { api_key_token: '' }), 400, 'api_key_token')
  })

  it('says expired once the expiry passes', async () => {
    const key = await created({ user_id: alice, expires_in_seconds: 100 })
    clock.now = T0 + 99
    assert.equal((await validate(key.api_key_token)).status, 200)
    clock.now = T0 + 100
    const why = await refused(await validate(key.api_key_token), 400, 'expired')
    assert.equal(why.api_key_token?.[0], 'the API key has expired')
  })

  it('says owner_disabled for a disabled or deleted user', async () => {
    const key = await created({ user_id: bob })
    assert.equal((await h.call('POST', `/v1/users/${bob}/disable`)).status, 200)
    await refused(await validate(key.api_key_token, 'validate_personal'), 400, 'owner_disabled')
    assert.equal((await h.call('POST', `/v1/users/${bob}/enable`)).status, 200)
    assert.equal((await validate(key.api_key_token)).status, 200)
    assert.equal((await h.call('DELETE', `/v1/users/${bob}`)).status, 204)
    await refused(await validate(key.api_key_token), 400, 'owner_disabled')
  })

  it('says owner_disabled for a deleted org', async () => {
    const key = await created({ org_id: acme })
    assert.equal((await h.call('DELETE', `/v1/orgs/${acme}`)).status, 204)
    await refused(await validate(key.api_key_token, 'validate_org'), 400, 'owner_disabled')
  })

  it("says owner_disabled when a creator-bound key's creator is no longer a member", async () => {
    const key = await created({ org_id: acme, user_id: alice, revoke_on_creator_leave: true })
    // Removed behind the API's back, so the key is not archived: validation still checks the membership.
    assert.equal(await h.store.removeMember(acme, alice), true)
    await refused(await validate(key.api_key_token, 'validate_org'), 400, 'owner_disabled')
  })

  it("takes an org key's user_id as its creator when created_by is null, as the proxy does", async () => {
    const { secret, secret_hash, display } = generateApiKeySecret('org')
    await h.store.createApiKey({
      type: 'org',
      user_id: alice,
      org_id: acme,
      created_by: null,
      expires_at: null,
      revoke_on_creator_leave: true,
      secret_hash,
      display,
    })
    assert.equal((await validate(secret, 'validate_org')).status, 200)
    assert.equal(await h.store.removeMember(acme, alice), true)
    const why = await refused(await validate(secret, 'validate_org'), 400, 'owner_disabled')
    assert.equal(why.api_key_token?.[0], "the API key's creator left the org")
  })

  it('keeps an org key without revoke_on_creator_leave working after its creator leaves, without user_in_org', async () => {
    const key = await created({ org_id: acme, user_id: alice })
    assert.equal((await h.call('DELETE', `/v1/orgs/${acme}/members/${alice}`)).status, 204)
    const reply = await validate(key.api_key_token)
    assert.equal(reply.status, 200)
    assert.equal(reply.body.user?.user_id, alice)
    assert.equal(reply.body.user_in_org, null)
  })
})

describe('automatic archiving when a creator leaves', () => {
  it('removing a member archives the org keys they created with revoke_on_creator_leave, and announces them', async () => {
    const bound = await created({ org_id: acme, user_id: alice, revoke_on_creator_leave: true })
    const unbound = await created({ org_id: acme, user_id: alice })
    const personal = await created({ user_id: alice })
    h.changes.length = 0
    assert.equal((await h.call('DELETE', `/v1/orgs/${acme}/members/${alice}`)).status, 204)
    assert.deepEqual(h.changes, [
      { kind: 'membership', orgId: acme, userId: alice },
      { kind: 'api_key', apiKeyId: bound.api_key_id, orgId: acme, userId: alice },
    ])
    const archived = await get(bound.api_key_id)
    assert.equal(archived.body.archive_reason, 'creator left the org')
    await refused(await validate(bound.api_key_token), 400, 'archived')
    assert.equal((await validate(unbound.api_key_token)).status, 200)
    assert.equal((await validate(personal.api_key_token)).status, 200)
  })

  it('deleting a user archives the org keys they created with revoke_on_creator_leave', async () => {
    const bound = await created({ org_id: acme, user_id: alice, revoke_on_creator_leave: true })
    h.changes.length = 0
    assert.equal((await h.call('DELETE', `/v1/users/${alice}`)).status, 204)
    assert.deepEqual(h.changes, [
      { kind: 'user', userId: alice },
      { kind: 'api_key', apiKeyId: bound.api_key_id, orgId: acme, userId: alice },
    ])
    assert.equal((await get(bound.api_key_id)).body.archive_reason, 'creator was deleted')
  })
})

describe('GET /v1/api_keys/usage', () => {
  it("sums the day's counts over the keys matching the filters", async () => {
    const a1 = await created({ user_id: alice })
    const a2 = await created({ org_id: acme, user_id: alice })
    const b1 = await created({ user_id: bob })
    await h.store.recordApiKeyUsage([
      { api_key_id: a1.api_key_id, date: '2026-03-01', count: 5, last_used_at: T0 },
      { api_key_id: a2.api_key_id, date: '2026-03-01', count: 7, last_used_at: T0 },
      { api_key_id: b1.api_key_id, date: '2026-03-01', count: 11, last_used_at: T0 },
      { api_key_id: a1.api_key_id, date: '2026-03-02', count: 13, last_used_at: T0 + DAY },
    ])
    const usage = async (query: string) => {
      const reply = await h.call<{ count: number }>('GET', `/v1/api_keys/usage?${query}`)
      assert.equal(reply.status, 200, reply.text)
      return reply.body.count
    }
    assert.equal(await usage('date=2026-03-01'), 23)
    assert.equal(await usage(`date=2026-03-01&api_key_id=${a1.api_key_id}`), 5)
    assert.equal(await usage(`date=2026-03-01&user_id=${alice}`), 12)
    assert.equal(await usage(`date=2026-03-01&org_id=${acme}`), 7)
    assert.equal(await usage(`date=2026-03-02&user_id=${alice}`), 13)
    assert.equal(await usage('date=2026-03-03'), 0)
    assert.equal((await get(a1.api_key_id)).body.last_used_at, T0 + DAY)
    assertProblem(await h.call('GET', '/v1/api_keys/usage'), 400, 'date')
    assertProblem(await h.call('GET', '/v1/api_keys/usage?date=2026-3-1'), 400, 'date')
    assertProblem(await h.call('GET', '/v1/api_keys/usage?date=2026-02-30'), 400, 'date')
  })
})

describe('the OpenAPI document', () => {
  it('describes the API-key routes', async () => {
    const reply = await send<{ paths: Record<string, unknown> }>(h.app, '/openapi.json')
    for (const path of [
      '/v1/api_keys',
      '/v1/api_keys/archived',
      '/v1/api_keys/usage',
      '/v1/api_keys/import',
      '/v1/api_keys/validate',
      '/v1/api_keys/validate_personal',
      '/v1/api_keys/validate_org',
      '/v1/api_keys/validate_imported',
      '/v1/api_keys/{api_key_id}',
      '/v1/api_keys/{api_key_id}/rotate',
      '/v1/api_keys/{api_key_id}/archive',
    ]) {
      assert.ok(reply.body.paths[path], path)
    }
  })
})
