import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { StoreConflictError, StoreLimitError, StoreNotFoundError } from '../../src/store/index.ts'
import type { Store, User, UserOrderBy } from '../../src/store/index.ts'

/** 2026-01-01T00:00:00Z in Unix seconds; tests set the clock so stored times are predictable. */
const T0 = 1_767_225_600

/** Stored times come from Date.now(); mocking it lets one test create rows seconds apart without waiting. */
function clockAt(t: TestContext, seconds: number): (seconds: number) => void {
  t.mock.timers.enable({ apis: ['Date'], now: seconds * 1000 })
  return (next) => t.mock.timers.setTime(next * 1000)
}

const ids = (users: readonly User[]): string[] => users.map((u) => u.user_id)
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

function conflictOn(field: string): (error: unknown) => boolean {
  return (error) => error instanceof StoreConflictError && error.field === field
}

/**
 * The behaviour every Store engine must show, as a suite an engine's test file calls with a
 * factory for a fresh, empty store. Each test opens its own store and closes it.
 */
export function describeStore(name: string, open: () => Promise<Store>): void {
  async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
    const store = await open()
    try {
      await fn(store)
    } finally {
      await store.close()
    }
  }

  describe(`Store contract: ${name}`, () => {
    describe('users', () => {
      it('creates a user with defaults and finds it by id, email and username, ignoring case', (t) =>
        withStore(async (store) => {
          clockAt(t, T0)
          const user = await store.createUser({ email: 'Ada@Example.com', username: 'AdaL', metadata: { plan: 'pro' } })
          assert.match(user.user_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
          assert.deepEqual(user, {
            user_id: user.user_id,
            email: 'Ada@Example.com',
            email_confirmed: false,
            username: 'AdaL',
            first_name: null,
            last_name: null,
            picture_url: null,
            properties: {},
            metadata: { plan: 'pro' },
            enabled: true,
            can_create_orgs: false,
            legacy_user_id: null,
            created_at: T0,
            last_active_at: T0,
            updated_at: T0,
          })
          assert.deepEqual(await store.getUser(user.user_id), user)
          assert.deepEqual(await store.getUserByEmail('ada@EXAMPLE.com'), user)
          assert.deepEqual(await store.getUserByUsername('adal'), user)
          assert.equal(await store.getUser('00000000-0000-4000-8000-000000000000'), undefined)
          assert.equal(await store.getUserByEmail('nobody@example.com'), undefined)
          assert.equal(await store.getUserByUsername('nobody'), undefined)
        }))

      it('keeps every field given at creation', () =>
        withStore(async (store) => {
          const input = {
            email: 'grace@example.com',
            email_confirmed: true,
            username: null,
            first_name: 'Grace',
            last_name: 'Hopper',
            picture_url: 'https://example.com/g.png',
            properties: { team: 'navy', nested: { list: [1, 2] } },
            metadata: { legacy: true },
            enabled: false,
            can_create_orgs: true,
            legacy_user_id: 'old-42',
          }
          const user = await store.createUser(input)
          assert.deepEqual(await store.getUser(user.user_id), { ...user, ...input })
        }))

      it('rejects a duplicate email or username in any case, naming the field', () =>
        withStore(async (store) => {
          await store.createUser({ email: 'ada@example.com', username: 'ada' })
          await assert.rejects(store.createUser({ email: 'ADA@example.com' }), conflictOn('email'))
          await assert.rejects(store.createUser({ email: 'other@example.com', username: 'ADA' }), conflictOn('username'))
          // Usernames are optional: any number of users may have none.
          await store.createUser({ email: 'b@example.com' })
          await store.createUser({ email: 'c@example.com', username: null })
        }))

      it('batch-fetches by ids, emails and usernames, omitting unknown ones and listing each user once', () =>
        withStore(async (store) => {
          const a = await store.createUser({ email: 'a@example.com', username: 'alpha' })
          const b = await store.createUser({ email: 'b@example.com', username: 'beta' })
          await store.createUser({ email: 'c@example.com' })
          const unknown = '00000000-0000-4000-8000-000000000000'
          assert.deepEqual(await store.getUsersByIds([b.user_id, unknown, a.user_id, b.user_id]), [b, a])
          assert.deepEqual(await store.getUsersByEmails(['A@example.com', 'a@example.com', 'zz@example.com', 'b@EXAMPLE.com']), [a, b])
          assert.deepEqual(await store.getUsersByUsernames(['BETA', 'gamma', 'beta']), [b])
          assert.deepEqual(await store.getUsersByIds([]), [])
        }))

      it('updates the given fields, sets updated_at and returns the new record', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const user = await store.createUser({ email: 'old@example.com', username: 'old', first_name: 'Old' })
          setClock(T0 + 60)
          const updated = await store.updateUser(user.user_id, {
            email: 'New@Example.com',
            username: 'NewName',
            metadata: { a: 1 },
            enabled: false,
            can_create_orgs: true,
            last_active_at: T0 + 30,
          })
          assert.deepEqual(updated, {
            ...user,
            email: 'New@Example.com',
            username: 'NewName',
            metadata: { a: 1 },
            enabled: false,
            can_create_orgs: true,
            last_active_at: T0 + 30,
            updated_at: T0 + 60,
          })
          assert.deepEqual(await store.getUser(user.user_id), updated)
          assert.deepEqual(await store.getUserByEmail('new@example.com'), updated)
          assert.deepEqual(await store.getUserByUsername('newname'), updated)
          assert.equal(await store.getUserByEmail('old@example.com'), undefined)

          const cleared = await store.updateUser(user.user_id, { username: null, first_name: null })
          assert.equal(cleared?.username, null)
          assert.equal(cleared?.first_name, null)
          assert.equal(await store.getUserByUsername('newname'), undefined)
          assert.equal(await store.updateUser('00000000-0000-4000-8000-000000000000', { first_name: 'x' }), undefined)
        }))

      it('rejects an update to another user\'s email or username', () =>
        withStore(async (store) => {
          await store.createUser({ email: 'taken@example.com', username: 'taken' })
          const user = await store.createUser({ email: 'me@example.com', username: 'me' })
          await assert.rejects(store.updateUser(user.user_id, { email: 'TAKEN@example.com' }), conflictOn('email'))
          await assert.rejects(store.updateUser(user.user_id, { username: 'Taken' }), conflictOn('username'))
          assert.deepEqual(await store.getUser(user.user_id), user)
          // Changing only the case of one's own email is no conflict.
          assert.equal((await store.updateUser(user.user_id, { email: 'ME@example.com' }))?.email, 'ME@example.com')
        }))

      it('deletes a user with their memberships and says whether one went away', () =>
        withStore(async (store) => {
          const user = await store.createUser({ email: 'gone@example.com' })
          const org = await store.createOrg({ name: 'Acme' })
          await store.addMember(org.org_id, user.user_id, 'Member')
          assert.equal(await store.deleteUser(user.user_id), true)
          assert.equal(await store.getUser(user.user_id), undefined)
          assert.equal(await store.getMembership(org.org_id, user.user_id), undefined)
          assert.equal((await store.listOrgMembers(org.org_id, { page_size: 10, page_number: 0 })).total, 0)
          assert.equal(await store.deleteUser(user.user_id), false)
          // The email is free again.
          await store.createUser({ email: 'gone@example.com' })
        }))
    })

    describe('queryUsers', () => {
      it('pages with a total and stable page boundaries', () =>
        withStore(async (store) => {
          // All created in the same second: the order falls back to user_id alone.
          for (let i = 0; i < 5; i++) await store.createUser({ email: `u${i}@example.com` })
          const pages = []
          for (let page_number = 0; page_number < 4; page_number++) {
            pages.push(await store.queryUsers({ page_size: 2, page_number, order_by: 'CREATED_AT_ASC' }))
          }
          assert.deepEqual(
            pages.map((p) => [p.total, p.items.length]),
            [[5, 2], [5, 2], [5, 1], [5, 0]],
          )
          const all = pages.flatMap((p) => ids(p.items))
          assert.deepEqual(all, [...all].sort(byId))
          assert.equal(new Set(all).size, 5)
        }))

      it('refuses an invalid page', () =>
        withStore(async (store) => {
          await assert.rejects(store.queryUsers({ page_size: 0, page_number: 0, order_by: 'EMAIL' }), RangeError)
          await assert.rejects(store.queryUsers({ page_size: 10, page_number: -1, order_by: 'EMAIL' }), RangeError)
          await assert.rejects(store.queryOrgs({ page_size: 1.5, page_number: 0, order_by: 'NAME' }), RangeError)
        }))

      it('orders by every order_by, breaking ties by user_id', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const make = async (email: string, username: string | null, createdAt: number, lastActive: number) => {
            setClock(createdAt)
            const user = await store.createUser({ email, username })
            await store.updateUser(user.user_id, { last_active_at: lastActive })
            return user.user_id
          }
          const carol = await make('carol@example.com', 'Zed', T0 + 2, T0 + 10)
          const alice = await make('Alice@example.com', null, T0 + 1, T0 + 30)
          const bob = await make('bob@example.com', 'amy', T0 + 3, T0 + 20)
          const dave = await make('dave@example.com', null, T0 + 1, T0 + 5)
          // Alice and Dave share a creation time and both lack a username: user_id decides between them.
          const [tie1, tie2] = [alice, dave].sort(byId) as [string, string]
          const expected: Record<UserOrderBy, string[]> = {
            CREATED_AT_ASC: [tie1, tie2, carol, bob],
            CREATED_AT_DESC: [bob, carol, tie2, tie1],
            LAST_ACTIVE_AT_ASC: [dave, carol, bob, alice],
            LAST_ACTIVE_AT_DESC: [alice, bob, carol, dave],
            EMAIL: [alice, bob, carol, dave],
            // Case-insensitive, users without a username last.
            USERNAME: [bob, carol, tie1, tie2],
          }
          for (const [order_by, want] of Object.entries(expected) as [UserOrderBy, string[]][]) {
            const page = await store.queryUsers({ page_size: 10, page_number: 0, order_by })
            assert.deepEqual(ids(page.items), want, order_by)
          }
        }))

      it('matches email_or_username partially, ignoring case, with wildcards taken literally', () =>
        withStore(async (store) => {
          const make = async (email: string, username?: string) => (await store.createUser({ email, username })).user_id
          const underscore = await make('a_b@example.com')
          const plain = await make('axb@example.com', 'AXB-Plain')
          const percent = await make('100%@example.com')
          const hundred = await make('100x@example.com')
          const backslash = await make('slash@example.com', 'back\\slash')
          const search = async (term: string) =>
            (await store.queryUsers({ page_size: 10, page_number: 0, order_by: 'EMAIL', email_or_username: term })).items
              .map((u) => u.user_id)
              .sort(byId)
          assert.deepEqual(await search('A_B'), [underscore])
          assert.deepEqual(await search('_'), [underscore])
          assert.deepEqual(await search('%'), [percent])
          assert.deepEqual(await search('\\'), [backslash])
          assert.deepEqual(await search('100'), [percent, hundred].sort(byId))
          assert.deepEqual(await search('plain'), [plain])
          assert.deepEqual(await search('xb'), [plain])
          assert.deepEqual(await search('nomatch'), [])
          const page = await store.queryUsers({ page_size: 1, page_number: 0, order_by: 'EMAIL', email_or_username: 'EXAMPLE' })
          assert.equal(page.total, 5)
        }))
    })

    describe('orgs', () => {
      it('creates, reads, updates and deletes an org', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const org = await store.createOrg({ name: ' Café & Co. — Berlin!', domain: 'cafe.example', max_users: 10, metadata: { tier: 1 } })
          assert.deepEqual(org, {
            org_id: org.org_id,
            name: ' Café & Co. — Berlin!',
            url_safe_org_name: 'cafe-co-berlin',
            domain: 'cafe.example',
            enable_auto_joining_by_domain: false,
            members_must_have_matching_domain: false,
            max_users: 10,
            metadata: { tier: 1 },
            created_at: T0,
            updated_at: T0,
          })
          assert.deepEqual(await store.getOrg(org.org_id), org)

          setClock(T0 + 5)
          const updated = await store.updateOrg(org.org_id, {
            name: 'Acme Inc',
            domain: null,
            enable_auto_joining_by_domain: true,
            members_must_have_matching_domain: true,
            max_users: null,
          })
          assert.deepEqual(updated, {
            ...org,
            name: 'Acme Inc',
            url_safe_org_name: 'acme-inc',
            domain: null,
            enable_auto_joining_by_domain: true,
            members_must_have_matching_domain: true,
            max_users: null,
            updated_at: T0 + 5,
          })
          assert.deepEqual(await store.getOrg(org.org_id), updated)
          assert.equal(await store.updateOrg('00000000-0000-4000-8000-000000000000', { name: 'x' }), undefined)

          const user = await store.createUser({ email: 'm@example.com' })
          await store.addMember(org.org_id, user.user_id, 'Owner')
          assert.equal(await store.deleteOrg(org.org_id), true)
          assert.equal(await store.getOrg(org.org_id), undefined)
          assert.deepEqual(await store.listUserMemberships(user.user_id), [])
          assert.equal(await store.deleteOrg(org.org_id), false)
          assert.ok(await store.getUser(user.user_id), 'deleting an org leaves its users')
        }))

      it('queries orgs by name, with paging and every order', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const make = async (name: string, at: number) => {
            setClock(at)
            return (await store.createOrg({ name })).org_id
          }
          const beta = await make('beta labs', T0 + 1)
          const alpha = await make('Alpha 100%', T0 + 2)
          const gamma = await make('Gamma Labs', T0 + 3)
          const query = async (order_by: 'CREATED_AT_ASC' | 'CREATED_AT_DESC' | 'NAME', name?: string) =>
            (await store.queryOrgs({ page_size: 10, page_number: 0, order_by, name })).items.map((o) => o.org_id)
          assert.deepEqual(await query('CREATED_AT_ASC'), [beta, alpha, gamma])
          assert.deepEqual(await query('CREATED_AT_DESC'), [gamma, alpha, beta])
          assert.deepEqual(await query('NAME'), [alpha, beta, gamma])
          assert.deepEqual(await query('NAME', 'LABS'), [beta, gamma])
          assert.deepEqual(await query('NAME', '%'), [alpha])
          assert.deepEqual(await query('NAME', 'a_'), [])

          const second = await store.queryOrgs({ page_size: 2, page_number: 1, order_by: 'NAME' })
          assert.deepEqual({ total: second.total, ids: second.items.map((o) => o.org_id) }, { total: 3, ids: [gamma] })
        }))
    })

    describe('memberships', () => {
      it('adds, reads, changes and removes a membership', (t) =>
        withStore(async (store) => {
          clockAt(t, T0)
          const org = await store.createOrg({ name: 'Acme' })
          const user = await store.createUser({ email: 'u@example.com' })
          const membership = await store.addMember(org.org_id, user.user_id, 'Member')
          assert.deepEqual(membership, { org_id: org.org_id, user_id: user.user_id, role: 'Member', created_at: T0 })
          assert.deepEqual(await store.getMembership(org.org_id, user.user_id), membership)
          await assert.rejects(store.addMember(org.org_id, user.user_id, 'Admin'), conflictOn('membership'))

          assert.deepEqual(await store.changeRole(org.org_id, user.user_id, 'Admin'), { ...membership, role: 'Admin' })
          assert.deepEqual(await store.listUserMemberships(user.user_id), [{ org, membership: { ...membership, role: 'Admin' } }])

          assert.equal(await store.removeMember(org.org_id, user.user_id), true)
          assert.equal(await store.removeMember(org.org_id, user.user_id), false)
          assert.equal(await store.getMembership(org.org_id, user.user_id), undefined)
          assert.equal(await store.changeRole(org.org_id, user.user_id, 'Owner'), undefined)
        }))

      it('refuses a member for an unknown org or user', () =>
        withStore(async (store) => {
          const org = await store.createOrg({ name: 'Acme' })
          const user = await store.createUser({ email: 'u@example.com' })
          const unknown = '00000000-0000-4000-8000-000000000000'
          await assert.rejects(store.addMember(unknown, user.user_id, 'Member'), (e) => e instanceof StoreNotFoundError && e.entity === 'org')
          await assert.rejects(store.addMember(org.org_id, unknown, 'Member'), (e) => e instanceof StoreNotFoundError && e.entity === 'user')
        }))

      it('lists an org\'s members by join time, with a role filter and paging', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const org = await store.createOrg({ name: 'Acme' })
          const other = await store.createOrg({ name: 'Other' })
          const users = []
          for (let i = 0; i < 4; i++) users.push(await store.createUser({ email: `m${i}@example.com` }))
          const [u0, u1, u2, u3] = users as [User, User, User, User]
          setClock(T0 + 10)
          await store.addMember(org.org_id, u2.user_id, 'Admin')
          setClock(T0 + 20)
          // Two joining in the same second are ordered by user_id.
          await store.addMember(org.org_id, u0.user_id, 'Member')
          await store.addMember(org.org_id, u3.user_id, 'Admin')
          setClock(T0 + 30)
          await store.addMember(org.org_id, u1.user_id, 'Member')
          await store.addMember(other.org_id, u1.user_id, 'Owner')

          const sameSecond = [u0.user_id, u3.user_id].sort(byId)
          const all = await store.listOrgMembers(org.org_id, { page_size: 10, page_number: 0 })
          assert.equal(all.total, 4)
          assert.deepEqual(
            all.items.map((m) => m.user.user_id),
            [u2.user_id, ...sameSecond, u1.user_id],
          )
          assert.deepEqual(all.items[0], {
            user: u2,
            membership: { org_id: org.org_id, user_id: u2.user_id, role: 'Admin', created_at: T0 + 10 },
          })

          const admins = await store.listOrgMembers(org.org_id, { page_size: 10, page_number: 0, role: 'Admin' })
          assert.equal(admins.total, 2)
          assert.deepEqual(
            admins.items.map((m) => [m.user.user_id, m.membership.role]),
            [[u2.user_id, 'Admin'], [u3.user_id, 'Admin']],
          )

          const page = await store.listOrgMembers(org.org_id, { page_size: 3, page_number: 1 })
          assert.deepEqual({ total: page.total, ids: page.items.map((m) => m.user.user_id) }, { total: 4, ids: [u1.user_id] })

          const memberships = await store.listUserMemberships(u1.user_id)
          assert.deepEqual(
            memberships.map((m) => [m.org.org_id, m.membership.role]),
            [[org.org_id, 'Member'], [other.org_id, 'Owner']].sort((a, b) => byId(a[0]!, b[0]!)),
          )
          assert.deepEqual(await store.listUserMemberships(u0.user_id), [
            { org, membership: { org_id: org.org_id, user_id: u0.user_id, role: 'Member', created_at: T0 + 20 } },
          ])
        }))

      it('enforces max_users, reporting a re-add to a full org as the conflict it is', () =>
        withStore(async (store) => {
          const org = await store.createOrg({ name: 'Small', max_users: 2 })
          const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => store.createUser({ email: `${n}@example.com` })))
          await store.addMember(org.org_id, a!.user_id, 'Member')
          await store.addMember(org.org_id, b!.user_id, 'Member')
          await assert.rejects(store.addMember(org.org_id, c!.user_id, 'Member'), StoreLimitError)
          await assert.rejects(store.addMember(org.org_id, a!.user_id, 'Member'), conflictOn('membership'))
          await store.removeMember(org.org_id, b!.user_id)
          await store.addMember(org.org_id, c!.user_id, 'Member')
          await store.updateOrg(org.org_id, { max_users: null })
          await store.addMember(org.org_id, b!.user_id, 'Member')
          assert.equal((await store.listOrgMembers(org.org_id, { page_size: 10, page_number: 0 })).total, 3)
        }))

      it('never overshoots max_users under concurrent adds', () =>
        withStore(async (store) => {
          const org = await store.createOrg({ name: 'Race', max_users: 3 })
          const users = await Promise.all(Array.from({ length: 10 }, (_, i) => store.createUser({ email: `r${i}@example.com` })))
          const results = await Promise.allSettled(users.map((u) => store.addMember(org.org_id, u.user_id, 'Member')))
          const added = results.filter((r) => r.status === 'fulfilled')
          const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))
          assert.equal(added.length, 3)
          assert.equal(refused.length, 7)
          assert.ok(refused.every((e) => e instanceof StoreLimitError))
          assert.equal((await store.listOrgMembers(org.org_id, { page_size: 10, page_number: 0 })).total, 3)
        }))
    })

    describe('signing keys', () => {
      it('inserts a key unless its kid exists, and lists keys oldest first', () =>
        withStore(async (store) => {
          const key = { kid: 'k2', alg: 'ES256', private_jwk: { kty: 'EC', crv: 'P-256', d: 'secret' }, created_at: T0 + 1 }
          const older = { kid: 'k1', alg: 'EdDSA', private_jwk: { kty: 'OKP', crv: 'Ed25519' }, created_at: T0 }
          assert.deepEqual(await store.listSigningKeys(), [])
          assert.equal(await store.addSigningKey(key), true)
          assert.equal(await store.addSigningKey({ ...key, alg: 'RS256', private_jwk: {} }), false)
          assert.equal(await store.addSigningKey(older), true)
          assert.deepEqual(await store.listSigningKeys(), [older, key])
        }))
    })
  })
}
