import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Hono } from 'hono'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWK } from 'jose'
import { createVerifier } from '../../src/upstream/index.ts'
import type { AssertedIdentity, Verifier } from '../../src/upstream/index.ts'
import { createReplayCache } from '../../src/upstream/replay.ts'
import * as honoMw from '../../src/upstream/hono.ts'
import type { GatehouseEnv } from '../../src/upstream/hono.ts'
import * as expressMw from '../../src/upstream/express.ts'
import type { GatehouseRequest, Middleware } from '../../src/upstream/express.ts'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'

const IDENTITY: AssertedIdentity = {
  principal: 'user',
  method: 'token',
  user: {
    userId: 'u-1',
    email: 'u1@example.com',
    firstName: 'Ada',
    lastName: 'L',
    properties: { tier: 'gold' },
    impersonatorUserId: 'u-admin',
  },
  orgs: {
    'org-1': { orgId: 'org-1', orgName: 'Acme', role: 'Admin', inheritedRoles: ['Admin', 'Member'], permissions: ['can_manage_api_keys'] },
    'org-2': { orgId: 'org-2', orgName: 'Other', role: 'Member', inheritedRoles: ['Member'], permissions: [] },
  },
  activeOrg: { orgId: 'org-1', orgName: 'Acme', role: 'Admin', inheritedRoles: ['Admin', 'Member'], permissions: ['can_manage_api_keys'] },
}

type SignOpts = {
  alg?: string
  kid?: string
  iss?: string
  aud?: string
  exp?: number
  identity?: unknown
  key?: CryptoKey | Uint8Array
  /** Extra claims, e.g. a request binding (htm, htp, jti). */
  claims?: Record<string, unknown>
}

describe('upstream SDK', () => {
  let edKey: CryptoKey
  let otherKey: CryptoKey
  let publicJwk: JWK
  let jwksServer: Server
  let jwksUrl: string
  let verifier: Verifier
  let hsVerifier: Verifier

  async function sign(o: SignOpts = {}): Promise<string> {
    const alg = o.alg ?? 'EdDSA'
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({ ...o.claims, identity: o.identity ?? IDENTITY })
      .setProtectedHeader({ alg, kid: o.kid ?? 'k1', typ: 'JWT' })
      .setIssuer(o.iss ?? 'gatehouse')
      .setAudience(o.aud ?? 'upstream')
      .setSubject('u-1')
      .setIssuedAt(now - 5)
      .setExpirationTime(o.exp ?? now + 300)
      .sign(o.key ?? (alg === 'HS256' ? new TextEncoder().encode(SECRET) : edKey))
  }

  before(async () => {
    const pair = await generateKeyPair('EdDSA', { extractable: true })
    edKey = pair.privateKey
    otherKey = (await generateKeyPair('EdDSA')).privateKey
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' }
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [publicJwk] }))
    })
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r))
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`
    verifier = createVerifier({ jwksUrl })
    hsVerifier = createVerifier({ secret: SECRET })
  })

  after(() => new Promise<void>((r) => jwksServer.close(() => r())))

  it('verifies an EdDSA assertion from the JWKS and builds the caller with helpers', async () => {
    const caller = await verifier.verify(await sign())
    assert.equal(caller.principal, 'user')
    assert.equal(caller.method, 'token')
    const user = caller.user!
    assert.equal(user.userId, 'u-1')
    assert.equal(user.email, 'u1@example.com')
    assert.deepEqual(user.properties, { tier: 'gold' })
    assert.equal(user.impersonatorUserId, 'u-admin')
    assert.equal(user.exists(), true)
    const org1 = user.getOrg('org-1')!
    assert.equal(org1.orgName, 'Acme')
    assert.equal(org1.userIsRole('Admin'), true)
    assert.equal(org1.userIsRole('Member'), false)
    assert.equal(org1.userIsAtLeastRole('Member'), true)
    assert.equal(org1.userIsAtLeastRole('Owner'), false)
    assert.equal(org1.userHasPermission('can_manage_api_keys'), true)
    assert.equal(org1.userHasAllPermissions(['can_manage_api_keys', 'can_view_billing']), false)
    assert.equal(user.getOrg('nope'), undefined)
    assert.equal(user.getOrg('__proto__'), undefined)
    assert.equal(caller.org?.orgId, 'org-1')
  })

  it('verifies HS256 with a secret, and carries API-key facts', async () => {
    const identity: AssertedIdentity = {
      principal: 'service',
      method: 'api_key',
      orgs: {},
      apiKey: { id: 'key-1', type: 'generic', scopes: ['read'], metadata: { env: 'ci' }, expiresAt: null },
    }
    const caller = await hsVerifier.verify(await sign({ alg: 'HS256', identity }))
    assert.equal(caller.user, undefined)
    assert.deepEqual(caller.apiKey, { id: 'key-1', type: 'generic', scopes: ['read'], metadata: { env: 'ci' }, expiresAt: null })
  })

  it('rejects wrong audience, issuer, expired, tampered and unknown keys', async () => {
    await assert.rejects(verifier.verify(await sign({ aud: 'someone-else' })), /invalid assertion/)
    await assert.rejects(verifier.verify(await sign({ iss: 'evil' })), /invalid assertion/)
    await assert.rejects(verifier.verify(await sign({ exp: Math.floor(Date.now() / 1000) - 60 })), /invalid assertion/)
    await assert.rejects(verifier.verify(await sign({ key: otherKey })), /invalid assertion/)
    const good = await sign()
    const [h, p, s] = good.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { identity: AssertedIdentity }
    claims.identity.user!.userId = 'u-admin'
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`
    await assert.rejects(verifier.verify(forged), /invalid assertion/)
    await assert.rejects(verifier.verify('not-a-jwt'), /invalid assertion/)
    await assert.rejects(verifier.verify(await sign({ identity: 'x' })), /no identity/)
  })

  it('pins algorithms: no HS256 against a key verifier, no EdDSA against a secret, no mixing', async () => {
    // HS256 signed with the public key's bytes (the classic alg confusion) is refused by the key verifier.
    const confusion = await sign({ alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(publicJwk)) })
    await assert.rejects(verifier.verify(confusion), /invalid assertion/)
    await assert.rejects(verifier.verify(await sign({ alg: 'HS256' })), /invalid assertion/)
    await assert.rejects(hsVerifier.verify(await sign()), /invalid assertion/)
    assert.throws(() => createVerifier({ secret: SECRET, algorithms: ['EdDSA'] }), /does not fit/)
    assert.throws(() => createVerifier({ jwksUrl, algorithms: ['HS256'] }), /does not fit/)
    assert.throws(() => createVerifier({ jwksUrl, secret: SECRET }), /exactly one/)
    assert.throws(() => createVerifier({ secret: 'short' }), /32 bytes/)
  })

  it('accepts a JWK as publicKey and reads the header from plain records', async () => {
    const v = createVerifier({ publicKey: publicJwk })
    const token = await sign()
    assert.equal((await v.fromHeaders({ 'X-Gatehouse-Assertion': token }))?.user?.userId, 'u-1')
    assert.equal(await v.fromHeaders({ 'x-gatehouse-user-id': 'u-1' }), undefined)
    assert.equal((await v.fromHeaders(new Headers({ 'x-gatehouse-assertion': token })))?.user?.userId, 'u-1')
  })

  describe('assertions bound to a request', () => {
    const bound = (htm: string, htp: string, jti: string = randomUUID()) => sign({ claims: { htm, htp, jti } })

    it('accepts a bound assertion for its own method and path, and refuses it for another', async () => {
      const token = await bound('POST', '/org/org-1/invoices?draft=1')
      assert.equal((await verifier.verify(token, { method: 'POST', path: '/org/org-1/invoices?draft=1' })).user?.userId, 'u-1')
      // A full URL (what Request.url gives) is compared by its path and query.
      assert.ok(await verifier.verify(token, { method: 'POST', path: 'http://127.0.0.1:3000/org/org-1/invoices?draft=1' }))
      await assert.rejects(verifier.verify(token, { method: 'DELETE', path: '/org/org-1/invoices?draft=1' }), /bound to POST, not DELETE/)
      await assert.rejects(verifier.verify(token, { method: 'POST', path: '/org/org-2/invoices?draft=1' }), /bound to another path/)
      await assert.rejects(verifier.verify(token, { method: 'POST', path: '/org/org-1/invoices' }), /bound to another path/)
      await assert.rejects(verifier.verify(token, { method: 'POST', path: '//org/org-1/invoices?draft=1' }), /bound to another path/)
      await assert.rejects(verifier.verify(token), /no request was given/)
    })

    it('refuses a partial binding, and an unbound assertion when requireBinding is set', async () => {
      const partial = await sign({ claims: { htm: 'GET', htp: '/me' } })
      await assert.rejects(verifier.verify(partial, { method: 'GET', path: '/me' }), /incomplete request binding/)
      const strict = createVerifier({ jwksUrl, requireBinding: true })
      await assert.rejects(strict.verify(await sign(), { method: 'GET', path: '/me' }), /not bound to a request/)
      assert.ok(await strict.verify(await bound('GET', '/me'), { method: 'GET', path: '/me' }))
    })

    it('with a replay cache, accepts each jti once', async () => {
      const once = createVerifier({ jwksUrl, replayCache: true })
      const request = { method: 'GET', path: '/me' }
      const token = await bound('GET', '/me', 'req-42')
      assert.ok(await once.verify(token, request))
      await assert.rejects(once.verify(token, request), /already used/)
      // Another assertion of the same request id is the same request played again.
      await assert.rejects(once.verify(await bound('GET', '/me', 'req-42'), request), /already used/)
      assert.ok(await once.verify(await bound('GET', '/me', 'req-43'), request))
      // Without the cache a valid bound assertion may be presented again until it expires.
      assert.ok(await verifier.verify(token, request))
      assert.ok(await verifier.verify(token, request))
    })

    it('the replay cache forgets expired entries first and stays within its bound', () => {
      const cache = createReplayCache(2)
      assert.equal(cache.claim('a', 1_000, 0), true)
      assert.equal(cache.claim('a', 1_000, 999), false)
      assert.equal(cache.claim('b', 2_000, 999), true)
      // Full of live entries: the oldest is forgotten to make room.
      assert.equal(cache.claim('c', 3_000, 999), true)
      assert.equal(cache.claim('a', 3_000, 999), true)
      assert.equal(cache.claim('c', 3_000, 999), false)
      // Expired: a jti is accepted again only once its assertion could not verify any more.
      assert.equal(cache.claim('c', 4_000, 3_000), true)
    })

    it('the Hono and Express middleware check the binding against the request they serve', async () => {
      const app = new Hono<GatehouseEnv>()
      app.post('/org/:org_id/admin', honoMw.requireOrgMember(verifier, { minRole: 'Admin' }), (c) =>
        c.json({ org: c.get('currentOrg')!.orgId }),
      )
      app.get('/search', honoMw.requireUser(verifier), (c) => c.json({ q: c.req.query('q') }))
      const post = { 'x-gatehouse-assertion': await bound('POST', '/org/org-1/admin') }
      assert.deepEqual(await (await app.request('/org/org-1/admin', { method: 'POST', headers: post })).json(), { org: 'org-1' })
      assert.equal((await app.request('/org/org-1/admin?x=1', { method: 'POST', headers: post })).status, 401)
      // A query as gatehouse forwards it (raw "), which Request.url percent-encodes.
      const search = { 'x-gatehouse-assertion': await bound('GET', '/search?q="a"') }
      assert.equal((await app.request('http://localhost/search?q="a"', { headers: search })).status, 200)
      assert.equal((await app.request('http://localhost/search?q=b', { headers: search })).status, 401)

      const server = createServer((req: GatehouseRequest, res) => {
        // As Express does under app.use('/api', router): the router sees the stripped url.
        req.originalUrl = req.url
        req.url = req.url!.replace(/^\/api/, '')
        expressMw.requireUser(verifier)(req, res, () => res.end(JSON.stringify({ user: req.currentUser!.userId })))
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
        const headers = { 'x-gatehouse-assertion': await bound('GET', '/api/me') }
        assert.deepEqual(await (await fetch(`${url}/api/me`, { headers })).json(), { user: 'u-1' })
        assert.equal((await fetch(`${url}/api/other`, { headers })).status, 401)
        assert.equal((await fetch(`${url}/api/me`, { method: 'DELETE', headers })).status, 401)
      } finally {
        await new Promise<void>((r) => server.close(() => r()))
      }
    })
  })

  describe('Hono middleware', () => {
    function app() {
      const a = new Hono<GatehouseEnv>()
      a.get('/me', honoMw.requireUser(verifier), (c) => c.json({ userId: c.get('currentUser')!.userId }))
      a.get('/maybe', honoMw.optionalUser(verifier), (c) => c.json({ userId: c.get('currentUser')?.userId ?? null }))
      a.get('/org/:org_id/admin', honoMw.requireOrgMember(verifier, { minRole: 'Admin' }), (c) =>
        c.json({ org: c.get('currentOrg')!.orgId }),
      )
      a.get('/org/:org_id/billing', honoMw.requireOrgMember(verifier, { permission: 'can_view_billing' }), (c) => c.json({}))
      a.get('/active', honoMw.requireOrgMember(verifier, { role: 'Admin' }), (c) => c.json({ org: c.get('currentOrg')!.orgId }))
      return a
    }

    it('401 without or with an invalid assertion, even with forged plain headers', async () => {
      const res = await app().request('/me', { headers: { 'x-gatehouse-user-id': 'u-1', 'x-gatehouse-principal': 'user' } })
      assert.equal(res.status, 401)
      assert.equal(res.headers.get('content-type'), 'application/problem+json')
      assert.equal(((await res.json()) as { status: number }).status, 401)
      assert.equal((await app().request('/me', { headers: { 'x-gatehouse-assertion': await sign({ aud: 'x' }) } })).status, 401)
      assert.equal((await app().request('/maybe', { headers: { 'x-gatehouse-assertion': 'garbage' } })).status, 401)
      assert.equal((await app().request('/org/org-1/admin')).status, 401)
    })

    it('200 with the user; optionalUser without an assertion; 403 when not enough', async () => {
      const headers = { 'x-gatehouse-assertion': await sign() }
      assert.deepEqual(await (await app().request('/me', { headers })).json(), { userId: 'u-1' })
      assert.deepEqual(await (await app().request('/maybe')).json(), { userId: null })
      assert.deepEqual(await (await app().request('/org/org-1/admin', { headers })).json(), { org: 'org-1' })
      assert.deepEqual(await (await app().request('/active', { headers })).json(), { org: 'org-1' })
      assert.equal((await app().request('/org/org-2/admin', { headers })).status, 403)
      assert.equal((await app().request('/org/org-9/admin', { headers })).status, 403)
      assert.equal((await app().request('/org/org-1/billing', { headers })).status, 403)
    })
  })

  describe('Express/connect middleware on node:http', () => {
    let server: Server
    let base: string

    function run(mws: Middleware[], req: GatehouseRequest, res: ServerResponse, done: () => void) {
      let i = 0
      const next = (err?: unknown) => {
        if (err) {
          res.writeHead(500).end()
          return
        }
        const mw = mws[i++]
        if (mw) mw(req, res, next)
        else done()
      }
      next()
    }

    before(async () => {
      server = createServer((req: GatehouseRequest, res) => {
        const m = /^\/org\/([^/]+)\/admin$/.exec(req.url ?? '')
        if (m) {
          req.params = { org_id: m[1] }
          run([expressMw.requireOrgMember(verifier, { minRole: 'Admin' })], req, res, () => {
            res.end(JSON.stringify({ user: req.currentUser!.userId, org: req.currentOrg!.orgId }))
          })
        } else if (req.url === '/maybe') {
          run([expressMw.optionalUser(verifier)], req, res, () => res.end(JSON.stringify({ user: req.currentUser?.userId ?? null })))
        } else {
          run([expressMw.requireUser(verifier)], req, res, () => res.end(JSON.stringify({ user: req.currentUser!.userId })))
        }
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })

    after(() => new Promise<void>((r) => server.close(() => r())))

    it('401 / 200 / 403', async () => {
      const token = await sign()
      const forged = await fetch(`${base}/me`, { headers: { 'x-gatehouse-user-id': 'u-1' } })
      assert.equal(forged.status, 401)
      assert.equal(forged.headers.get('content-type'), 'application/problem+json')
      assert.equal((await fetch(`${base}/me`, { headers: { 'x-gatehouse-assertion': 'bad' } })).status, 401)
      assert.deepEqual(await (await fetch(`${base}/me`, { headers: { 'x-gatehouse-assertion': token } })).json(), { user: 'u-1' })
      assert.deepEqual(await (await fetch(`${base}/maybe`)).json(), { user: null })
      assert.deepEqual(await (await fetch(`${base}/org/org-1/admin`, { headers: { 'x-gatehouse-assertion': token } })).json(), {
        user: 'u-1',
        org: 'org-1',
      })
      assert.equal((await fetch(`${base}/org/org-2/admin`, { headers: { 'x-gatehouse-assertion': token } })).status, 403)
    })
  })
})
