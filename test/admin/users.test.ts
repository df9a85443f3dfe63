import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { assertProblem, harness } from './harness.ts'
import type { Harness, OrgUsersPage, UserMetadata, UsersPage } from './harness.ts'

let h: Harness
beforeEach(async () => {
  h = await harness()
})
afterEach(() => h.close())

const getUser = (id: string, query = '') => h.call<UserMetadata>('GET', `/v1/users/${id}${query}`)

describe('POST /v1/users', () => {
  it('creates a user and answers 201 {user_id}', async () => {
    const reply = await h.call<{ user_id: string }>('POST', '/v1/users', {
      email: 'Ada@Example.com',
      email_confirmed: true,
      username: 'ada',
      first_name: 'Ada',
      last_name: 'Lovelace',
      picture_url: 'https://img.example.com/ada.png',
      properties: { plan: 'pro' },
      metadata: { crm_id: 7 },
    })
    assert.equal(reply.status, 201)
    assert.deepEqual(Object.keys(reply.body), ['user_id'])
    const user = (await getUser(reply.body.user_id)).body
    assert.deepEqual(user, {
      user_id: reply.body.user_id,
      email: 'Ada@Example.com',
      email_confirmed: true,
      has_password: false,
      update_password_required: false,
      username: 'ada',
      first_name: 'Ada',
      last_name: 'Lovelace',
      picture_url: 'https://img.example.com/ada.png',
      locked: false,
      enabled: true,
      mfa_enabled: false,
      can_create_orgs: false,
      created_at: user.created_at,
      last_active_at: user.last_active_at,
      metadata: { crm_id: 7 },
      properties: { plan: 'pro' },
    })
    assert.ok(Number.isInteger(user.created_at) && Math.abs(user.created_at - Date.now() / 1000) < 60)
    assert.deepEqual(h.changes, [{ kind: 'user', userId: reply.body.user_id }])
  })

  it('defaults email_confirmed to false and leaves absent optional fields out', async () => {
    const user = (await getUser(await h.createUser('min@example.com'))).body
    assert.equal(user.email_confirmed, false)
    for (const field of ['username', 'first_name', 'last_name', 'picture_url', 'legacy_user_id', 'org_id_to_org_info']) {
      assert.ok(!(field in user), field)
    }
    assert.deepEqual([user.metadata, user.properties], [{}, {}])
  })

  it('refuses a password outside the length rule with 400 naming the field, without echoing it', async () => {
    const reply = await h.call('POST', '/v1/users', { email: 'p@example.com', password: 'hunter2' })
    assertProblem(reply, 400, 'password')
    assert.match(reply.body.errors?.[0]?.message ?? '', /8 to 1024 characters/)
    assert.ok(!reply.text.includes('hunter2'), 'the password is not echoed')
    assert.equal(await h.store.getUserByEmail('p@example.com'), undefined)
  })

  const invalid: [string, Record<string, unknown>][] = [
    ['email', {}],
    ['email', { email: 'not-an-email' }],
    ['email_confirmed', { email: 'a@example.com', email_confirmed: 'yes' }],
    ['username', { email: 'a@example.com', username: '' }],
    ['picture_url', { email: 'a@example.com', picture_url: 'not a url' }],
    ['metadata', { email: 'a@example.com', metadata: [1] }],
    ['properties', { email: 'a@example.com', properties: 'x' }],
    ['nickname', { email: 'a@example.com', nickname: 'x' }],
  ]
  for (const [field, body] of invalid) {
    it(`answers 400 naming ${field} for ${JSON.stringify(body)}`, async () => {
      assertProblem(await h.call('POST', '/v1/users', body), 400, field)
      assert.deepEqual(h.changes, [])
    })
  }

  it('answers 409 naming email or username for a duplicate, whatever its case', async () => {
    await h.createUser('dup@example.com', { username: 'dupe' })
    h.changes.length = 0
    assertProblem(await h.call('POST', '/v1/users', { email: 'DUP@example.com' }), 409, 'email')
    assertProblem(await h.call('POST', '/v1/users', { email: 'other@example.com', username: 'DUPE' }), 409, 'username')
    assert.deepEqual(h.changes, [])
  })
})

describe('GET /v1/users/{user_id}, /email/{email}, /username/{username}', () => {
  it('fetches by id, email and username (case-insensitive), the same record', async () => {
    const id = await h.createUser('Grace+ops@Example.com', { username: 'Grace' })
    const byId = (await getUser(id)).body
    const byEmail = await h.call<UserMetadata>('GET', `/v1/users/email/${encodeURIComponent('grace+OPS@example.com')}`)
    const byUsername = await h.call<UserMetadata>('GET', '/v1/users/username/grace')
    assert.equal(byEmail.status, 200)
    assert.deepEqual(byEmail.body, byId)
    assert.deepEqual(byUsername.body, byId)
  })

  it('answers 404 for an unknown id, email or username', async () => {
    assertProblem(await getUser('no-such-user'), 404)
    assertProblem(await h.call('GET', '/v1/users/email/nobody@example.com'), 404)
    assertProblem(await h.call('GET', '/v1/users/username/nobody'), 404)
  })

  it('answers 400 for a malformed email or include_orgs', async () => {
    assertProblem(await h.call('GET', '/v1/users/email/not-an-email'), 400, 'email')
    const id = await h.createUser('x@example.com')
    assertProblem(await getUser(id, '?include_orgs=yes'), 400, 'include_orgs')
  })

  it('with include_orgs=true lists each org with the role, the roles below it and their permissions', async () => {
    const id = await h.createUser('owner@example.com', { username: 'owner' })
    const acme = await h.createOrg('Acme Inc')
    const beta = await h.createOrg('Beta')
    await h.addMember(acme, id, 'Owner')
    await h.addMember(beta, id, 'Member')
    const expected = {
      [acme]: {
        org_id: acme,
        org_name: 'Acme Inc',
        url_safe_org_name: 'acme-inc',
        user_role: 'Owner',
        inherited_user_roles_plus_current_role: ['Owner', 'Admin', 'Member'],
        user_permissions: ['can_view_billing', 'can_manage_api_keys', 'can_read'],
      },
      [beta]: {
        org_id: beta,
        org_name: 'Beta',
        url_safe_org_name: 'beta',
        user_role: 'Member',
        inherited_user_roles_plus_current_role: ['Member'],
        user_permissions: ['can_read'],
      },
    }
    assert.deepEqual((await getUser(id, '?include_orgs=true')).body.org_id_to_org_info, expected)
    assert.deepEqual(
      (await h.call<UserMetadata>('GET', '/v1/users/email/owner@example.com?include_orgs=true')).body.org_id_to_org_info,
      expected,
    )
    assert.deepEqual((await h.call<UserMetadata>('GET', '/v1/users/username/owner?include_orgs=true')).body.org_id_to_org_info, expected)
    assert.ok(!('org_id_to_org_info' in (await getUser(id, '?include_orgs=false')).body))
  })

  it('with include_orgs=true gives an empty map to a user in no org', async () => {
    assert.deepEqual((await getUser(await h.createUser('alone@example.com'), '?include_orgs=true')).body.org_id_to_org_info, {})
  })
})

describe('POST /v1/users/batch', () => {
  type Batch = Record<string, UserMetadata>
  let a: string
  let b: string
  beforeEach(async () => {
    a = await h.createUser('a@example.com', { username: 'alpha' })
    b = await h.createUser('b@example.com', { username: 'beta' })
  })

  it('maps each looked-up id to its user, leaving unknown ids out and duplicates once', async () => {
    const reply = await h.call<Batch>('POST', '/v1/users/batch', { user_ids: [b, 'unknown', a, b] })
    assert.equal(reply.status, 200)
    assert.deepEqual(Object.keys(reply.body), [b, a])
    assert.equal(reply.body[a]?.email, 'a@example.com')
    assert.equal(reply.body[b]?.user_id, b)
  })

  it('by emails and usernames, case-insensitively, keyed by the first spelling asked for', async () => {
    const byEmail = await h.call<Batch>('POST', '/v1/users/batch', { emails: ['A@Example.com', 'a@example.com', 'nobody@example.com'] })
    assert.deepEqual(Object.keys(byEmail.body), ['A@Example.com'])
    assert.equal(byEmail.body['A@Example.com']?.user_id, a)
    const byUsername = await h.call<Batch>('POST', '/v1/users/batch', { usernames: ['beta', 'ALPHA', 'gamma'] })
    assert.deepEqual(Object.keys(byUsername.body), ['beta', 'ALPHA'])
    assert.equal(byUsername.body.ALPHA?.user_id, a)
  })

  it('adds org_id_to_org_info with include_orgs=true', async () => {
    const org = await h.createOrg('Acme')
    await h.addMember(org, a, 'Admin')
    const reply = await h.call<Batch>('POST', '/v1/users/batch?include_orgs=true', { user_ids: [a, b] })
    assert.deepEqual(reply.body[a]?.org_id_to_org_info?.[org]?.inherited_user_roles_plus_current_role, ['Admin', 'Member'])
    assert.deepEqual(reply.body[b]?.org_id_to_org_info, {})
  })

  it('answers 400 unless exactly one non-empty list of at most 100 values is sent', async () => {
    assertProblem(await h.call('POST', '/v1/users/batch', {}), 400, 'body')
    assertProblem(await h.call('POST', '/v1/users/batch', { user_ids: [a], emails: ['a@example.com'] }), 400, 'emails')
    assertProblem(await h.call('POST', '/v1/users/batch', { user_ids: [] }), 400, 'user_ids')
    assertProblem(await h.call('POST', '/v1/users/batch', { user_ids: Array.from({ length: 101 }, (_, i) => `u${i}`) }), 400, 'user_ids')
    assertProblem(await h.call('POST', '/v1/users/batch', { user_ids: [a, 7] }), 400, 'user_ids.1')
  })
})

describe('GET /v1/users', () => {
  const list = (query = '') => h.call<UsersPage>('GET', `/v1/users${query}`)
  const emails = (page: UsersPage) => page.users.map((u) => u.email)

  it('pages with defaults page_size 10 and page_number 0', async () => {
    for (let i = 0; i < 12; i++) await h.createUser(`user${String(i).padStart(2, '0')}@example.com`)
    const first = (await list('?order_by=EMAIL')).body
    assert.deepEqual(
      { ...first, users: first.users.length },
      { total_users: 12, current_page: 0, page_size: 10, has_more_results: true, users: 10 },
    )
    const second = (await list('?order_by=EMAIL&page_number=1')).body
    assert.deepEqual(emails(second), ['user10@example.com', 'user11@example.com'])
    assert.equal(second.has_more_results, false)
    const exact = (await list('?page_size=4&page_number=2')).body
    assert.deepEqual([exact.users.length, exact.has_more_results, exact.page_size, exact.current_page], [4, false, 4, 2])
    const beyond = (await list('?page_size=5&page_number=9')).body
    assert.deepEqual([beyond.users, beyond.total_users, beyond.has_more_results], [[], 12, false])
  })

  it('orders by creation and last activity, both ways', async (t) => {
    let now = 1_700_000_000_000
    t.mock.method(Date, 'now', () => now)
    const ids: string[] = []
    for (const name of ['first', 'second', 'third']) {
      ids.push(await h.createUser(`${name}@example.com`))
      now += 10_000
    }
    // Activity in another order than creation: second, then third, then first.
    await h.store.updateUser(ids[1]!, { last_active_at: 1_800_000_001 })
    await h.store.updateUser(ids[2]!, { last_active_at: 1_800_000_002 })
    await h.store.updateUser(ids[0]!, { last_active_at: 1_800_000_003 })
    const order = async (by: string) => (await list(`?order_by=${by}`)).body.users.map((u) => u.email.split('@')[0])
    assert.deepEqual(await order('CREATED_AT_ASC'), ['first', 'second', 'third'])
    assert.deepEqual(await order('CREATED_AT_DESC'), ['third', 'second', 'first'])
    assert.deepEqual(await order('LAST_ACTIVE_AT_ASC'), ['second', 'third', 'first'])
    assert.deepEqual(await order('LAST_ACTIVE_AT_DESC'), ['first', 'third', 'second'])
    assert.deepEqual(
      (await list()).body.users.map((u) => u.user_id),
      ids,
      'CREATED_AT_ASC is the default',
    )
  })

  it('orders by email and by username (users without one last)', async () => {
    await h.createUser('carol@example.com', { username: 'zed' })
    await h.createUser('Alice@example.com')
    await h.createUser('bob@example.com', { username: 'Amy' })
    assert.deepEqual(emails((await list('?order_by=EMAIL')).body), ['Alice@example.com', 'bob@example.com', 'carol@example.com'])
    assert.deepEqual(emails((await list('?order_by=USERNAME')).body), ['bob@example.com', 'carol@example.com', 'Alice@example.com'])
  })

  it('filters by a partial email or username, case-insensitively', async () => {
    await h.createUser('support@propelauth.com')
    await h.createUser('sales@example.com', { username: 'PortMaster' })
    await h.createUser('other@example.com')
    const found = (await list('?email_or_username=PORT&order_by=EMAIL')).body
    assert.deepEqual(emails(found), ['sales@example.com', 'support@propelauth.com'])
    assert.equal(found.total_users, 2)
  })

  it('adds org_id_to_org_info with include_orgs=true', async () => {
    const id = await h.createUser('m@example.com')
    const org = await h.createOrg('Acme')
    await h.addMember(org, id, 'Member')
    assert.deepEqual(Object.keys((await list('?include_orgs=true')).body.users[0]?.org_id_to_org_info ?? {}), [org])
    assert.ok(!('org_id_to_org_info' in ((await list()).body.users[0] ?? {})))
  })

  for (const [query, field] of [
    ['?page_size=0', 'page_size'],
    ['?page_size=101', 'page_size'],
    ['?page_size=ten', 'page_size'],
    ['?page_size=1.5', 'page_size'],
    ['?page_number=-1', 'page_number'],
    ['?order_by=NAME', 'order_by'],
    ['?email_or_username=', 'email_or_username'],
  ]) {
    it(`answers 400 naming ${field} for ${query}`, async () => {
      assertProblem(await h.call('GET', `/v1/users${query}`), 400, field)
    })
  }
})

describe('PATCH /v1/users/{user_id}', () => {
  it('sets given fields, clears nulls, keeps absent ones and replaces objects', async () => {
    const id = await h.createUser('pat@example.com', { username: 'pat', first_name: 'Pat', last_name: 'Doe', metadata: { a: 1, b: 2 } })
    h.changes.length = 0
    const reply = await h.call<UserMetadata>('PATCH', `/v1/users/${id}`, {
      username: 'patricia',
      first_name: null,
      picture_url: 'https://img.example.com/p.png',
      metadata: { c: 3 },
      properties: { tier: 'gold' },
    })
    assert.equal(reply.status, 200)
    assert.equal(reply.body.username, 'patricia')
    assert.ok(!('first_name' in reply.body))
    assert.equal(reply.body.last_name, 'Doe')
    assert.equal(reply.body.picture_url, 'https://img.example.com/p.png')
    assert.deepEqual(reply.body.metadata, { c: 3 })
    assert.deepEqual(reply.body.properties, { tier: 'gold' })
    assert.deepEqual((await getUser(id)).body, reply.body)
    assert.deepEqual(h.changes, [{ kind: 'user', userId: id }])
  })

  it('answers 404 for an unknown user, 409 for a taken username, 400 for email (PUT .../email changes it)', async () => {
    assertProblem(await h.call('PATCH', '/v1/users/nobody', { first_name: 'X' }), 404)
    await h.createUser('one@example.com', { username: 'taken' })
    const id = await h.createUser('two@example.com')
    h.changes.length = 0
    assertProblem(await h.call('PATCH', `/v1/users/${id}`, { username: 'Taken' }), 409, 'username')
    assertProblem(await h.call('PATCH', `/v1/users/${id}`, { email: 'new@example.com' }), 400, 'email')
    assertProblem(await h.call('PATCH', `/v1/users/${id}`, { metadata: null }), 400, 'metadata')
    assert.deepEqual(h.changes, [])
  })
})

describe('PUT /v1/users/{user_id}/email', () => {
  it('changes the email; require_email_confirmation decides whether it counts as confirmed', async () => {
    const id = await h.createUser('old@example.com', { email_confirmed: true })
    h.changes.length = 0
    const unconfirmed = await h.call<UserMetadata>('PUT', `/v1/users/${id}/email`, {
      new_email: 'new@example.com',
      require_email_confirmation: true,
    })
    assert.equal(unconfirmed.status, 200)
    assert.deepEqual([unconfirmed.body.email, unconfirmed.body.email_confirmed], ['new@example.com', false])
    const confirmed = await h.call<UserMetadata>('PUT', `/v1/users/${id}/email`, {
      new_email: 'newer@example.com',
      require_email_confirmation: false,
    })
    assert.deepEqual([confirmed.body.email, confirmed.body.email_confirmed], ['newer@example.com', true])
    assert.equal((await h.call('GET', '/v1/users/email/old@example.com')).status, 404)
    assert.deepEqual(h.changes, [
      { kind: 'user', userId: id },
      { kind: 'user', userId: id },
    ])
  })

  it('answers 409 naming new_email when taken, 404 for an unknown user, 400 for bad input', async () => {
    await h.createUser('taken@example.com')
    const id = await h.createUser('mine@example.com')
    assertProblem(
      await h.call('PUT', `/v1/users/${id}/email`, { new_email: 'TAKEN@example.com', require_email_confirmation: false }),
      409,
      'new_email',
    )
    assertProblem(await h.call('PUT', '/v1/users/nobody/email', { new_email: 'x@example.com', require_email_confirmation: false }), 404)
    assertProblem(await h.call('PUT', `/v1/users/${id}/email`, { new_email: 'x@example.com' }), 400, 'require_email_confirmation')
    assertProblem(await h.call('PUT', `/v1/users/${id}/email`, { new_email: 'nope', require_email_confirmation: true }), 400, 'new_email')
  })
})

describe('disable, enable, can-create-orgs', () => {
  it('disable locks the user and enable unlocks it, each announced', async () => {
    const id = await h.createUser('d@example.com')
    h.changes.length = 0
    const disabled = await h.call<UserMetadata>('POST', `/v1/users/${id}/disable`)
    assert.equal(disabled.status, 200)
    assert.deepEqual([disabled.body.enabled, disabled.body.locked], [false, true])
    assert.equal((await h.store.getUser(id))?.enabled, false)
    const enabled = await h.call<UserMetadata>('POST', `/v1/users/${id}/enable`)
    assert.deepEqual([enabled.body.enabled, enabled.body.locked], [true, false])
    assert.deepEqual(h.changes, [
      { kind: 'user', userId: id },
      { kind: 'user', userId: id },
    ])
  })

  it('enable_can_create_orgs and disable_can_create_orgs flip can_create_orgs', async () => {
    const id = await h.createUser('c@example.com')
    assert.equal((await h.call<UserMetadata>('POST', `/v1/users/${id}/enable_can_create_orgs`)).body.can_create_orgs, true)
    assert.equal((await getUser(id)).body.can_create_orgs, true)
    assert.equal((await h.call<UserMetadata>('POST', `/v1/users/${id}/disable_can_create_orgs`)).body.can_create_orgs, false)
    assert.equal(h.changes.length, 3)
  })

  for (const action of ['disable', 'enable', 'enable_can_create_orgs', 'disable_can_create_orgs']) {
    it(`${action} answers 404 for an unknown user and announces nothing`, async () => {
      assertProblem(await h.call('POST', `/v1/users/nobody/${action}`), 404)
      assert.deepEqual(h.changes, [])
    })
  }
})

describe('DELETE /v1/users/{user_id}', () => {
  it('deletes the user and their memberships, and announces it', async () => {
    const id = await h.createUser('gone@example.com')
    const org = await h.createOrg('Acme')
    await h.addMember(org, id, 'Member')
    h.changes.length = 0
    const reply = await h.call('DELETE', `/v1/users/${id}`)
    assert.equal(reply.status, 204)
    assert.equal(reply.text, '')
    assertProblem(await getUser(id), 404)
    assert.equal((await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users`)).body.total_users, 0)
    assert.deepEqual(h.changes, [{ kind: 'user', userId: id }])
    assertProblem(await h.call('DELETE', `/v1/users/${id}`), 404)
    assert.equal(h.changes.length, 1)
  })
})

describe('POST /v1/users/migrate', () => {
  it('creates the user keeping existing_user_id as legacy_user_id', async () => {
    const reply = await h.call<{ user_id: string }>('POST', '/v1/users/migrate', {
      email: 'legacy@example.com',
      email_confirmed: true,
      existing_user_id: '507f191e810c19729de860ea',
      first_name: 'Leg',
      last_name: 'Acy',
      username: 'legacy',
      properties: { source: 'auth0' },
    })
    assert.equal(reply.status, 201)
    const user = (await getUser(reply.body.user_id)).body
    assert.equal(user.legacy_user_id, '507f191e810c19729de860ea')
    assert.deepEqual(
      [user.email, user.email_confirmed, user.first_name, user.last_name, user.username, user.properties, user.enabled],
      ['legacy@example.com', true, 'Leg', 'Acy', 'legacy', { source: 'auth0' }, true],
    )
    assert.deepEqual(h.changes, [{ kind: 'user', userId: reply.body.user_id }])
  })

  it('can bring a user in disabled, and without a legacy id', async () => {
    const reply = await h.call<{ user_id: string }>('POST', '/v1/users/migrate', {
      email: 'off@example.com',
      email_confirmed: false,
      enabled: false,
    })
    const user = (await getUser(reply.body.user_id)).body
    assert.deepEqual([user.enabled, user.locked, 'legacy_user_id' in user], [false, true, false])
  })

  it('refuses malformed password hashes and MFA secrets, requires email_confirmed, and answers 409 for a taken email', async () => {
    const base = { email: 'm@example.com', email_confirmed: true }
    for (const hash of ['$2b$10$abc', '$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaA', 'plaintext', '$1$md5crypt$']) {
      assertProblem(await h.call('POST', '/v1/users/migrate', { ...base, existing_password_hash: hash }), 400, 'existing_password_hash')
    }
    assertProblem(
      await h.call('POST', '/v1/users/migrate', { ...base, existing_mfa_base32_encoded_secret: 'JBSWY3DP' }),
      400,
      'existing_mfa_base32_encoded_secret',
    )
    assertProblem(await h.call('POST', '/v1/users/migrate', { email: 'm@example.com' }), 400, 'email_confirmed')
    await h.createUser('m@example.com')
    assertProblem(await h.call('POST', '/v1/users/migrate', base), 409, 'email')
  })
})

describe('passwords', () => {
  it('PUT and DELETE /v1/users/{id}/password set and clear it; no answer carries the hash or the password', async () => {
    const id = await h.createUser('pw@example.com', { password: 'first password here', ask_user_to_update_password_on_login: true })
    const created = await getUser(id)
    assert.deepEqual([created.body.has_password, created.body.update_password_required], [true, true])
    const set = await h.call<UserMetadata>('PUT', `/v1/users/${id}/password`, { password: 'second password here' })
    assert.equal(set.status, 200, set.text)
    assert.deepEqual([set.body.has_password, set.body.update_password_required], [true, true])
    const page = await h.call('GET', '/v1/users?include_orgs=true')
    for (const text of [created.text, set.text, page.text]) {
      assert.ok(!/argon2|password here|password_hash/.test(text), text)
    }
    const cleared = await h.call<UserMetadata>('DELETE', `/v1/users/${id}/password`)
    assert.deepEqual([cleared.status, cleared.body.has_password, cleared.body.update_password_required], [200, false, false])
    assert.equal((await h.call('PUT', '/v1/users/00000000-0000-4000-8000-000000000000/password', { password: 'long enough' })).status, 404)
    assertProblem(await h.call('PUT', `/v1/users/${id}/password`, { password: 'short' }), 400, 'password')
    assertProblem(await h.call('PUT', `/v1/users/${id}/password`, { password: 'long enough', hash: 'x' }), 400, 'hash')
  })

  it('migrate takes an existing_password_hash (bcrypt) and answers has_password', async () => {
    const reply = await h.call<{ user_id: string }>('POST', '/v1/users/migrate', {
      email: 'legacy@example.com',
      email_confirmed: true,
      existing_password_hash: '$2b$04$hYWNt4XpzIiqyG56z.0q3u6t4HS936c6G.AQFJanrKRFwJVuqQ/di',
    })
    assert.equal(reply.status, 201, reply.text)
    assert.equal((await getUser(reply.body.user_id)).body.has_password, true)
  })
})
