import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import type { Identity } from '../../src/identity/index.ts'
import { createAssertionSigner } from '../../src/forward/assertion.ts'
import { loadOrCreateAssertionKeys, rotateAssertionKeys } from '../../src/forward/assertion-keys.ts'

const T0 = 1_700_000_000_000
const TTL = 300_000
const admin = { orgId: 'org_1', orgName: 'Acme', role: 'Admin', inheritedRoles: ['Admin', 'Member'], permissions: ['billing:read'] }
const identity: Identity = {
  principal: 'user',
  method: 'token',
  user: { userId: 'user_1', email: 'ada@example.com', properties: { plan: 'pro' } },
  orgs: { org_1: admin },
}
const base = { issuer: 'gatehouse', audience: 'upstream', ttlMs: TTL }

let dir: string
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-assertion-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const verifyAt = (now: number) => ({ issuer: 'gatehouse', audience: 'upstream', currentDate: new Date(now) })

describe('assertion signer', () => {
  for (const algorithm of ['EdDSA', 'ES256'] as const) {
    it(`signs a ${algorithm} assertion that verifies against the JWKS and carries the identity`, async () => {
      const keys = await loadOrCreateAssertionKeys({ algorithm, keyFile: path.join(dir, `${algorithm}.json`) })
      const signer = createAssertionSigner({ keys, algorithm, ...base })
      const token = signer.sign(identity, undefined, T0)
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(keys.jwks()), {
        ...verifyAt(T0),
        algorithms: [algorithm],
      })
      assert.deepEqual(protectedHeader, { alg: algorithm, kid: keys.current.kid, typ: 'JWT' })
      assert.deepEqual(payload, {
        identity,
        iss: 'gatehouse',
        aud: 'upstream',
        sub: 'user_1',
        iat: T0 / 1000,
        exp: (T0 + TTL) / 1000,
      })
    })
  }

  it('signs HS256 with the shared secret', async () => {
    const secret = 'a shared secret of at least thirty-two bytes'
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'HS256', keyFile: path.join(dir, 'unused.json'), secret })
    const signer = createAssertionSigner({ keys, algorithm: 'HS256', ...base })
    const token = signer.sign(identity, undefined, T0)
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(secret), {
      ...verifyAt(T0),
      algorithms: ['HS256'],
    })
    assert.equal(protectedHeader.kid, keys.current.kid)
    assert.deepEqual(payload.identity, identity)
  })

  it('names the org for an org key and the key for a generic key', async () => {
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile: path.join(dir, 'sub.json') })
    const signer = createAssertionSigner({ keys, algorithm: 'EdDSA', ...base })
    const apiKey = { id: 'key_1', type: 'org' as const, scopes: [], metadata: {}, expiresAt: null }
    const orgKey: Identity = { principal: 'org', method: 'api_key', orgs: {}, org: { orgId: 'org_9', orgName: 'Nine' }, apiKey }
    const generic: Identity = { principal: 'service', method: 'api_key', orgs: {}, apiKey: { ...apiKey, type: 'generic' } }
    const jwks = createLocalJWKSet(keys.jwks())
    assert.equal((await jwtVerify(signer.sign(orgKey, undefined, T0), jwks, verifyAt(T0))).payload.sub, 'org_9')
    assert.equal((await jwtVerify(signer.sign(generic, undefined, T0), jwks, verifyAt(T0))).payload.sub, 'key_1')
  })

  it('reuses an assertion until a third of its lifetime is left', async () => {
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile: path.join(dir, 'cache.json') })
    const signer = createAssertionSigner({ keys, algorithm: 'EdDSA', ...base })
    signer.sign(identity, undefined, T0 - 1000)
    const first = signer.sign(identity, identity, T0)
    assert.equal(signer.sign(identity, identity, T0 + (TTL * 2) / 3 - 1), first)
    // Identical content of a subject seen before, under no owner or another owner, is served from
    // the recent assertions.
    assert.equal(signer.sign(identity, undefined, T0 + 1000), first)
    assert.equal(signer.sign({ ...identity }, { ...identity }, T0 + 1000), first)

    const fresh = signer.sign(identity, identity, T0 + (TTL * 2) / 3)
    assert.notEqual(fresh, first)
    const { payload } = await jwtVerify(fresh, createLocalJWKSet(keys.jwks()), verifyAt(T0 + TTL))
    assert.equal(payload.iat, (T0 + (TTL * 2) / 3) / 1000)
  })

  it('keeps one assertion per active org, and different content never shares one', async () => {
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile: path.join(dir, 'changed.json') })
    const signer = createAssertionSigner({ keys, algorithm: 'EdDSA', ...base })
    const withOrg: Identity = { ...identity, activeOrg: admin }
    // Second requests: both are kept from here on.
    signer.sign(identity, identity, T0 - 1000)
    signer.sign(withOrg, identity, T0 - 1000)
    const plain = signer.sign(identity, identity, T0)
    const scoped = signer.sign(withOrg, identity, T0 + 1000)
    assert.notEqual(scoped, plain)
    const { payload } = await jwtVerify(scoped, createLocalJWKSet(keys.jwks()), verifyAt(T0))
    assert.deepEqual(payload.identity, withOrg)
    assert.equal(signer.sign({ ...withOrg }, identity, T0 + 2000), scoped)
    assert.equal(signer.sign(identity, identity, T0 + 2000), plain)
    const other: Identity = { ...identity, user: { ...identity.user!, userId: 'someone-else' } }
    const otherJwt = signer.sign(other, other, T0 + 2000)
    assert.notEqual(otherJwt, plain)
    assert.equal((await jwtVerify(otherJwt, createLocalJWKSet(keys.jwks()), verifyAt(T0))).payload.sub, 'someone-else')
  })

  it("keeps an owner's assertion from its second request on", () => {
    return loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile: path.join(dir, 'doorkeeper.json') }).then((keys) => {
      // One recent entry: every other identity pushes the previous one out.
      const signer = createAssertionSigner({ keys, algorithm: 'EdDSA', ...base, recentMax: 1 })
      const a: Identity = { ...identity }
      const b: Identity = { ...identity, user: { ...identity.user!, userId: 'b' } }
      const once = signer.sign(a, a, T0)
      signer.sign(b, b, T0)
      const second = signer.sign(a, a, T0 + 1000)
      assert.notEqual(second, once, 'the first assertion was not kept for the owner')
      signer.sign(b, b, T0 + 1000)
      assert.equal(signer.sign(a, a, T0 + 2000), second, 'the second one is')
    })
  })

  it('signs with the new key after a rotation while the old kid stays published', async () => {
    const keyFile = path.join(dir, 'rotation.json')
    const old = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })
    const oldToken = await createAssertionSigner({ keys: old, algorithm: 'EdDSA', ...base }).sign(identity, undefined, T0)
    const keys = await rotateAssertionKeys(keyFile, 'EdDSA')
    const token = await createAssertionSigner({ keys, algorithm: 'EdDSA', ...base }).sign(identity, undefined, T0)
    assert.equal(decodeProtectedHeader(token).kid, keys.current.kid)
    assert.notEqual(keys.current.kid, old.current.kid)
    const jwks = createLocalJWKSet(keys.jwks())
    await jwtVerify(token, jwks, verifyAt(T0))
    await jwtVerify(oldToken, jwks, verifyAt(T0))
  })

  describe('bound to a request', () => {
    const binding = { method: 'POST', path: '/org/org_1/invoices?draft=1', requestId: 'req-1' }

    it('carries htm, htp (behind the upstream base path) and jti, and verifies', async () => {
      const keys = await loadOrCreateAssertionKeys({ algorithm: 'ES256', keyFile: path.join(dir, 'bound.json') })
      const signer = createAssertionSigner({ keys, algorithm: 'ES256', ...base, bindRequest: true, pathPrefix: '/v1' })
      assert.equal(signer.bindsRequests, true)
      const { payload } = await jwtVerify(signer.signBound(identity, binding, T0), createLocalJWKSet(keys.jwks()), verifyAt(T0))
      assert.deepEqual(payload, {
        iss: 'gatehouse',
        aud: 'upstream',
        sub: 'user_1',
        iat: T0 / 1000,
        exp: (T0 + TTL) / 1000,
        jti: 'req-1',
        htm: 'POST',
        htp: '/v1/org/org_1/invoices?draft=1',
        identity,
      })
    })

    it('signs every request afresh and leaves the cached unbound path as it was', async () => {
      // EdDSA signatures are deterministic: equal input would give an equal assertion, so a reuse would show.
      const keys = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile: path.join(dir, 'bound-fresh.json') })
      const signer = createAssertionSigner({ keys, algorithm: 'EdDSA', ...base })
      assert.equal(signer.bindsRequests, false)
      signer.sign(identity, identity, T0 - 1000)
      const unbound = signer.sign(identity, identity, T0)
      const first = signer.signBound(identity, binding, T0)
      const second = signer.signBound(identity, { ...binding, requestId: 'req-2' }, T0)
      const other = signer.signBound(identity, { ...binding, method: 'DELETE' }, T0)
      assert.equal(new Set([unbound, first, second, other]).size, 4)
      const jwks = createLocalJWKSet(keys.jwks())
      assert.deepEqual(await Promise.all([first, second, other].map(async (t) => (await jwtVerify(t, jwks, verifyAt(T0))).payload.jti)), [
        'req-1',
        'req-2',
        'req-1',
      ])
      assert.equal(signer.sign(identity, identity, T0 + 1000), unbound, 'the unbound assertion is still the cached one')
      const { payload } = await jwtVerify(unbound, jwks, verifyAt(T0))
      assert.deepEqual([payload.jti, payload.htm, payload.htp], [undefined, undefined, undefined])
    })
  })

  it('refuses keys of another algorithm', async () => {
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile: path.join(dir, 'mismatch.json') })
    assert.throws(() => createAssertionSigner({ keys, algorithm: 'ES256', ...base }), /configured algorithm is ES256/)
  })
})
