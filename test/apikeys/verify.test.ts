import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateApiKeySecret, verifyApiKey } from '../../src/apikeys/index.ts'
import type { ApiKeyLookup, ApiKeyStatus } from '../../src/apikeys/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type { NewApiKey, Store } from '../../src/store/index.ts'

const NOW = Math.floor(Date.now() / 1000)

describe('verifyApiKey', () => {
  let store: Store
  let alice: string
  let bob: string
  let org: string
  before(async () => {
    store = await createSqliteStore(':memory:')
    alice = (await store.createUser({ email: 'alice@example.com' })).user_id
    bob = (await store.createUser({ email: 'bob@example.com' })).user_id
    org = (await store.createOrg({ name: 'Acme' })).org_id
    await store.addMember(org, alice, 'Member')
  })
  after(() => store.close())

  /** A key stored with `fields`; resolves its secret's hash. */
  async function keyWith(fields: Partial<NewApiKey> & Pick<NewApiKey, 'type'>): Promise<string> {
    const secret = generateApiKeySecret(fields.type)
    await store.createApiKey({
      user_id: null,
      org_id: null,
      expires_at: null,
      ...fields,
      secret_hash: secret.secret_hash,
      display: secret.display,
      imported: false,
    })
    return secret.secret_hash
  }
  const statusOf = async (hash: string, lookup: ApiKeyLookup = store): Promise<ApiKeyStatus> =>
    (await verifyApiKey(lookup, hash, NOW)).status

  it('valid: a personal key with its enabled user, an org key with its org, a generic key', async () => {
    const personal = await verifyApiKey(store, await keyWith({ type: 'personal', user_id: alice }), NOW)
    assert.equal(personal.status, 'valid')
    assert.equal(personal.status === 'valid' && personal.user?.user_id, alice)
    assert.deepEqual(personal.status === 'valid' && personal.memberships?.map((m) => [m.org.name, m.membership.role]), [['Acme', 'Member']])
    const orgKey = await verifyApiKey(store, await keyWith({ type: 'org', org_id: org }), NOW)
    assert.equal(orgKey.status === 'valid' && orgKey.org?.org_id, org)
    assert.equal(await statusOf(await keyWith({ type: 'generic' })), 'valid')
  })

  it('not_found: no key has that hash', async () => {
    assert.equal(await statusOf('0'.repeat(64)), 'not_found')
  })

  it('archived: an archived key, even one that has also expired', async () => {
    const hash = await keyWith({ type: 'generic', expires_at: NOW - 10 })
    const key = await store.findApiKeyBySecretHash(hash, NOW)
    await store.archiveApiKey(key!.api_key_id, 'leaked')
    assert.equal(await statusOf(hash), 'archived')
  })

  it('expired: at its expiry second and after, not before', async () => {
    assert.equal(await statusOf(await keyWith({ type: 'generic', expires_at: NOW })), 'expired')
    assert.equal(await statusOf(await keyWith({ type: 'generic', expires_at: NOW + 1 })), 'valid')
  })

  it('owner_disabled and owner_deleted: a personal key stops with its user', async () => {
    const carol = (await store.createUser({ email: 'carol@example.com' })).user_id
    const hash = await keyWith({ type: 'personal', user_id: carol })
    await store.updateUser(carol, { enabled: false })
    assert.equal(await statusOf(hash), 'owner_disabled')
    await store.deleteUser(carol)
    assert.equal(await statusOf(hash), 'owner_deleted')
  })

  it('org_deleted: an org key stops with its org', async () => {
    const gone = (await store.createOrg({ name: 'Gone' })).org_id
    const hash = await keyWith({ type: 'org', org_id: gone })
    await store.deleteOrg(gone)
    assert.equal(await statusOf(hash), 'org_deleted')
  })

  it('creator_left: a revoke_on_creator_leave key stops once its creator is no longer a member; without the flag it stays valid', async () => {
    const team = (await store.createOrg({ name: 'Team' })).org_id
    await store.addMember(team, bob, 'Member')
    const revoking = await keyWith({ type: 'org', org_id: team, user_id: bob, created_by: bob, revoke_on_creator_leave: true })
    const keeping = await keyWith({ type: 'org', org_id: team, user_id: bob, created_by: bob, revoke_on_creator_leave: false })
    assert.equal(await statusOf(revoking), 'valid')
    await store.removeMember(team, bob)
    assert.equal(await statusOf(revoking), 'creator_left')
    assert.equal(await statusOf(keeping), 'valid')
  })

  it('creator_left when created_by is null: the org key’s user_id is its creator (the rule the proxy and the validate endpoints once disagreed on)', async () => {
    const team = (await store.createOrg({ name: 'Legacy' })).org_id
    await store.addMember(team, bob, 'Member')
    const hash = await keyWith({ type: 'org', org_id: team, user_id: bob, created_by: null, revoke_on_creator_leave: true })
    assert.equal(await statusOf(hash), 'valid')
    await store.removeMember(team, bob)
    assert.equal(await statusOf(hash), 'creator_left')
  })

  it('reads the key and its owner in one store call, through its narrow lookup port', async () => {
    const reads: string[] = []
    const lookup: ApiKeyLookup = { findApiKeyWithOwner: (h, now) => (reads.push('key with owner'), store.findApiKeyWithOwner(h, now)) }
    assert.equal(await statusOf(await keyWith({ type: 'personal', user_id: alice }), lookup), 'valid')
    assert.equal(
      await statusOf(await keyWith({ type: 'org', org_id: org, user_id: alice, revoke_on_creator_leave: true }), lookup),
      'valid',
    )
    assert.deepEqual(reads, ['key with owner', 'key with owner'])
  })
})
