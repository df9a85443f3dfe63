import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createUsageCounter, createValidationMeter } from '../../src/apikeys/index.ts'
import { createMemoryLimiter } from '../../src/ratelimit/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import { assertProblem, harness, ROLES } from './harness.ts'
import type { Harness } from './harness.ts'

type Key = { api_key_id: string; api_key_token: string; name: string | null; type: string }
type Page = { api_keys: Key[]; orgs: { org_id: string }[] }

/** The native /v1 API takes PropelAuth's field names and spellings where they differ, so the two APIs never disagree. */
describe('/v1 with PropelAuth’s names', () => {
  let h: Harness
  before(async () => {
    h = await harness()
  })
  after(() => h.close())

  it('user creation, migration and update accept PropelAuth’s email flags (no effect) and its password flags', async () => {
    const flags = {
      send_email_to_confirm_email_address: false,
      ask_user_to_update_password_on_login: true,
      ignore_domain_restrictions: true,
    }
    const id = await h.createUser('flags@example.com', flags)
    assert.equal((await h.call<{ update_password_required: boolean }>('GET', `/v1/users/${id}`)).body.update_password_required, true)
    const migrated = await h.call<{ user_id: string }>('POST', '/v1/users/migrate', {
      email: 'm@example.com',
      email_confirmed: true,
      ask_user_to_update_password_on_login: true,
    })
    assert.equal(migrated.status, 201, migrated.text)
    const updated = await h.call<{ update_password_required: boolean }>('PATCH', `/v1/users/${id}`, {
      first_name: 'F',
      update_password_required: false,
    })
    assert.equal(updated.status, 200, updated.text)
    assert.equal(updated.body.update_password_required, false)
    assertProblem(await h.call('POST', '/v1/users', { email: 'p@example.com', password: 'short' }), 400, 'password')
  })

  it('display_name names a key; api_key_type takes User, Org and Generic', async () => {
    const user = await h.createUser('keys@example.com')
    const created = await h.call<Key>('POST', '/v1/api_keys', { user_id: user, display_name: 'CI' })
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.name, 'CI')
    assertProblem(await h.call('POST', '/v1/api_keys', { user_id: user, name: 'a', display_name: 'b' }), 400, 'display_name')
    await h.call('POST', '/v1/api_keys', {})
    const types = async (spelling: string) =>
      (await h.call<Page>('GET', `/v1/api_keys?api_key_type=${spelling}`)).body.api_keys.map((k) => k.type)
    assert.deepEqual(await types('User'), ['personal'])
    assert.deepEqual(await types('Generic'), ['generic'])
    assert.deepEqual(await types('Org'), [])
  })

  it('one directory: what the PropelAuth API writes, /v1 reads, and the other way round', async () => {
    const created = await h.call<{ user_id: string }>('POST', '/api/backend/v1/user/', { email: 'both@example.com', first_name: 'Both' })
    assert.equal(created.status, 200, created.text)
    const viaV1 = await h.call<{ first_name: string }>('GET', `/v1/users/${created.body.user_id}`)
    assert.equal(viaV1.body.first_name, 'Both')
    const org = await h.createOrg('Shared')
    const viaCompat = await h.call<{ org_id: string; can_setup_saml: boolean }>('GET', `/api/backend/v1/org/${org}`)
    assert.equal(viaCompat.body.org_id, org)
    assert.equal(viaCompat.body.can_setup_saml, false)
    const refused = await h.call<Record<string, string[]>>('POST', '/api/backend/v1/user/', { email: 'x@example.com', password: 'short' })
    assert.equal(refused.status, 400)
    assert.ok(refused.body.password?.[0])
    assert.equal((await h.call('GET', '/api/backend/v1/scim/x/groups')).status, 404)
    assert.equal((await h.call('GET', `/api/backend/v1/org/${org}`, undefined, { authorization: 'Bearer wrong' })).status, 401)
  })

  it('orgs order by LAST_ACTIVE_AT_ASC and _DESC', async () => {
    const reply = await h.call<Page>('GET', '/v1/orgs?order_by=LAST_ACTIVE_AT_DESC')
    assert.equal(reply.status, 200, reply.text)
    assertProblem(await h.call('GET', '/v1/orgs?order_by=LAST_ACTIVE'), 400, 'order_by')
  })
})

describe('the PropelAuth API with the management API off', () => {
  it('answers 404 like /v1', async () => {
    const h = await harness({ apiKey: undefined })
    try {
      assertProblem(await h.call('GET', '/api/v1/token_verification_metadata'), 404)
    } finally {
      await h.close()
    }
  })
})

describe('/v1 validation with a meter', () => {
  it('counts each validation against the owner’s budget and answers 429 with wait_seconds past it', async () => {
    const store = await createSqliteStore(':memory:')
    const usage = createUsageCounter({ store, flushMs: 60_000, onError: () => {} })
    const meter = createValidationMeter({
      roles: ROLES,
      limiter: createMemoryLimiter({ maxTracked: 1000 }),
      limits: { user: { limit: 2, windowMs: 60_000, text: '2/1m' }, org: undefined, generic: undefined, anonymous: undefined },
      usage,
    })
    const h = await harness({ store, meter })
    try {
      const user = await h.createUser('metered@example.com')
      const { api_key_id, api_key_token } = (await h.call<Key>('POST', '/v1/api_keys', { user_id: user })).body
      for (let i = 0; i < 2; i++) assert.equal((await h.call('POST', '/v1/api_keys/validate', { api_key_token })).status, 200)
      const limited = await h.call<{ wait_seconds: number }>('POST', '/v1/api_keys/validate', { api_key_token })
      assertProblem(limited, 429)
      assert.ok(limited.body.wait_seconds > 0)
      assert.ok(Number(limited.headers.get('retry-after')) >= 1)
      await usage.flush()
      const date = new Date().toISOString().slice(0, 10)
      assert.equal((await h.call<{ count: number }>('GET', `/v1/api_keys/usage?date=${date}&api_key_id=${api_key_id}`)).body.count, 2)
    } finally {
      await usage.close()
      await h.close()
      await store.close()
    }
  })
})
