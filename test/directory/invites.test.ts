import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { createDirectoryOperations, InvalidInputError, InviteRefusedError } from '../../src/directory/index.ts'
import type { DirectoryChange, DirectoryOperations } from '../../src/directory/index.ts'
import { createRoleTable } from '../../src/identity/index.ts'
import type { MailMessage } from '../../src/mail/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type { Store } from '../../src/store/index.ts'
import { TEST_ROLES } from '../support/gateway.ts'

const PUBLIC_URL = 'https://app.example.com'
let store: Store
let now: number
let directory: DirectoryOperations
let mailed: MailMessage[]
let changes: DirectoryChange[]
beforeEach(async () => {
  store = await createSqliteStore(':memory:')
  now = 1_767_225_600
  mailed = []
  changes = []
  directory = createDirectoryOperations({
    store,
    roles: createRoleTable(TEST_ROLES),
    now: () => now,
    signIn: { publicUrl: PUBLIC_URL, redirectOrigins: new Set([PUBLIC_URL]) },
    mailer: { send: async (message) => void mailed.push(message) },
    onChange: (change) => changes.push(change),
  })
})
afterEach(() => store.close())

const secretOf = (url: string) => url.slice(url.lastIndexOf('/') + 1)
const refused = (reason: string) => (err: unknown) => err instanceof InviteRefusedError && err.reason === reason

describe('invitations in the directory', () => {
  it('mails the invite with the org, role and inviter; lists it with the org name and the inviter', async () => {
    const org = await directory.orgs.create({ name: 'Acme' })
    const boss = await directory.users.create({ email: 'boss@example.com' })
    const {
      invite,
      url,
      mailed: sent,
    } = await directory.invites.create({
      email: ' Ada@Example.COM ',
      org_id: org.org_id,
      role: 'Admin',
      inviter_user_id: boss.user_id,
    })
    assert.equal(sent, true)
    assert.match(url, /^https:\/\/app\.example\.com\/\.gatehouse\/invite\/[A-Za-z0-9_-]{43}$/)
    assert.deepEqual(mailed, [
      {
        type: 'invite',
        to: 'ada@example.com',
        url,
        expires_at: now + 7 * 24 * 3600,
        org: { org_id: org.org_id, name: 'Acme' },
        role: 'Admin',
        inviter_email: 'boss@example.com',
      },
    ])
    assert.equal(invite.inviter_email, 'boss@example.com')
    const page = await directory.invites.listPending({ org_id: org.org_id, page_size: 10, page_number: 0 })
    assert.deepEqual(
      page.items.map((i) => [i.email, i.org_name, i.inviter_user_id, i.inviter_email]),
      [['ada@example.com', 'Acme', boss.user_id, 'boss@example.com']],
    )
  })

  it('expires after expires_in_hours: accepted a second before, refused a second after', async () => {
    const org = await directory.orgs.create({ name: 'Acme' })
    const early = await directory.invites.create({ email: 'early@example.com', org_id: org.org_id, role: 'Member', expires_in_hours: 1 })
    const late = await directory.invites.create({ email: 'late@example.com', org_id: org.org_id, role: 'Member', expires_in_hours: 1 })
    now += 3599
    const accepted = await directory.invites.accept(secretOf(early.url), { password: 'a long enough password' })
    assert.equal(accepted.user.email, 'early@example.com')
    assert.deepEqual(changes.slice(-2), [
      { kind: 'user', userId: accepted.user.user_id },
      { kind: 'membership', orgId: org.org_id, userId: accepted.user.user_id },
    ])
    now += 2
    await assert.rejects(directory.invites.accept(secretOf(late.url), { password: 'a long enough password' }), refused('expired'))
    await assert.rejects(directory.invites.accept(secretOf(early.url), { password: 'a long enough password' }), refused('used'))
    await assert.rejects(directory.invites.accept('no-such-secret', { password: 'a long enough password' }), refused('not_found'))
  })

  it('compares the signed-in user’s email lowercased and nothing else; refuses a short password and a bad expiry by field', async () => {
    const org = await directory.orgs.create({ name: 'Acme' })
    const { url } = await directory.invites.create({ email: 'ada@example.com', org_id: org.org_id, role: 'Member' })
    const plus = await directory.users.create({ email: 'ada+x@example.com' })
    await assert.rejects(directory.invites.accept(secretOf(url), { user_id: plus.user_id }), refused('email_mismatch'))
    const ada = await directory.users.create({ email: 'Ada@Example.com' })
    assert.equal((await directory.invites.accept(secretOf(url), { user_id: ada.user_id })).membership.role, 'Member')

    const other = await directory.invites.create({ email: 'new@example.com', org_id: org.org_id, role: 'Member' })
    await assert.rejects(
      directory.invites.accept(secretOf(other.url), { password: 'short' }),
      (err: unknown) => err instanceof InvalidInputError && err.field === 'password',
    )
    await assert.rejects(
      directory.invites.create({ email: 'x@example.com', org_id: org.org_id, role: 'Member', expires_in_hours: 721 }),
      (err: unknown) => err instanceof InvalidInputError && err.field === 'expires_in_hours',
    )
  })

  it('re-checks the domain rule at acceptance: a rule set after the invite refuses it', async () => {
    const org = await directory.orgs.create({ name: 'Acme', domain: 'acme.example' })
    const { url } = await directory.invites.create({ email: 'ada@example.com', org_id: org.org_id, role: 'Member' })
    await directory.orgs.update(org.org_id, { members_must_have_matching_domain: true })
    await assert.rejects(directory.invites.accept(secretOf(url), { password: 'a long enough password' }), refused('domain_not_allowed'))
  })
})
