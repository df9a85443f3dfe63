import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { assertProblem, harness } from './harness.ts'
import type { Harness, MembershipView, OrgsPage, OrgUsersPage, OrgView, UserMetadata } from './harness.ts'

let h: Harness
beforeEach(async () => {
  h = await harness()
})
afterEach(() => h.close())

const getOrg = (id: string) => h.call<OrgView>('GET', `/v1/orgs/${id}`)

describe('POST /v1/orgs and GET /v1/orgs/{org_id}', () => {
  it('creates an org, answers 201 {org_id, name} and fetches it whole', async () => {
    const reply = await h.call<{ org_id: string; name: string }>('POST', '/v1/orgs', {
      name: '  Acme Inc  ',
      domain: 'Acme.COM',
      enable_auto_joining_by_domain: true,
      members_must_have_matching_domain: true,
      max_users: 5,
      metadata: { tier: 'enterprise' },
      can_setup_saml: true,
    })
    assert.equal(reply.status, 201)
    assert.deepEqual(reply.body, { org_id: reply.body.org_id, name: 'Acme Inc' })
    const org = (await getOrg(reply.body.org_id)).body
    assert.deepEqual(org, {
      org_id: reply.body.org_id,
      name: 'Acme Inc',
      url_safe_org_name: 'acme-inc',
      domain: 'acme.com',
      enable_auto_joining_by_domain: true,
      members_must_have_matching_domain: true,
      max_users: 5,
      metadata: { tier: 'enterprise' },
      can_setup_saml: true,
      created_at: org.created_at,
      updated_at: org.updated_at,
    })
    assert.deepEqual(h.changes, [{ kind: 'org', orgId: reply.body.org_id }])
  })

  it('defaults to no domain, no domain rules, no member limit', async () => {
    const org = (await getOrg(await h.createOrg('Plain'))).body
    assert.deepEqual(
      [
        org.domain,
        org.enable_auto_joining_by_domain,
        org.members_must_have_matching_domain,
        org.max_users,
        org.metadata,
        org.can_setup_saml,
      ],
      [null, false, false, null, {}, false],
    )
  })

  const invalid: [string, Record<string, unknown>][] = [
    ['name', {}],
    ['name', { name: '   ' }],
    ['max_users', { name: 'A', max_users: 0 }],
    ['max_users', { name: 'A', max_users: 2.5 }],
    ['domain', { name: 'A', domain: 'not a domain' }],
    ['domain', { name: 'A', domain: 'localhost' }],
    ['domain', { name: 'A', members_must_have_matching_domain: true }],
    ['domain', { name: 'A', enable_auto_joining_by_domain: true }],
    ['metadata', { name: 'A', metadata: 'x' }],
  ]
  for (const [field, body] of invalid) {
    it(`answers 400 naming ${field} for ${JSON.stringify(body)}`, async () => {
      assertProblem(await h.call('POST', '/v1/orgs', body), 400, field)
      assert.deepEqual(h.changes, [])
    })
  }

  it('answers 404 for an unknown org', async () => {
    assertProblem(await getOrg('no-such-org'), 404)
  })
})

describe('GET /v1/orgs', () => {
  const list = (query = '') => h.call<OrgsPage>('GET', `/v1/orgs${query}`)
  const names = (page: OrgsPage) => page.orgs.map((o) => o.name)

  it('pages, and orders by creation both ways and by name', async (t) => {
    let now = 1_700_000_000_000
    t.mock.method(Date, 'now', () => now)
    for (const name of ['charlie', 'Alpha', 'bravo']) {
      await h.createOrg(name)
      now += 10_000
    }
    assert.deepEqual(names((await list()).body), ['charlie', 'Alpha', 'bravo'], 'CREATED_AT_ASC is the default')
    assert.deepEqual(names((await list('?order_by=CREATED_AT_DESC')).body), ['bravo', 'Alpha', 'charlie'])
    assert.deepEqual(names((await list('?order_by=NAME')).body), ['Alpha', 'bravo', 'charlie'])
    const page = (await list('?order_by=NAME&page_size=2&page_number=1')).body
    assert.deepEqual(page, { total_orgs: 3, current_page: 1, page_size: 2, has_more_results: false, orgs: [page.orgs[0]] })
    assert.equal(page.orgs[0]?.name, 'charlie')
    const first = (await list('?order_by=NAME&page_size=2')).body
    assert.deepEqual([first.has_more_results, first.page_size, first.current_page], [true, 2, 0])
  })

  it('defaults page_size to 10 and filters by a partial name, case-insensitively', async () => {
    for (let i = 0; i < 11; i++) await h.createOrg(`Team ${i}`)
    await h.createOrg('Other')
    const first = (await list()).body
    assert.deepEqual([first.total_orgs, first.orgs.length, first.page_size, first.has_more_results], [12, 10, 10, true])
    const filtered = (await list('?name=TEAM 1&order_by=NAME')).body
    assert.deepEqual(names(filtered), ['Team 1', 'Team 10'])
  })

  for (const [query, field] of [
    ['?order_by=EMAIL', 'order_by'],
    ['?page_size=101', 'page_size'],
    ['?page_number=x', 'page_number'],
  ]) {
    it(`answers 400 naming ${field} for ${query}`, async () => {
      assertProblem(await h.call('GET', `/v1/orgs${query}`), 400, field)
    })
  }
})

describe('PATCH /v1/orgs/{org_id}', () => {
  it('updates given fields, clears nulls and announces the change', async () => {
    const id = await h.createOrg('Old', { domain: 'old.com', max_users: 3, metadata: { a: 1 } })
    h.changes.length = 0
    const reply = await h.call<OrgView>('PATCH', `/v1/orgs/${id}`, {
      name: 'New Name',
      max_users: null,
      metadata: { b: 2 },
      can_setup_saml: true,
    })
    assert.equal(reply.status, 200)
    assert.deepEqual(
      [
        reply.body.name,
        reply.body.url_safe_org_name,
        reply.body.max_users,
        reply.body.metadata,
        reply.body.domain,
        reply.body.can_setup_saml,
      ],
      ['New Name', 'new-name', null, { b: 2 }, 'old.com', true],
    )
    assert.deepEqual((await getOrg(id)).body, reply.body)
    const rules = await h.call<OrgView>('PATCH', `/v1/orgs/${id}`, {
      members_must_have_matching_domain: true,
      enable_auto_joining_by_domain: true,
    })
    assert.deepEqual([rules.body.members_must_have_matching_domain, rules.body.enable_auto_joining_by_domain], [true, true])
    assert.deepEqual(h.changes, [
      { kind: 'org', orgId: id },
      { kind: 'org', orgId: id },
    ])
  })

  it('keeps the domain rules coherent: no rule without a domain, whether the rule or the removal comes last', async () => {
    const noDomain = await h.createOrg('A')
    assertProblem(await h.call('PATCH', `/v1/orgs/${noDomain}`, { members_must_have_matching_domain: true }), 400, 'domain')
    const ruled = await h.createOrg('B', { domain: 'b.com', members_must_have_matching_domain: true })
    assertProblem(await h.call('PATCH', `/v1/orgs/${ruled}`, { domain: null }), 400, 'domain')
    const both = await h.call<OrgView>('PATCH', `/v1/orgs/${ruled}`, { domain: null, members_must_have_matching_domain: false })
    assert.equal(both.status, 200)
    assert.equal(both.body.domain, null)
  })

  it('answers 404 for an unknown org and 400 for bad input', async () => {
    assertProblem(await h.call('PATCH', '/v1/orgs/nope', { name: 'X' }), 404)
    const id = await h.createOrg('A')
    assertProblem(await h.call('PATCH', `/v1/orgs/${id}`, { name: '' }), 400, 'name')
    assertProblem(await h.call('PATCH', `/v1/orgs/${id}`, { max_users: -1 }), 400, 'max_users')
    assertProblem(await h.call('PATCH', `/v1/orgs/${id}`, { org_id: 'x' }), 400, 'org_id')
  })
})

describe('DELETE /v1/orgs/{org_id}', () => {
  it('deletes the org with its memberships and announces it', async () => {
    const org = await h.createOrg('Doomed')
    const user = await h.createUser('u@example.com')
    await h.addMember(org, user, 'Admin')
    h.changes.length = 0
    const reply = await h.call('DELETE', `/v1/orgs/${org}`)
    assert.equal(reply.status, 204)
    assertProblem(await getOrg(org), 404)
    assert.deepEqual((await h.call<UserMetadata>('GET', `/v1/users/${user}?include_orgs=true`)).body.org_id_to_org_info, {})
    assert.deepEqual(h.changes, [{ kind: 'org', orgId: org }])
    assertProblem(await h.call('DELETE', `/v1/orgs/${org}`), 404)
    assert.equal(h.changes.length, 1)
  })
})

describe('org members', () => {
  let org: string
  let user: string
  beforeEach(async () => {
    org = await h.createOrg('Acme')
    user = await h.createUser('member@example.com')
    h.changes.length = 0
  })
  const add = (body: Record<string, unknown>, orgId = org) => h.call<MembershipView>('POST', `/v1/orgs/${orgId}/members`, body)

  describe('POST /v1/orgs/{org_id}/members', () => {
    it('adds the user with the role, answers 201 with the membership and announces it', async () => {
      const reply = await add({ user_id: user, role: 'Admin' })
      assert.equal(reply.status, 201)
      assert.deepEqual(reply.body, { org_id: org, user_id: user, role: 'Admin', created_at: reply.body.created_at })
      assert.deepEqual(h.changes, [{ kind: 'membership', orgId: org, userId: user }])
    })

    it('answers 400 naming role for a role the config does not define, and lists the defined ones', async () => {
      const reply = await add({ user_id: user, role: 'Superuser' })
      assertProblem(reply, 400, 'role')
      assert.match(reply.body.detail ?? '', /Owner, Admin, Member/)
      assertProblem(await add({ user_id: user, role: 'admin' }), 400, 'role')
      assertProblem(await add({ user_id: user }), 400, 'role')
      assertProblem(await add({ role: 'Admin' }), 400, 'user_id')
      assert.deepEqual(h.changes, [])
    })

    it('answers 404 for an unknown org or user', async () => {
      assertProblem(await add({ user_id: user, role: 'Member' }, 'no-such-org'), 404)
      assertProblem(await add({ user_id: 'no-such-user', role: 'Member' }), 404)
      assert.deepEqual(h.changes, [])
    })

    it('answers 409 naming user_id when the user is already a member', async () => {
      await h.addMember(org, user, 'Member')
      h.changes.length = 0
      assertProblem(await add({ user_id: user, role: 'Owner' }), 409, 'user_id')
      assert.deepEqual(h.changes, [])
    })

    it('answers 409 once the org has max_users members', async () => {
      const small = await h.createOrg('Small', { max_users: 2 })
      await h.addMember(small, user, 'Member')
      await h.addMember(small, await h.createUser('second@example.com'), 'Member')
      h.changes.length = 0
      const full = await add({ user_id: await h.createUser('third@example.com'), role: 'Member' }, small)
      assertProblem(full, 409)
      assert.equal(full.body.type, 'urn:gatehouse:problem:limit-reached')
      assert.match(full.body.detail ?? '', /max_users/)
      assert.equal(h.changes.filter((c) => c.kind === 'membership').length, 0)
    })

    it('with members_must_have_matching_domain admits only emails at the domain (any case) and answers 400 naming user_id otherwise', async () => {
      const strict = await h.createOrg('Strict', { domain: 'corp.example', members_must_have_matching_domain: true })
      assertProblem(await add({ user_id: user, role: 'Member' }, strict), 400, 'user_id')
      const sub = await h.createUser('x@sub.corp.example')
      assertProblem(await add({ user_id: sub, role: 'Member' }, strict), 400, 'user_id')
      const insider = await h.createUser('Jo@CORP.example')
      assert.equal((await add({ user_id: insider, role: 'Member' }, strict)).status, 201)
      const lax = await h.createOrg('Lax', { domain: 'corp.example' })
      assert.equal((await add({ user_id: user, role: 'Member' }, lax)).status, 201, 'the domain alone does not restrict members')
    })
  })

  describe('GET /v1/orgs/{org_id}/users', () => {
    it('pages the members in join order, each with their role, filtered by role', async (t) => {
      // Joins one second apart, so the order is the join order and not the tie-breaker's.
      let now = 1_700_000_000_000
      t.mock.method(Date, 'now', () => (now += 1000))
      const others: string[] = []
      for (let i = 0; i < 3; i++) others.push(await h.createUser(`o${i}@example.com`))
      await h.addMember(org, user, 'Owner')
      for (const id of others) await h.addMember(org, id, 'Member')
      await h.createUser('outsider@example.com')
      const page = (await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users?page_size=3`)).body
      assert.deepEqual([page.total_users, page.current_page, page.page_size, page.has_more_results], [4, 0, 3, true])
      assert.deepEqual(
        page.users.map((u) => [u.user_id, u.role]),
        [
          [user, 'Owner'],
          [others[0], 'Member'],
          [others[1], 'Member'],
        ],
      )
      assert.equal(page.users[0]?.email, 'member@example.com')
      const rest = (await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users?page_size=3&page_number=1`)).body
      assert.deepEqual([rest.users.map((u) => u.user_id), rest.has_more_results], [[others[2]], false])
      const members = (await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users?role=Member`)).body
      assert.deepEqual([members.total_users, members.users.every((u) => u.role === 'Member')], [3, true])
      assert.equal((await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users?role=Admin`)).body.total_users, 0)
    })

    it('adds org_id_to_org_info with include_orgs=true', async () => {
      await h.addMember(org, user, 'Admin')
      const other = await h.createOrg('Other')
      await h.addMember(other, user, 'Member')
      const page = (await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users?include_orgs=true`)).body
      assert.deepEqual(Object.keys(page.users[0]?.org_id_to_org_info ?? {}).sort(), [org, other].sort())
      assert.ok(!('org_id_to_org_info' in ((await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users`)).body.users[0] ?? {})))
    })

    it('answers 404 for an unknown org and 400 for bad paging', async () => {
      assertProblem(await h.call('GET', '/v1/orgs/nope/users'), 404)
      assertProblem(await h.call('GET', `/v1/orgs/${org}/users?page_size=0`), 400, 'page_size')
      assertProblem(await h.call('GET', `/v1/orgs/${org}/users?include_orgs=1`), 400, 'include_orgs')
    })
  })

  describe('PUT /v1/orgs/{org_id}/members/{user_id}', () => {
    it('changes the role, which include_orgs then reflects, and announces it', async () => {
      await h.addMember(org, user, 'Member')
      h.changes.length = 0
      const reply = await h.call<MembershipView>('PUT', `/v1/orgs/${org}/members/${user}`, { role: 'Owner' })
      assert.equal(reply.status, 200)
      assert.deepEqual([reply.body.org_id, reply.body.user_id, reply.body.role], [org, user, 'Owner'])
      const info = (await h.call<UserMetadata>('GET', `/v1/users/${user}?include_orgs=true`)).body.org_id_to_org_info?.[org]
      assert.deepEqual(info?.inherited_user_roles_plus_current_role, ['Owner', 'Admin', 'Member'])
      assert.deepEqual(h.changes, [{ kind: 'membership', orgId: org, userId: user }])
    })

    it('answers 400 naming role for an unknown role and 404 for a non-member', async () => {
      await h.addMember(org, user, 'Member')
      h.changes.length = 0
      assertProblem(await h.call('PUT', `/v1/orgs/${org}/members/${user}`, { role: 'God' }), 400, 'role')
      assertProblem(await h.call('PUT', `/v1/orgs/${org}/members/${user}`, {}), 400, 'role')
      const outsider = await h.createUser('out@example.com')
      assertProblem(await h.call('PUT', `/v1/orgs/${org}/members/${outsider}`, { role: 'Admin' }), 404)
      assertProblem(await h.call('PUT', `/v1/orgs/nope/members/${user}`, { role: 'Admin' }), 404)
      assert.deepEqual(
        h.changes.filter((c) => c.kind === 'membership'),
        [],
      )
    })
  })

  describe('DELETE /v1/orgs/{org_id}/members/{user_id}', () => {
    it('removes the member, answers 204 and announces it; a second removal is 404', async () => {
      await h.addMember(org, user, 'Admin')
      h.changes.length = 0
      const reply = await h.call('DELETE', `/v1/orgs/${org}/members/${user}`)
      assert.equal(reply.status, 204)
      assert.equal((await h.call<OrgUsersPage>('GET', `/v1/orgs/${org}/users`)).body.total_users, 0)
      assert.deepEqual(h.changes, [{ kind: 'membership', orgId: org, userId: user }])
      assertProblem(await h.call('DELETE', `/v1/orgs/${org}/members/${user}`), 404)
      assert.equal(h.changes.length, 1)
    })
  })
})
