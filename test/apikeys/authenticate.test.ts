import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createApiKeyAuthenticator, generateApiKeySecret, InvalidApiKeyError, parseApiKeySecret } from '../../src/apikeys/index.ts'
import { DEFAULT_PREFIXES } from '../../src/config/index.ts'
import { createRoleTable } from '../../src/identity/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type { Store } from '../../src/store/index.ts'

const roles = createRoleTable([
  { name: 'Owner', permissions: ['billing'] },
  { name: 'Member', permissions: ['read'] },
])

describe('API key format', () => {
  it('round-trips each type and rejects a changed character, prefix or length', () => {
    for (const type of ['personal', 'org', 'generic'] as const) {
      const { secret, display } = generateApiKeySecret(type)
      assert.equal(parseApiKeySecret(secret), type)
      assert.ok(secret.startsWith(`${DEFAULT_PREFIXES[type]}_`))
      assert.ok(display.endsWith('…') && !display.includes(secret.slice(-10)))
      const i = secret.length - 10
      const flipped = secret.slice(0, i) + (secret[i] === 'a' ? 'b' : 'a') + secret.slice(i + 1)
      assert.equal(parseApiKeySecret(flipped), undefined)
      assert.equal(parseApiKeySecret(secret + 'x'), undefined)
      assert.equal(parseApiKeySecret('xyz' + secret.slice(3)), undefined)
    }
  })
})

describe('createApiKeyAuthenticator', () => {
  let store: Store
  before(async () => {
    store = await createSqliteStore(':memory:')
  })
  after(() => store.close())

  const authenticator = () =>
    createApiKeyAuthenticator({
      store,
      roles,
      prefixes: DEFAULT_PREFIXES,
      acceptImported: false,
      cache: { maxEntries: 100, ttlMs: 60_000 },
    })

  it('rejects garbage and bad checksums without a store lookup', async () => {
    const auth = authenticator()
    const { secret } = generateApiKeySecret('personal')
    // A changed last character (never the one it had: then the key would be unchanged and valid).
    const badChecksum = secret.slice(0, -1) + (secret.endsWith('0') ? '1' : '0')
    for (const bad of ['', 'hello', 'gtu_' + 'A'.repeat(28), badChecksum]) {
      assert.throws(() => auth.authenticate(bad), InvalidApiKeyError)
    }
    assert.equal(auth.lookups(), 0)
    // A well-formed key that does not exist costs one lookup, then is remembered as refused.
    await assert.rejects(async () => auth.authenticate(secret), InvalidApiKeyError)
    await assert.rejects(async () => auth.authenticate(secret), InvalidApiKeyError)
    assert.equal(auth.lookups(), 1)
  })

  it("refuses with the verifier's status as the reason: creator_left for an org key whose user_id (created_by null) left", async () => {
    const user = await store.createUser({ email: 'creator@example.com' })
    const org = await store.createOrg({ name: 'Creators' })
    await store.addMember(org.org_id, user.user_id, 'Member')
    const generated = generateApiKeySecret('org')
    await store.createApiKey({
      type: 'org',
      user_id: user.user_id,
      org_id: org.org_id,
      created_by: null,
      expires_at: null,
      revoke_on_creator_leave: true,
      ...generated,
    })
    assert.equal((await authenticator().authenticate(generated.secret)).principal, 'org')
    await store.removeMember(org.org_id, user.user_id)
    await assert.rejects(
      async () => authenticator().authenticate(generated.secret),
      (err: InvalidApiKeyError) => err instanceof InvalidApiKeyError && err.reason === 'creator_left' && err.problem.status === 401,
    )
  })

  it('caches a valid key: one lookup for many requests, narrowed permissions, frozen identity', async () => {
    const user = await store.createUser({ email: 'cache@example.com' })
    const org = await store.createOrg({ name: 'O' })
    await store.addMember(org.org_id, user.user_id, 'Owner')
    const generated = generateApiKeySecret('personal')
    const key = await store.createApiKey({
      type: 'personal',
      user_id: user.user_id,
      org_id: null,
      expires_at: null,
      scopes: ['read'],
      ...generated,
    })
    const auth = authenticator()
    const first = await auth.authenticate(generated.secret)
    const second = await auth.authenticate(generated.secret)
    assert.equal(second, first)
    assert.equal(auth.lookups(), 1)
    assert.equal(first.apiKey?.id, key.api_key_id)
    // Owner's permissions are billing + read; the key's scopes keep read only.
    assert.deepEqual(first.orgs[org.org_id]?.permissions, ['read'])
    assert.ok(Object.isFrozen(first.orgs[org.org_id]))
    auth.evictKey(key.api_key_id)
    await auth.authenticate(generated.secret)
    assert.equal(auth.lookups(), 2)
  })
})
