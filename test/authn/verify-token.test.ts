import assert from 'node:assert/strict'
import nodeCrypto from 'node:crypto'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { SignJWT } from 'jose'
import { createTokenVerifier, InvalidTokenError, KeySourceUnavailableError } from '../../src/authn/index.ts'
import { VERIFIED_BY } from '../../src/identity/index.ts'
import type { TokenVerifier } from '../../src/authn/index.ts'
import type { IssuerConfig } from '../../src/config/index.ts'
import {
  createKey,
  eventually,
  ISSUER,
  issuerConfig,
  nowSeconds,
  pemOf,
  ROLES,
  sign,
  sleep,
  startJwksServer,
  unsignedToken,
} from './fixtures.ts'

const es = await createKey('ES256', 'es-1')
const es2 = await createKey('ES256', 'es-2')
const rs = await createKey('RS256', 'rs-1')

type SetupOptions = {
  issuer?: Partial<IssuerConfig>
  cooldownMs?: number
  timeoutMs?: number
  leewayMs?: number
  waitReady?: boolean
}

async function setup(t: TestContext, keys = [es, rs], options: SetupOptions = {}) {
  const server = await startJwksServer(keys.map((k) => k.jwk))
  const verifier = await createTokenVerifier({
    issuers: [issuerConfig({ jwksUrl: new URL(server.url), ...options.issuer })],
    leewayMs: options.leewayMs ?? 60_000,
    cache: { maxEntries: 100, ttlMs: 60_000 },
    jwks: { cooldownMs: options.cooldownMs ?? 0, refreshMs: 600_000, timeoutMs: options.timeoutMs ?? 1000 },
    roles: ROLES,
    configDir: '.',
  })
  t.after(async () => {
    verifier.close()
    await server.close()
  })
  if (options.waitReady ?? true) await eventually(() => verifier.ready())
  return { server, verifier }
}

async function rejectsInvalid(verifier: TokenVerifier, token: string, reason?: RegExp): Promise<void> {
  await assert.rejects(
    async () => verifier.verify(token),
    (error: unknown) => {
      assert.ok(error instanceof InvalidTokenError, `expected InvalidTokenError, got ${String(error)}`)
      assert.equal(error.status, 401)
      if (token) assert.equal(`${error.message} ${error.reason}`.includes(token), false)
      if (reason) assert.match(error.reason, reason)
      return true
    },
  )
}

/** Resolves with the Retry-After seconds the rejection carries. */
async function rejectsUnavailable(verifier: TokenVerifier, token: string): Promise<number> {
  let retryAfter = Number.NaN
  await assert.rejects(
    async () => verifier.verify(token),
    (error: unknown) => {
      assert.ok(error instanceof KeySourceUnavailableError, `expected KeySourceUnavailableError, got ${String(error)}`)
      assert.equal(error.status, 503)
      retryAfter = Number(error.headers['retry-after'])
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${error.headers['retry-after']}`)
      return true
    },
  )
  return retryAfter
}

test('valid ES256 and RS256 tokens verify into an Identity', async (t) => {
  const { verifier } = await setup(t)
  for (const key of [es, rs]) {
    const identity = await verifier.verify(
      await sign(key, {
        user_id: `user-${key.alg}`,
        email: 'a@b.com',
        org_id_to_org_member_info: { o: { org_id: 'o', org_name: 'O', user_role: 'Admin', user_permissions: ['read'] } },
      }),
    )
    assert.equal(identity.principal, 'user')
    assert.equal(identity.method, 'token')
    assert.equal(identity.user?.userId, `user-${key.alg}`)
    assert.equal(identity.user?.email, 'a@b.com')
    assert.deepEqual(identity.orgs.o?.inheritedRoles, ['Admin', 'Member'])
  }
})

test('unsigned, HMAC-confused and unpinned-algorithm tokens are rejected', async (t) => {
  const { server, verifier } = await setup(t, [es, rs], { issuer: { algorithms: ['RS256'] } })
  const claims = { iss: ISSUER, user_id: 'user-1', exp: nowSeconds() + 600 }
  await rejectsInvalid(verifier, unsignedToken(claims))
  // The RSA public key is public: a token HMAC-signed with its PEM as secret must not pass as RS256.
  const pem = new TextEncoder().encode(await pemOf(rs))
  await rejectsInvalid(verifier, await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: rs.kid }).sign(pem))
  await rejectsInvalid(verifier, await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(pem))
  // ES256 is a good algorithm with a key in the set, but not one pinned for this issuer.
  const fetches = server.state.fetches
  await rejectsInvalid(verifier, await sign(es), /ALG_NOT_ALLOWED/)
  assert.equal(server.state.fetches, fetches, 'an unpinned algorithm triggers no refetch')
  await verifier.verify(await sign(rs))
})

test('malformed tokens are rejected', async (t) => {
  const { verifier } = await setup(t)
  const good = await sign(es)
  const [header, payload] = good.split('.')
  for (const token of [
    '',
    'x',
    'a.b.c',
    `${header}.${payload}`,
    `${header}.${payload}.AAAA`,
    `${good}.x.y`,
    `${header}.bm90IGpzb24.AAAA`,
  ]) {
    await rejectsInvalid(verifier, token)
  }
})

test('a token from an issuer that is not configured, or with a foreign signature, is rejected', async (t) => {
  const { verifier } = await setup(t)
  await rejectsInvalid(verifier, await sign(es, { iss: 'https://evil.example.com' }), /iss/)
  await rejectsInvalid(verifier, await sign(es, { iss: undefined }))
  const impostor = await createKey('ES256', es.kid)
  await rejectsInvalid(verifier, await sign(impostor), /SIGNATURE/)
})

test('the audience is checked when configured', async (t) => {
  const { verifier } = await setup(t, [es], { issuer: { audience: 'api://gatehouse' } })
  await rejectsInvalid(verifier, await sign(es, { aud: 'api://other' }))
  await rejectsInvalid(verifier, await sign(es))
  await verifier.verify(await sign(es, { aud: 'api://gatehouse' }))
  await verifier.verify(await sign(es, { aud: ['api://other', 'api://gatehouse'] }))
})

test('exp and nbf are honoured with the leeway, and exp is required', async (t) => {
  const { verifier } = await setup(t, [es], { leewayMs: 60_000 })
  await rejectsInvalid(verifier, await sign(es, { exp: nowSeconds() - 120 }), /EXPIRED/)
  await verifier.verify(await sign(es, { exp: nowSeconds() - 30 }))
  await rejectsInvalid(verifier, await sign(es, { nbf: nowSeconds() + 120 }))
  await verifier.verify(await sign(es, { nbf: nowSeconds() + 30 }))
  await rejectsInvalid(verifier, await sign(es, { exp: undefined }), /exp/)
  await rejectsInvalid(verifier, await sign(es, { exp: String(nowSeconds() + 600) as unknown as number }))
})

test('iat is honoured with the leeway; a token without iat is accepted', async (t) => {
  const { verifier } = await setup(t, [es], { leewayMs: 60_000 })
  await rejectsInvalid(verifier, await sign(es, { iat: nowSeconds() + 120 }), /iat is 1\d\d s in the future/)
  await verifier.verify(await sign(es, { iat: nowSeconds() + 30 }))
  await verifier.verify(await sign(es, { iat: undefined }))
})

test('token_type access refuses ID tokens; without it any typ passes', async (t) => {
  const strict = await setup(t, [es], { issuer: { tokenType: 'access' } })
  await strict.verifier.verify(await sign(es, {}, { typ: 'at+jwt' }))
  await strict.verifier.verify(await sign(es, {}, { typ: 'JWT' }))
  await rejectsInvalid(strict.verifier, await sign(es, {}, { typ: 'id+jwt' }), /typ/)
  await rejectsInvalid(strict.verifier, await sign(es), /typ \(absent\)/)
  await rejectsInvalid(strict.verifier, await sign(es, { nonce: 'n-0S6' }, { typ: 'JWT' }), /nonce/)
  const lax = await setup(t, [es])
  await lax.verifier.verify(await sign(es, { nonce: 'n-0S6' }, { typ: 'id+jwt' }))
})

test('the identity carries the name of the issuer that verified it, out of its JSON', async (t) => {
  const named = await setup(t, [es], { issuer: { name: 'corp' } })
  const identity = await named.verifier.verify(await sign(es))
  assert.equal(identity[VERIFIED_BY], 'corp')
  assert.equal(JSON.stringify(identity).includes('corp'), false)
  assert.equal({ ...identity }[VERIFIED_BY], 'corp', 'a derived copy keeps it')
  const unnamed = await setup(t, [es])
  assert.equal((await unnamed.verifier.verify(await sign(es)))[VERIFIED_BY], undefined)
})

test('an unknown kid refetches the JWKS: a rotated-in key verifies, a rotated-out key no longer does', async (t) => {
  const { server, verifier } = await setup(t, [es])
  await verifier.verify(await sign(es))
  assert.equal(server.state.fetches, 1)
  server.state.keys = [es2.jwk]
  await verifier.verify(await sign(es2))
  assert.equal(server.state.fetches, 2)
  await rejectsInvalid(verifier, await sign(es, { user_id: 'user-2' }), /no key/)
  assert.equal(server.state.fetches, 3)
})

test('refetches on unknown kids are limited to one per cooldown and shared by concurrent requests', async (t) => {
  const cooldownMs = 1200
  const { server, verifier } = await setup(t, [es], { cooldownMs })
  const ghost = await createKey('ES256', 'ghost')
  await sleep(cooldownMs + 50)
  // Signed first, so that all five arrive together: one signed after the fetch finished would
  // arrive inside the cooldown, where an unknown kid is (rightly) 503, not 401.
  const ghosts = await Promise.all(Array.from({ length: 5 }, (_, i) => sign(ghost, { user_id: `g${i}` })))
  await Promise.all(ghosts.map((token) => rejectsInvalid(verifier, token)))
  assert.equal(server.state.fetches, 2, 'concurrent unknown kids share one fetch')
  server.state.keys = [es.jwk, es2.jwk]
  const rotated = await sign(es2)
  // Within the cooldown an unknown kid may be a key published since the last fetch: try again, not 401.
  const retryAfter = await rejectsUnavailable(verifier, rotated)
  assert.ok(retryAfter >= 1 && retryAfter <= Math.ceil(cooldownMs / 1000), `Retry-After ${retryAfter}`)
  const randomKids = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(ghost, { user_id: `r${i}` }, { kid: `random-${i}` })))
  await Promise.all(randomKids.map((token) => rejectsUnavailable(verifier, token)))
  assert.equal(server.state.fetches, 2, 'no fetch within the cooldown, whatever the kids')
  await sleep(cooldownMs + 50)
  await Promise.all([verifier.verify(rotated), ...randomKids.map((token) => rejectsInvalid(verifier, token))])
  assert.equal(server.state.fetches, 3, 'after the cooldown, one fetch for all of them')
})

test('with the JWKS unreachable, known kids still verify and unknown kids get 503', async (t) => {
  const { server, verifier } = await setup(t, [es])
  await server.close()
  await verifier.verify(await sign(es, { user_id: 'after-outage' }))
  await rejectsUnavailable(verifier, await sign(es2))
})

for (const mode of ['error', 'garbage', 'hang'] as const) {
  test(`a JWKS that answers ${mode} is a key source outage, and recovery follows`, async (t) => {
    const { server, verifier } = await setup(t, [es], { timeoutMs: 200 })
    server.state.mode = mode
    server.state.keys = [es.jwk, es2.jwk]
    const token = await sign(es2)
    const started = Date.now()
    await rejectsUnavailable(verifier, token)
    assert.ok(Date.now() - started < 1000, 'bounded by the fetch timeout')
    await verifier.verify(await sign(es))
    server.state.mode = 'ok'
    await verifier.verify(token)
    assert.equal(verifier.ready(), true)
  })
}

test('an issuer whose JWKS has never been fetched is not ready and answers 503', async (t) => {
  const { server, verifier } = await setup(t, [es], { waitReady: false })
  server.state.mode = 'error'
  await eventually(() => server.state.fetches >= 1)
  await sleep(20)
  assert.equal(verifier.ready(), false)
  await rejectsUnavailable(verifier, await sign(es))
})

test('a token without kid matches only when exactly one key of its type is in the set', async (t) => {
  const one = await setup(t, [es, rs])
  await one.verifier.verify(await sign(es, {}, { kid: undefined }))
  await one.verifier.verify(await sign(rs, {}, { kid: undefined }))
  const two = await setup(t, [es, es2])
  await rejectsInvalid(two.verifier, await sign(es, {}, { kid: undefined }))
})

test('keys marked for encryption are not used to verify', async (t) => {
  const server = await startJwksServer([{ ...es.jwk, use: 'enc' }, rs.jwk])
  const verifier = await createTokenVerifier({
    issuers: [issuerConfig({ jwksUrl: new URL(server.url) })],
    leewayMs: 0,
    cache: { maxEntries: 10, ttlMs: 60_000 },
    jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
    roles: ROLES,
    configDir: '.',
  })
  t.after(async () => {
    verifier.close()
    await server.close()
  })
  await eventually(() => verifier.ready())
  await rejectsInvalid(verifier, await sign(es))
  await verifier.verify(await sign(rs))
})

test('a cached token costs no crypto, and the cache never outlives the token', async (t) => {
  const { server, verifier } = await setup(t, [es], { leewayMs: 0 })
  const signatureChecks = t.mock.method(nodeCrypto, 'verify')
  const token = await sign(es, { exp: nowSeconds() + 2 })
  const first = await verifier.verify(token)
  assert.equal(signatureChecks.mock.callCount(), 1)
  await server.close()
  assert.deepEqual(await verifier.verify(token), first)
  assert.equal(signatureChecks.mock.callCount(), 1, 'served from the cache')

  // Same signature, another payload: only a cache keyed on the whole token refuses this without crypto.
  const [header, , signature] = token.split('.')
  const forged = Buffer.from(JSON.stringify({ iss: ISSUER, user_id: 'admin', exp: nowSeconds() + 600 })).toString('base64url')
  await rejectsInvalid(verifier, `${header}.${forged}.${signature}`)

  const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number
  await sleep(exp * 1000 - Date.now() + 50)
  await rejectsInvalid(verifier, token, /EXPIRED/)
  assert.equal(signatureChecks.mock.callCount(), 3, 'verified again, not served from the cache')
})

test('verifyAfresh verifies with crypto every time and leaves the cache as it was', async (t) => {
  const { verifier } = await setup(t, [es])
  const signatureChecks = t.mock.method(nodeCrypto, 'verify')
  const token = await sign(es, {})
  const afresh = await verifier.verifyAfresh(token)
  await verifier.verifyAfresh(token)
  assert.equal(signatureChecks.mock.callCount(), 2)
  const verified = verifier.verify(token)
  assert.ok(verified instanceof Promise, 'not cached by verifyAfresh')
  assert.deepEqual(await verified, afresh)
  assert.equal(signatureChecks.mock.callCount(), 3)
  assert.ok(!(verifier.verify(token) instanceof Promise), 'cached by verify')
})

test('evictUser drops every cached token of that user only', async (t) => {
  const { verifier } = await setup(t, [es])
  const signatureChecks = t.mock.method(nodeCrypto, 'verify')
  const tokens = [await sign(es, { user_id: 'u1' }), await sign(es, { user_id: 'u1', email: 'x@y.z' }), await sign(es, { user_id: 'u2' })]
  for (const token of tokens) await verifier.verify(token)
  assert.equal(signatureChecks.mock.callCount(), 3)
  verifier.evictUser('u1')
  verifier.evictUser('nobody')
  for (const token of tokens) await verifier.verify(token)
  assert.equal(signatureChecks.mock.callCount(), 5)
  for (const token of tokens) await verifier.verify(token)
  assert.equal(signatureChecks.mock.callCount(), 5)

  // A verification already under way when the user is evicted must not re-cache them.
  const racing = await sign(es, { user_id: 'u3' })
  const pending = verifier.verify(racing)
  verifier.evictUser('u3')
  await pending
  await verifier.verify(racing)
  assert.equal(signatureChecks.mock.callCount(), 7)
})

test('the cached Identity is shared and frozen: a later stage cannot change it', async (t) => {
  const { verifier } = await setup(t, [es])
  const token = await sign(es, { org_id_to_org_member_info: { o: { org_id: 'o', org_name: 'O', user_role: 'Member' } } })
  const first = await verifier.verify(token)
  assert.throws(() => {
    first.activeOrg = first.orgs.o
  }, TypeError)
  const second = await verifier.verify(token)
  assert.equal(second, first)
  assert.equal(second.activeOrg, undefined)
  assert.throws(() => (second.orgs.o!.permissions as string[]).push('admin'), TypeError)
  assert.throws(() => {
    second.orgs.x = second.orgs.o!
  }, TypeError)
})

test("the issuer is chosen by iss; a token cannot borrow another issuer's keys", async (t) => {
  const server = await startJwksServer([es.jwk])
  const verifier = await createTokenVerifier({
    issuers: [
      issuerConfig({ jwksUrl: new URL(server.url) }),
      issuerConfig({ issuer: 'https://oidc.example.com', publicKey: await pemOf(rs), algorithms: ['RS256'], claims: 'oidc' }),
    ],
    leewayMs: 0,
    cache: { maxEntries: 10, ttlMs: 60_000 },
    jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
    roles: ROLES,
    configDir: '.',
  })
  t.after(async () => {
    verifier.close()
    await server.close()
  })
  await eventually(() => verifier.ready())
  const oidcIdentity = await verifier.verify(await sign(rs, { iss: 'https://oidc.example.com', sub: 'oidc-user' }))
  assert.equal(oidcIdentity.user?.userId, 'oidc-user')
  await rejectsInvalid(verifier, await sign(es, { iss: 'https://oidc.example.com', sub: 'oidc-user' }))
  await rejectsInvalid(verifier, await sign(rs, { iss: ISSUER }))
})

test('an issuer configured twice is a configuration error', async () => {
  await assert.rejects(
    createTokenVerifier({
      issuers: [
        issuerConfig({ publicKey: await pemOf(es), algorithms: ['ES256'] }),
        issuerConfig({ publicKey: await pemOf(rs), algorithms: ['RS256'] }),
      ],
      leewayMs: 0,
      cache: { maxEntries: 10, ttlMs: 60_000 },
      jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
      roles: ROLES,
      configDir: '.',
    }),
    /configured more than once/,
  )
})
