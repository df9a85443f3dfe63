import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Hono } from 'hono'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWK } from 'jose'
import { createVerifier } from '../../src/upstream/index.ts'
import type { AssertedIdentity, Verifier } from '../../src/upstream/index.ts'
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

type SignOpts = { alg?: string; kid?: string; iss?: string; aud?: string; exp?: number; identity?: unknown; key?: CryptoKey | Uint8Array }

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
    return new SignJWT({ identity: o.identity ?? IDENTITY })
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
