import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { VERIFIED_BY } from '../../src/identity/index.ts'
import type { Identity, IdentityApiKey, IdentityUser, OrgMembership } from '../../src/identity/index.ts'
import { createAssertionSigner, loadOrCreateAssertionKeys } from '../../src/forward/index.ts'
import { createVerifier } from '../../src/upstream/index.ts'
import type { AssertedApiKey, AssertedIdentity, AssertedOrgMembership, AssertedUser } from '../../src/upstream/index.ts'

// The SDK is published alone, so it declares its own copy of the Identity the gateway signs.
// These checks tie the copy to the original at compile time (npm run typecheck): a field added,
// removed, retyped or made optional on one side only fails to compile here.

/** True when A and B are the same type: each assignable to the other, optionality and readonly included. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

/** What JSON.stringify keeps of an Identity: its string keys (VERIFIED_BY, a symbol, stays behind). */
type Serialized<T> = { [K in keyof T as K extends string ? K : never]: T[K] }

// The key sets first, so that a drift names the field; then the whole types.
export type SdkMirrorsGatewayIdentity = [
  Expect<Equal<keyof OrgMembership, keyof AssertedOrgMembership>>,
  Expect<Equal<OrgMembership, AssertedOrgMembership>>,
  Expect<Equal<keyof IdentityUser, keyof AssertedUser>>,
  Expect<Equal<IdentityUser, AssertedUser>>,
  Expect<Equal<keyof IdentityApiKey, keyof AssertedApiKey>>,
  Expect<Equal<IdentityApiKey, AssertedApiKey>>,
  Expect<Equal<keyof Serialized<Identity>, keyof AssertedIdentity>>,
  Expect<Equal<Serialized<Identity>, AssertedIdentity>>,
]

describe('the SDK types against the gateway Identity', () => {
  it('reads every field of an assertion the gateway signed, rateLimit included, and nothing of VERIFIED_BY', async () => {
    const secret = 'a shared secret of at least thirty-two bytes'
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'HS256', keyFile: 'unused.json', secret })
    const signer = createAssertionSigner({ keys, algorithm: 'HS256', issuer: 'gatehouse', audience: 'upstream', ttlMs: 30_000 })
    const membership = {
      orgId: 'org_1',
      orgName: 'Acme',
      role: 'Admin',
      inheritedRoles: ['Admin', 'Member'],
      permissions: ['billing:read'],
    }
    const identity: Identity = {
      principal: 'user',
      method: 'api_key',
      user: { userId: 'user_1', email: 'ada@example.com', properties: { plan: 'pro' } },
      orgs: { org_1: membership },
      org: { orgId: 'org_1', orgName: 'Acme' },
      apiKey: { id: 'key_1', type: 'personal', scopes: ['read'], metadata: { env: 'ci' }, expiresAt: null, rateLimit: 120 },
      activeOrg: membership,
      [VERIFIED_BY]: 'local',
    }
    const caller = await createVerifier({ secret }).verify(signer.sign(identity))
    const { [VERIFIED_BY]: verifiedBy, ...serialized } = identity
    assert.equal(verifiedBy, 'local')
    assert.deepEqual(caller.identity, serialized)
    assert.deepEqual(caller.apiKey, identity.apiKey)
    assert.equal(caller.apiKey?.rateLimit, 120)
  })
})
