import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { StoreConflictError, StoreLimitError, StoreNotFoundError } from '../../src/store/index.ts'
import type { ApiKey, NewApiKey, NewInvite, Store, User, UserOrderBy } from '../../src/store/index.ts'

/** 2026-01-01T00:00:00Z in Unix seconds; tests set the clock so stored times are predictable. */
const T0 = 1_767_225_600

/** Stored times come from Date.now(); mocking it lets one test create rows seconds apart without waiting. */
function clockAt(t: TestContext, seconds: number): (seconds: number) => void {
  t.mock.timers.enable({ apis: ['Date'], now: seconds * 1000 })
  return (next) => t.mock.timers.setTime(next * 1000)
}

const ids = (users: readonly User[]): string[] => users.map((u) => u.user_id)
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

let secrets = 0
/** A distinct stand-in for a secret's SHA-256 (the store never sees secrets, only these). */
const hash = (): string => (++secrets).toString(16).padStart(64, '0')

const personal = (userId: string, extra: Partial<NewApiKey> = {}): NewApiKey => ({
  type: 'personal',
  user_id: userId,
  org_id: null,
  expires_at: null,
  secret_hash: hash(),
  display: 'gh_pk_Ab3d',
  ...extra,
})

const keyIds = (keys: readonly ApiKey[]): string[] => keys.map((k) => k.api_key_id)

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
            has_password: false,
            update_password_required: false,
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

      it('keeps a password hash out of every user record; sets, compares-and-sets and clears it', () =>
        withStore(async (store) => {
          const user = await store.createUser({ email: 'Pw@Example.com', password_hash: '$argon2id$first', update_password_required: true })
          assert.deepEqual([user.has_password, user.update_password_required], [true, true])
          assert.ok(!JSON.stringify(await store.getUser(user.user_id)).includes('argon2id'), 'the hash is not part of a User')
          const stored = await store.getPasswordHashByEmail('pw@example.COM')
          assert.deepEqual(stored, { user, password_hash: '$argon2id$first' })
          assert.equal(await store.getPasswordHashByEmail('nobody@example.com'), undefined)
          // A compare-and-set against a hash that is no longer stored writes nothing.
          assert.equal(await store.setPasswordHash(user.user_id, { hash: '$argon2id$lost', expected: '$argon2id$other' }), undefined)
          const rehashed = await store.setPasswordHash(user.user_id, { hash: '$argon2id$second', expected: '$argon2id$first' })
          assert.equal(rehashed?.update_password_required, true)
          assert.equal((await store.getPasswordHashByEmail('pw@example.com'))?.password_hash, '$argon2id$second')
          const cleared = await store.setPasswordHash(user.user_id, { hash: null, update_password_required: false })
          assert.deepEqual([cleared?.has_password, cleared?.update_password_required], [false, false])
          assert.equal((await store.getPasswordHashByEmail('pw@example.com'))?.password_hash, null)
          assert.equal(await store.setPasswordHash('00000000-0000-4000-8000-000000000000', { hash: null }), undefined)
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

      it("rejects an update to another user's email or username", () =>
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
          // Mostly created in the same second: ties fall back to user_id.
          for (let i = 0; i < 5; i++) await store.createUser({ email: `u${i}@example.com` })
          const pages = []
          for (let page_number = 0; page_number < 4; page_number++) {
            pages.push(await store.queryUsers({ page_size: 2, page_number, order_by: 'CREATED_AT_ASC' }))
          }
          assert.deepEqual(
            pages.map((p) => [p.total, p.items.length]),
            [
              [5, 2],
              [5, 2],
              [5, 1],
              [5, 0],
            ],
          )
          const items = pages.flatMap((p) => p.items)
          const expected = [...items].sort((a, b) => a.created_at - b.created_at || byId(a.user_id, b.user_id))
          assert.deepEqual(ids(items), ids(expected))
          assert.equal(new Set(ids(items)).size, 5)
        }))

      it('finds a migrated user by the id it had before, exactly, beside the text filter', () =>
        withStore(async (store) => {
          const migrated = await store.createUser({ email: 'mig@example.com', legacy_user_id: 'old-42' })
          await store.createUser({ email: 'other@example.com', legacy_user_id: 'old-420' })
          const exact = await store.queryUsers({ page_size: 10, page_number: 0, order_by: 'EMAIL', legacy_user_id: 'old-42' })
          assert.deepEqual([exact.total, ids(exact.items)], [1, [migrated.user_id]])
          const both = await store.queryUsers({
            page_size: 10,
            page_number: 0,
            order_by: 'EMAIL',
            legacy_user_id: 'old-42',
            email_or_username: 'other',
          })
          assert.equal(both.total, 0)
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
            can_setup_saml: false,
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
            can_setup_saml: true,
          })
          assert.deepEqual(updated, {
            ...org,
            name: 'Acme Inc',
            url_safe_org_name: 'acme-inc',
            domain: null,
            enable_auto_joining_by_domain: true,
            members_must_have_matching_domain: true,
            max_users: null,
            can_setup_saml: true,
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

      it('orders orgs by their most recently active member, an org without members by its creation', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const quiet = (await store.createOrg({ name: 'quiet' })).org_id
          setClock(T0 + 10)
          const busy = (await store.createOrg({ name: 'busy' })).org_id
          const empty = (await store.createOrg({ name: 'empty' })).org_id
          const early = await store.createUser({ email: 'early@example.com' })
          const late = await store.createUser({ email: 'late@example.com' })
          await store.addMember(quiet, early.user_id, 'Member')
          await store.addMember(busy, early.user_id, 'Member')
          await store.addMember(busy, late.user_id, 'Member')
          await store.updateUser(early.user_id, { last_active_at: T0 + 20 })
          await store.updateUser(late.user_id, { last_active_at: T0 + 50 })
          const order = async (order_by: 'LAST_ACTIVE_AT_ASC' | 'LAST_ACTIVE_AT_DESC') =>
            (await store.queryOrgs({ page_size: 10, page_number: 0, order_by })).items.map((o) => o.org_id)
          assert.deepEqual(await order('LAST_ACTIVE_AT_ASC'), [empty, quiet, busy])
          assert.deepEqual(await order('LAST_ACTIVE_AT_DESC'), [busy, quiet, empty])
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
          await assert.rejects(
            store.addMember(unknown, user.user_id, 'Member'),
            (e) => e instanceof StoreNotFoundError && e.entity === 'org',
          )
          await assert.rejects(
            store.addMember(org.org_id, unknown, 'Member'),
            (e) => e instanceof StoreNotFoundError && e.entity === 'user',
          )
        }))

      it("lists an org's members by join time, with a role filter and paging", (t) =>
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
            [
              [u2.user_id, 'Admin'],
              [u3.user_id, 'Admin'],
            ],
          )

          const page = await store.listOrgMembers(org.org_id, { page_size: 3, page_number: 1 })
          assert.deepEqual({ total: page.total, ids: page.items.map((m) => m.user.user_id) }, { total: 4, ids: [u1.user_id] })

          const memberships = await store.listUserMemberships(u1.user_id)
          assert.deepEqual(
            memberships.map((m) => [m.org.org_id, m.membership.role]),
            [
              [org.org_id, 'Member'],
              [other.org_id, 'Owner'],
            ].sort((a, b) => byId(a[0]!, b[0]!)),
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

    describe('api keys', () => {
      const page = { page_size: 10, page_number: 0 }

      it('creates a key with defaults, hiding the hashes, and fetches it with them', (t) =>
        withStore(async (store) => {
          clockAt(t, T0)
          const input = personal('u1')
          const key = await store.createApiKey(input)
          assert.match(key.api_key_id, /^[0-9a-f]{32}$/)
          assert.deepEqual(key, {
            api_key_id: key.api_key_id,
            type: 'personal',
            user_id: 'u1',
            org_id: null,
            name: null,
            description: null,
            metadata: {},
            scopes: [],
            rate_limit_override: null,
            created_by: null,
            created_at: T0,
            expires_at: null,
            last_used_at: null,
            archived_at: null,
            archive_reason: null,
            protected: false,
            display: 'gh_pk_Ab3d',
            imported: false,
            revoke_on_creator_leave: false,
            updated_at: T0,
          })
          assert.equal('secret_hash' in key, false)
          assert.deepEqual(await store.getApiKey(key.api_key_id), {
            ...key,
            secret_hash: input.secret_hash,
            previous_secret_hash: null,
            previous_valid_until: null,
          })
          assert.equal(await store.getApiKey('0'.repeat(32)), undefined)
        }))

      it('keeps every field given at creation', () =>
        withStore(async (store) => {
          const input: NewApiKey = {
            type: 'org',
            user_id: 'creator',
            org_id: 'org1',
            expires_at: T0 + 3600,
            secret_hash: hash(),
            display: 'gh_ok_Zz9',
            name: 'CI deploys',
            description: 'used by the pipeline',
            metadata: { env: 'prod', nested: { n: [1] } },
            scopes: ['read:x', 'write:y'],
            rate_limit_override: 600,
            created_by: 'creator',
            protected: true,
            imported: true,
            revoke_on_creator_leave: true,
          }
          const key = await store.createApiKey(input)
          const { secret_hash: _hash, ...shown } = input
          assert.deepEqual(key, { ...key, ...shown })
          assert.deepEqual(await store.getApiKey(key.api_key_id), {
            ...key,
            secret_hash: input.secret_hash,
            previous_secret_hash: null,
            previous_valid_until: null,
          })
        }))

      it('rejects a duplicate secret hash, at create and at rotate', () =>
        withStore(async (store) => {
          const a = await store.createApiKey(personal('u1'))
          const b = await store.createApiKey(personal('u1'))
          const stored = await store.getApiKey(a.api_key_id)
          await assert.rejects(store.createApiKey(personal('u2', { secret_hash: stored!.secret_hash })), conflictOn('api_key'))
          await assert.rejects(
            store.rotateApiKey(b.api_key_id, { secret_hash: stored!.secret_hash, display: 'x' }, null),
            conflictOn('api_key'),
          )
          assert.equal((await store.listApiKeys({ ...page, archived: false })).total, 2)
        }))

      it('finds a key by its secret hash, and by the previous one only during the grace period', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const oldHash = hash()
          const key = await store.createApiKey(personal('u1', { secret_hash: oldHash }))
          assert.equal((await store.findApiKeyBySecretHash(oldHash, T0))?.api_key_id, key.api_key_id)
          assert.equal(await store.findApiKeyBySecretHash(hash(), T0), undefined)

          setClock(T0 + 10)
          const newHash = hash()
          const rotated = await store.rotateApiKey(key.api_key_id, { secret_hash: newHash, display: 'gh_pk_New1' }, T0 + 100)
          assert.deepEqual(rotated, { ...key, display: 'gh_pk_New1', updated_at: T0 + 10 })
          const stored = await store.getApiKey(key.api_key_id)
          assert.deepEqual([stored?.secret_hash, stored?.previous_secret_hash, stored?.previous_valid_until], [newHash, oldHash, T0 + 100])
          assert.equal((await store.findApiKeyBySecretHash(newHash, T0 + 10))?.api_key_id, key.api_key_id)
          assert.deepEqual(await store.findApiKeyBySecretHash(oldHash, T0 + 99), stored)
          assert.equal(await store.findApiKeyBySecretHash(oldHash, T0 + 100), undefined)
          assert.equal(await store.findApiKeyBySecretHash(oldHash, T0 + 1000), undefined)

          // A rotation without grace drops the previous secret at once, including one still in grace.
          const newest = hash()
          await store.rotateApiKey(key.api_key_id, { secret_hash: newest, display: 'gh_pk_New2' }, null)
          const again = await store.getApiKey(key.api_key_id)
          assert.deepEqual([again?.secret_hash, again?.previous_secret_hash, again?.previous_valid_until], [newest, null, null])
          assert.equal(await store.findApiKeyBySecretHash(newHash, T0 + 10), undefined)
          assert.equal(await store.findApiKeyBySecretHash(oldHash, T0 + 10), undefined)
          assert.equal(await store.rotateApiKey('0'.repeat(32), { secret_hash: hash(), display: 'x' }, null), undefined)
        }))

      it('finds a key with its owner in one call: a personal key with its user and orgs, an org key with its org and creator membership', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const ada = await store.createUser({ email: 'ada@example.com', first_name: 'Ada' })
          const [acme, zeta] = [await store.createOrg({ name: 'Acme' }), await store.createOrg({ name: 'Zeta' })]
          await store.addMember(zeta.org_id, ada.user_id, 'Admin')
          setClock(T0 + 1)
          await store.addMember(acme.org_id, ada.user_id, 'Member')

          const personalHash = hash()
          const personalKey = await store.createApiKey(personal(ada.user_id, { secret_hash: personalHash }))
          const found = await store.findApiKeyWithOwner(personalHash, T0)
          assert.deepEqual(found?.key, await store.findApiKeyBySecretHash(personalHash, T0))
          assert.deepEqual(found?.owner?.user, await store.getUser(ada.user_id))
          assert.deepEqual(found?.owner?.memberships, await store.listUserMemberships(ada.user_id))
          assert.deepEqual(
            found?.owner?.memberships.map((m) => [m.org.name, m.membership.role]),
            [
              ['Zeta', 'Admin'],
              ['Acme', 'Member'],
            ],
          )
          assert.equal(found?.org, undefined)

          const orgHash = hash()
          await store.createApiKey(
            personal(ada.user_id, { type: 'org', org_id: acme.org_id, created_by: ada.user_id, secret_hash: orgHash }),
          )
          const orgKey = await store.findApiKeyWithOwner(orgHash, T0)
          assert.deepEqual(orgKey?.org, {
            org: await store.getOrg(acme.org_id),
            creatorMembership: await store.getMembership(acme.org_id, ada.user_id),
          })
          assert.equal(orgKey?.owner, undefined)
          await store.removeMember(acme.org_id, ada.user_id)
          assert.equal((await store.findApiKeyWithOwner(orgHash, T0))?.org?.creatorMembership, undefined)

          // The previous secret in its grace period finds the key too; an owner gone leaves the key alone.
          const newHash = hash()
          await store.rotateApiKey(personalKey.api_key_id, { secret_hash: newHash, display: 'gh_pk_New1' }, T0 + 100)
          assert.equal((await store.findApiKeyWithOwner(personalHash, T0 + 99))?.key.api_key_id, personalKey.api_key_id)
          assert.equal(await store.findApiKeyWithOwner(personalHash, T0 + 100), undefined)
          assert.equal(await store.findApiKeyWithOwner(hash(), T0), undefined)
          const orphanHash = hash()
          await store.createApiKey(personal('no-such-user', { secret_hash: orphanHash }))
          const orphan = await store.findApiKeyWithOwner(orphanHash, T0)
          assert.deepEqual([orphan?.key.user_id, orphan?.owner, orphan?.org], ['no-such-user', undefined, undefined])
        }))

      it('still finds archived and expired keys, for the caller to say why they fail', (t) =>
        withStore(async (store) => {
          clockAt(t, T0)
          const input = personal('u1', { expires_at: T0 - 1 })
          const key = await store.createApiKey(input)
          await store.archiveApiKey(key.api_key_id, 'leaked')
          const found = await store.findApiKeyBySecretHash(input.secret_hash, T0)
          assert.equal(found?.archived_at, T0)
          assert.equal(found?.expires_at, T0 - 1)
        }))

      it('lists current or archived keys newest first, with filters and paging', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const make = async (at: number, extra: Partial<NewApiKey>) => {
            setClock(at)
            return (await store.createApiKey(personal('u1', extra))).api_key_id
          }
          const p1 = await make(T0 + 1, { name: 'Laptop 100%' })
          const p2 = await make(T0 + 2, { user_id: 'u2', name: 'laptop_two' })
          const o1 = await make(T0 + 3, { type: 'org', user_id: null, org_id: 'org1', name: 'Deploy' })
          const o2 = await make(T0 + 3, { type: 'org', user_id: 'u1', org_id: 'org1', created_by: 'u1' })
          const g1 = await make(T0 + 4, { type: 'generic', user_id: null, name: 'Partner LAPTOP' })
          const gone = await make(T0 + 5, { name: 'old laptop' })
          await store.archiveApiKey(gone, 'retired')

          const list = async (query: Partial<Parameters<Store['listApiKeys']>[0]>) =>
            keyIds((await store.listApiKeys({ ...page, archived: false, ...query })).items)
          const sameSecond = [o1, o2].sort(byId).reverse()
          assert.deepEqual(await list({}), [g1, ...sameSecond, p2, p1])
          assert.deepEqual(await list({ archived: true }), [gone])
          assert.deepEqual(await list({ org_id: 'org1' }), sameSecond)
          assert.deepEqual(await list({ user_id: 'u1' }), [o2, p1])
          assert.deepEqual(await list({ user_id: 'u1', type: 'personal' }), [p1])
          assert.deepEqual(await list({ type: 'generic' }), [g1])
          assert.deepEqual(await list({ query: 'LAPTOP' }), [g1, p2, p1])
          assert.deepEqual(await list({ query: 'laptop', archived: true }), [gone])
          assert.deepEqual(await list({ query: '_' }), [p2])
          assert.deepEqual(await list({ query: '%' }), [p1])
          assert.deepEqual(await list({ org_id: 'nope' }), [])

          const second = await store.listApiKeys({ page_size: 2, page_number: 1, archived: false })
          assert.deepEqual({ total: second.total, ids: keyIds(second.items) }, { total: 5, ids: [sameSecond[1], p2] })
          assert.ok(second.items.every((k) => !('secret_hash' in k)))
          await assert.rejects(store.listApiKeys({ page_size: 0, page_number: 0, archived: false }), RangeError)
        }))

      it('updates the given fields and sets updated_at', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const key = await store.createApiKey(personal('u1', { name: 'Old', expires_at: T0 + 60, scopes: ['a'] }))
          setClock(T0 + 5)
          const updated = await store.updateApiKey(key.api_key_id, {
            name: 'New Name',
            description: 'd',
            metadata: { m: 1 },
            scopes: ['b', 'c'],
            rate_limit_override: 10,
            expires_at: null,
          })
          assert.deepEqual(updated, {
            ...key,
            name: 'New Name',
            description: 'd',
            metadata: { m: 1 },
            scopes: ['b', 'c'],
            rate_limit_override: 10,
            expires_at: null,
            updated_at: T0 + 5,
          })
          const {
            secret_hash: _h,
            previous_secret_hash: _p,
            previous_valid_until: _v,
            ...fetched
          } = (await store.getApiKey(key.api_key_id))!
          assert.deepEqual(fetched, updated)
          assert.deepEqual(keyIds((await store.listApiKeys({ ...page, archived: false, query: 'new n' })).items), [key.api_key_id])
          assert.deepEqual((await store.listApiKeys({ ...page, archived: false, query: 'old' })).items, [])
          const cleared = await store.updateApiKey(key.api_key_id, { name: null, scopes: [] })
          assert.deepEqual([cleared?.name, cleared?.scopes, cleared?.description], [null, [], 'd'])
          assert.equal(await store.updateApiKey('0'.repeat(32), { name: 'x' }), undefined)
        }))

      it('archives once, keeping the first time and reason, and the key stays fetchable', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const key = await store.createApiKey(personal('u1'))
          setClock(T0 + 7)
          const archived = await store.archiveApiKey(key.api_key_id, 'compromised')
          assert.deepEqual(archived, { ...key, archived_at: T0 + 7, archive_reason: 'compromised', updated_at: T0 + 7 })
          setClock(T0 + 9)
          assert.deepEqual(await store.archiveApiKey(key.api_key_id, 'again'), archived)
          assert.equal((await store.getApiKey(key.api_key_id))?.archived_at, T0 + 7)
          assert.equal((await store.listApiKeys({ ...page, archived: false })).total, 0)
          assert.equal(await store.archiveApiKey('0'.repeat(32), null), undefined)
          const noReason = await store.archiveApiKey((await store.createApiKey(personal('u1'))).api_key_id, null)
          assert.deepEqual([noReason?.archived_at, noReason?.archive_reason], [T0 + 9, null])
        }))

      it('deletes a key with its usage, and says whether one went away', () =>
        withStore(async (store) => {
          const input = personal('u1')
          const key = await store.createApiKey(input)
          const other = await store.createApiKey(personal('u1'))
          await store.recordApiKeyUsage([
            { api_key_id: key.api_key_id, date: '2026-01-01', count: 3, last_used_at: T0 },
            { api_key_id: other.api_key_id, date: '2026-01-01', count: 2, last_used_at: T0 },
          ])
          assert.equal(await store.deleteApiKey(key.api_key_id), true)
          assert.equal(await store.getApiKey(key.api_key_id), undefined)
          assert.equal(await store.findApiKeyBySecretHash(input.secret_hash, T0), undefined)
          assert.equal(await store.apiKeyUsage({ date: '2026-01-01', api_key_id: key.api_key_id }), 0)
          assert.equal(await store.apiKeyUsage({ date: '2026-01-01', user_id: 'u1' }), 2)
          assert.equal(await store.deleteApiKey(key.api_key_id), false)
          // The hash is free again.
          await store.createApiKey(personal('u2', { secret_hash: input.secret_hash }))
        }))

      it('archives the creator-bound org keys of a departed creator, and only those', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const org = (extra: Partial<NewApiKey>) =>
            store.createApiKey(personal('u1', { type: 'org', org_id: 'org1', created_by: 'u1', revoke_on_creator_leave: true, ...extra }))
          const bound1 = await org({})
          const bound2 = await org({ user_id: null })
          const unbound = await org({ revoke_on_creator_leave: false })
          const otherOrg = await org({ org_id: 'org2' })
          const otherCreator = await org({ created_by: 'u2' })
          const personalKey = await store.createApiKey(personal('u1', { org_id: 'org1', created_by: 'u1', revoke_on_creator_leave: true }))
          const already = await org({})
          await store.archiveApiKey(already.api_key_id, 'earlier')

          setClock(T0 + 30)
          const ids = await store.archiveKeysOfDepartedCreator('org1', 'u1', 'creator left the org')
          assert.deepEqual([...ids].sort(byId), [bound1.api_key_id, bound2.api_key_id].sort(byId))
          for (const id of ids) {
            const key = await store.getApiKey(id)
            assert.deepEqual([key?.archived_at, key?.archive_reason], [T0 + 30, 'creator left the org'])
          }
          for (const key of [unbound, otherOrg, otherCreator, personalKey]) {
            assert.equal((await store.getApiKey(key.api_key_id))?.archived_at, null)
          }
          assert.equal((await store.getApiKey(already.api_key_id))?.archive_reason, 'earlier')
          assert.deepEqual(await store.archiveKeysOfDepartedCreator('org1', 'u1', 'again'), [])
        }))

      it('records usage in batches: summed counts per day and last_used_at only moving forward', () =>
        withStore(async (store) => {
          const k1 = await store.createApiKey(personal('u1'))
          const k2 = await store.createApiKey(personal('u1'))
          const k3 = await store.createApiKey(personal('u2', { type: 'org', org_id: 'org1' }))
          const k4 = await store.createApiKey(personal('u3', { type: 'org', org_id: 'org1' }))
          await store.recordApiKeyUsage([])
          await store.recordApiKeyUsage([
            { api_key_id: k1.api_key_id, date: '2026-01-01', count: 5, last_used_at: T0 + 50 },
            { api_key_id: k1.api_key_id, date: '2026-01-01', count: 1, last_used_at: T0 + 40 },
            { api_key_id: k1.api_key_id, date: '2026-01-02', count: 2, last_used_at: T0 + 90_000 },
            { api_key_id: k2.api_key_id, date: '2026-01-01', count: 7, last_used_at: T0 + 10 },
            { api_key_id: k3.api_key_id, date: '2026-01-01', count: 4, last_used_at: T0 + 20 },
            // A key deleted since its requests were counted: ignored.
            { api_key_id: '0'.repeat(32), date: '2026-01-01', count: 100, last_used_at: T0 },
          ])
          await store.recordApiKeyUsage([
            { api_key_id: k1.api_key_id, date: '2026-01-01', count: 10, last_used_at: T0 + 30 },
            { api_key_id: k4.api_key_id, date: '2026-01-01', count: 1, last_used_at: T0 + 60 },
          ])
          const usage = (query: Omit<Parameters<Store['apiKeyUsage']>[0], 'date'>, date = '2026-01-01') =>
            store.apiKeyUsage({ date, ...query })
          assert.equal(await usage({ api_key_id: k1.api_key_id }), 16)
          assert.equal(await usage({ api_key_id: k1.api_key_id }, '2026-01-02'), 2)
          assert.equal(await usage({ api_key_id: k1.api_key_id }, '2026-01-03'), 0)
          assert.equal(await usage({ user_id: 'u1' }), 23)
          assert.equal(await usage({ org_id: 'org1' }), 5)
          assert.equal(await usage({ org_id: 'org1', user_id: 'u2' }), 4)
          assert.equal(await usage({ org_id: 'org1', api_key_id: k1.api_key_id }), 0)
          assert.equal(await usage({}), 28)
          assert.equal(await usage({ user_id: 'nobody' }), 0)
          assert.equal(await store.getApiKey('0'.repeat(32)), undefined)

          assert.equal((await store.getApiKey(k1.api_key_id))?.last_used_at, T0 + 90_000)
          assert.equal((await store.getApiKey(k2.api_key_id))?.last_used_at, T0 + 10)
          assert.equal((await store.getApiKey(k4.api_key_id))?.last_used_at, T0 + 60)
          // Usage is not an edit: updated_at stays.
          assert.equal((await store.getApiKey(k1.api_key_id))?.updated_at, k1.updated_at)
        }))

      it('records user and org usage in batches: summed per subject and day, users and orgs apart', () =>
        withStore(async (store) => {
          await store.recordSubjectUsage([])
          await store.recordSubjectUsage([
            { kind: 'user', id: 'u1', date: '2026-01-01', count: 3 },
            { kind: 'user', id: 'u1', date: '2026-01-01', count: 2 },
            { kind: 'user', id: 'u1', date: '2026-01-02', count: 1 },
            // The same id as an org is another subject.
            { kind: 'org', id: 'u1', date: '2026-01-01', count: 40 },
            { kind: 'org', id: 'org1', date: '2026-01-01', count: 7 },
          ])
          await store.recordSubjectUsage([
            { kind: 'user', id: 'u1', date: '2026-01-01', count: 10 },
            { kind: 'org', id: 'org1', date: '2026-01-01', count: 1 },
          ])
          const usage = (kind: 'user' | 'org', id: string, date = '2026-01-01') => store.subjectUsage({ kind, id, date })
          assert.equal(await usage('user', 'u1'), 15)
          assert.equal(await usage('user', 'u1', '2026-01-02'), 1)
          assert.equal(await usage('user', 'u1', '2026-01-03'), 0)
          assert.equal(await usage('org', 'u1'), 40)
          assert.equal(await usage('org', 'org1'), 8)
          assert.equal(await usage('user', 'org1'), 0)
          assert.equal(await usage('user', 'nobody'), 0)
          // Apart from the per-key counts: the key tables see none of it.
          assert.equal(await store.apiKeyUsage({ date: '2026-01-01' }), 0)
        }))
    })

    describe('invites', () => {
      const newInvite = (orgId: string, email: string, extra: Partial<NewInvite> = {}): NewInvite => ({
        org_id: orgId,
        email,
        role: 'Member',
        inviter_user_id: null,
        expires_at: T0 + 3600,
        secret_hash: hash(),
        ...extra,
      })

      it('inviting the same email to the same org again replaces the pending invite; lists hold only pending, unexpired ones', (t) =>
        withStore(async (store) => {
          const setClock = clockAt(t, T0)
          const org = await store.createOrg({ name: 'Acme' })
          const other = await store.createOrg({ name: 'Other' })
          const first = newInvite(org.org_id, 'a@example.com')
          const created = await store.createInvite(first)
          assert.deepEqual(
            { ...created, invite_id: 'x' },
            {
              invite_id: 'x',
              org_id: org.org_id,
              email: 'a@example.com',
              role: 'Member',
              inviter_user_id: null,
              created_at: T0,
              expires_at: T0 + 3600,
              accepted_at: null,
              accepted_user_id: null,
              revoked_at: null,
            },
          )
          setClock(T0 + 1)
          const again = await store.createInvite(newInvite(org.org_id, 'a@example.com', { role: 'Admin' }))
          await store.createInvite(newInvite(other.org_id, 'a@example.com'))
          await store.createInvite(newInvite(org.org_id, 'short@example.com', { expires_at: T0 + 10 }))
          assert.notEqual((await store.getInviteBySecretHash(first.secret_hash))?.revoked_at, null, 'the first is revoked')
          const pending = await store.listPendingInvites({ org_id: org.org_id, now: T0 + 20, page_size: 10, page_number: 0 })
          assert.deepEqual(
            pending.items.map((i) => [i.invite_id, i.role]),
            [[again.invite_id, 'Admin']],
          )
          assert.equal(pending.total, 1)
          assert.equal(
            (await store.listPendingInvites({ now: T0 + 5, page_size: 10, page_number: 0 })).total,
            3,
            'every org, expiry not reached',
          )
          assert.equal(await store.revokeInvite(org.org_id, 'A@Example.com', T0 + 30), true)
          assert.equal(await store.revokeInvite(org.org_id, 'a@example.com', T0 + 30), false)
          assert.equal(await store.getInviteBySecretHash('0'.repeat(64)), undefined)
        }))

      it('accepts once, by an existing user or a new one; a full org or a member rolls the acceptance back', (t) =>
        withStore(async (store) => {
          clockAt(t, T0)
          const org = await store.createOrg({ name: 'Acme', max_users: 2 })
          const ada = await store.createUser({ email: 'ada@example.com' })
          const forAda = newInvite(org.org_id, 'ada@example.com', { role: 'Admin' })
          await store.createInvite(forAda)
          const [one, two] = await Promise.all([
            store.acceptInvite(forAda.secret_hash, T0, { user_id: ada.user_id }),
            store.acceptInvite(forAda.secret_hash, T0, { user_id: ada.user_id }),
          ])
          assert.equal([one, two].filter((a) => a !== undefined).length, 1, 'two racing acceptances: one wins')
          const won = (one ?? two)!
          assert.deepEqual([won.membership.role, won.invite.accepted_user_id, won.invite.accepted_at], ['Admin', ada.user_id, T0])
          assert.equal(await store.acceptInvite(forAda.secret_hash, T0, { user_id: ada.user_id }), undefined)

          const forNew = newInvite(org.org_id, 'new@example.com')
          await store.createInvite(forNew)
          const accepted = await store.acceptInvite(forNew.secret_hash, T0, {
            new_user: { email: 'new@example.com', email_confirmed: true, password_hash: 'phc' },
          })
          assert.equal(accepted?.user.email, 'new@example.com')
          assert.equal(accepted?.user.has_password, true)
          assert.equal((await store.getMembership(org.org_id, accepted!.user.user_id))?.role, 'Member')

          const late = newInvite(org.org_id, 'late@example.com')
          await store.createInvite(late)
          await assert.rejects(
            store.acceptInvite(late.secret_hash, T0, { new_user: { email: 'late@example.com' } }),
            (err: unknown) => err instanceof StoreLimitError,
          )
          assert.equal(await store.getUserByEmail('late@example.com'), undefined, 'the new user is rolled back with it')
          assert.equal((await store.getInviteBySecretHash(late.secret_hash))?.accepted_at, null, 'the invite stays pending')
          const expired = newInvite(org.org_id, 'gone@example.com', { expires_at: T0 })
          await store.createInvite(expired)
          assert.equal(await store.acceptInvite(expired.secret_hash, T0, { user_id: ada.user_id }), undefined)
          const member = newInvite((await store.createOrg({ name: 'Open' })).org_id, 'ada@example.com')
          await store.createInvite(member)
          await store.acceptInvite(member.secret_hash, T0, { user_id: ada.user_id })
          const twice = newInvite(member.org_id, 'ada@example.com')
          await store.createInvite(twice)
          await assert.rejects(store.acceptInvite(twice.secret_hash, T0, { user_id: ada.user_id }), conflictOn('membership'))
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
