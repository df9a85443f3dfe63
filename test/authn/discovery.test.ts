import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { createTokenVerifier, InvalidTokenError, KeySourceUnavailableError } from '../../src/authn/index.ts'
import { createKey, eventually, issuerConfig, ROLES, sign } from './fixtures.ts'

type Routes = Record<string, () => { status: number; body?: unknown }>

/** A real HTTP server on loopback answering each path from `routes` (404 for any other), counting requests per path. */
async function startProvider(t: TestContext, routes: Routes) {
  const hits = new Map<string, number>()
  const server = createServer((req, res) => {
    const path = req.url!.split('?')[0]!
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const route = routes[path]
    if (!route) return void res.writeHead(404, { connection: 'close' }).end()
    const { status, body } = route()
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(body === undefined ? '' : JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { origin, hits }
}

async function verifierFor(t: TestContext, issuer: string) {
  const verifier = await createTokenVerifier({
    issuers: [issuerConfig({ issuer, discovery: true, algorithms: ['ES256'], claims: 'oidc' })],
    leewayMs: 0,
    cache: { maxEntries: 10, ttlMs: 60_000 },
    jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
    roles: ROLES,
    configDir: '.',
  })
  t.after(() => verifier.close())
  return verifier
}

const key = await createKey('ES256', 'disc-1')
const rotated = await createKey('ES256', 'disc-2')

test('an issuer with a path: OIDC discovery appends to it; the JWKS comes from jwks_uri', async (t) => {
  let origin = ''
  const provider = await startProvider(t, {
    '/tenant/a/.well-known/openid-configuration': () => ({
      status: 200,
      body: { issuer: `${origin}/tenant/a`, jwks_uri: `${origin}/keys` },
    }),
    '/keys': () => ({ status: 200, body: { keys: [key.jwk] } }),
  })
  origin = provider.origin
  const verifier = await verifierFor(t, `${origin}/tenant/a`)
  const identity = await verifier.verify(await sign(key, { iss: `${origin}/tenant/a`, sub: 'u-1' }))
  assert.equal(identity.user?.userId, 'u-1')
  assert.equal(verifier.ready(), true)
  assert.deepEqual(verifier.unready(), [])
})

test('RFC 8414 fallback: /.well-known/oauth-authorization-server inserted before the issuer path when OIDC discovery is 404', async (t) => {
  let origin = ''
  const provider = await startProvider(t, {
    '/.well-known/oauth-authorization-server/realm': () => ({
      status: 200,
      body: { issuer: `${origin}/realm`, jwks_uri: `${origin}/jwks` },
    }),
    '/jwks': () => ({ status: 200, body: { keys: [key.jwk] } }),
  })
  origin = provider.origin
  const verifier = await verifierFor(t, `${origin}/realm`)
  assert.equal((await verifier.verify(await sign(key, { iss: `${origin}/realm`, sub: 'u-2' }))).user?.userId, 'u-2')
  assert.equal(provider.hits.get('/realm/.well-known/openid-configuration'), 1)
})

test('a document naming another issuer is refused: 503 (never 401, never its keys), and unready names the issuer and why', async (t) => {
  let origin = ''
  const provider = await startProvider(t, {
    '/.well-known/openid-configuration': () => ({ status: 200, body: { issuer: 'https://evil.example', jwks_uri: `${origin}/jwks` } }),
    '/jwks': () => ({ status: 200, body: { keys: [key.jwk] } }),
  })
  origin = provider.origin
  const verifier = await verifierFor(t, origin)
  await assert.rejects(async () => verifier.verify(await sign(key, { iss: origin, sub: 'u' })), KeySourceUnavailableError)
  assert.equal(provider.hits.get('/jwks'), undefined, 'the keys of a mismatched document are never fetched')
  assert.equal(verifier.ready(), false)
  const [unready] = verifier.unready()
  assert.equal(unready?.issuer, origin)
  assert.match(unready?.error ?? '', /names "https:\/\/evil\.example", not the configured issuer/)
})

test('issuer compared exactly: a trailing slash the config does not have is a mismatch', async (t) => {
  let origin = ''
  const provider = await startProvider(t, {
    '/.well-known/openid-configuration': () => ({ status: 200, body: { issuer: `${origin}/`, jwks_uri: `${origin}/jwks` } }),
  })
  origin = provider.origin
  const verifier = await verifierFor(t, origin)
  await assert.rejects(async () => verifier.verify(await sign(key, { iss: origin, sub: 'u' })), KeySourceUnavailableError)
  assert.match(verifier.unready()[0]?.error ?? '', /not the configured issuer/)
})

test('a document without jwks_uri, not a JSON object, or a 500, is an outage (503), and is retried', async (t) => {
  let answer: { status: number; body?: unknown } = { status: 500 }
  const { origin } = await startProvider(t, {
    '/.well-known/openid-configuration': () => answer,
    '/jwks': () => ({ status: 200, body: { keys: [key.jwk] } }),
  })
  const verifier = await verifierFor(t, origin)
  const token = await sign(key, { iss: origin, sub: 'u' })
  await assert.rejects(async () => verifier.verify(token), KeySourceUnavailableError)
  assert.match(verifier.unready()[0]?.error ?? '', /HTTP 500/)
  answer = { status: 200, body: ['not', 'an', 'object'] }
  await assert.rejects(async () => verifier.verify(token), KeySourceUnavailableError)
  assert.match(verifier.unready()[0]?.error ?? '', /is not a JSON object/)
  answer = { status: 200, body: { issuer: origin } }
  await assert.rejects(async () => verifier.verify(token), KeySourceUnavailableError)
  assert.match(verifier.unready()[0]?.error ?? '', /has no jwks_uri/)
  answer = { status: 200, body: { issuer: origin, jwks_uri: `${origin}/jwks` } }
  assert.equal((await verifier.verify(token)).user?.userId, 'u')
})

test('a new jwks_uri at a later discovery replaces the key source; an unknown kid there is 401 only after that fetch', async (t) => {
  let jwksPath = '/jwks-1'
  let origin = ''
  const provider = await startProvider(t, {
    '/.well-known/openid-configuration': () => ({ status: 200, body: { issuer: origin, jwks_uri: `${origin}${jwksPath}` } }),
    '/jwks-1': () => ({ status: 200, body: { keys: [key.jwk] } }),
    '/jwks-2': () => ({ status: 200, body: { keys: [rotated.jwk, key.jwk] } }),
  })
  origin = provider.origin
  const verifier = await createTokenVerifier({
    issuers: [issuerConfig({ issuer: origin, discovery: true, algorithms: ['ES256'], claims: 'oidc' })],
    leewayMs: 0,
    cache: { maxEntries: 10, ttlMs: 60_000 },
    // The shortest refresh period: discovery runs again within about a second.
    jwks: { cooldownMs: 0, refreshMs: 1000, timeoutMs: 1000 },
    roles: ROLES,
    configDir: '.',
  })
  t.after(() => verifier.close())
  await eventually(() => verifier.ready())
  await assert.rejects(async () => verifier.verify(await sign(rotated, { iss: origin, sub: 'u' })), InvalidTokenError)
  jwksPath = '/jwks-2'
  await eventually(() => (provider.hits.get('/jwks-2') ?? 0) > 0, 3000)
  assert.equal((await verifier.verify(await sign(rotated, { iss: origin, sub: 'u-rotated' }))).user?.userId, 'u-rotated')
  assert.equal((await verifier.verify(await sign(key, { iss: origin, sub: 'u-old' }))).user?.userId, 'u-old')
})
