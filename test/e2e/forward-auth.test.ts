import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { rawRequest } from '../support/http.ts'
import { startCaddy, startNginx } from '../support/ingress.ts'
import type { Ingress } from '../support/ingress.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { installedBinary } from '../support/services.ts'

const nginx = installedBinary('nginx', '/usr/sbin/nginx', 'nginx-light')
const caddy = installedBinary('caddy', '/usr/bin/caddy')

type Seen = { method: string; url: string; headers: IncomingHttpHeaders; body: string }

/** A real upstream that the ingress proxies to directly: records method, target, headers and body. */
async function startRecordingUpstream(): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ served: req.url }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  }
}

const ADMIN_KEY = 'forward-auth-admin-key-0123'

const ROUTES = [
  { path: '/limited', auth: 'user', rate_limit: '2/1m' },
  { path: '/org/:org_id/admin', auth: 'org_member', role: 'Admin' },
  { path: '/api/*', auth: 'user' },
  { path: '/public/*', auth: 'none' },
  // Catches everything else: a reserved path that reached the route table would be proxied here.
  { path: '/*', auth: 'none' },
]

/** The identity headers present in `headers`, lower-cased name to value. */
function identityHeaders(headers: Headers | IncomingHttpHeaders): Record<string, string> {
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers).map(([k, v]) => [k, String(v)] as const)
  return Object.fromEntries(entries.filter(([name]) => name.toLowerCase().startsWith('x-gatehouse-') && name !== 'x-gatehouse-assertion'))
}

function expectedUser(userId: string): Record<string, string> {
  return {
    'x-gatehouse-principal': 'user',
    'x-gatehouse-auth-method': 'token',
    'x-gatehouse-user-id': userId,
    'x-gatehouse-email': `${userId}@example.com`,
  }
}

describe('forward-auth', () => {
  let issuer: TestIssuer
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>
  let gateway: TestGateway
  let gatewayPort: number
  const token = (userId: string, orgs: Parameters<typeof propelauthClaims>[1] = {}) => issuer.sign(propelauthClaims(userId, orgs))

  before(async () => {
    issuer = await startIssuer()
    upstream = await startRecordingUpstream()
    gateway = await startGateway({
      server: { listen: '127.0.0.1:0', shutdown_timeout: '2s', trust_proxy: ['127.0.0.1'] },
      upstream: { url: `http://127.0.0.1:${upstream.port}` },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      rate_limits: { user: '1000/1m' },
      identity: { assertion: { audience: 'app' } },
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      api_keys: { usage_flush: '50ms' },
      forward_auth: { enabled: true },
      routes: ROUTES,
    })
    gatewayPort = gateway.running.gateway.port
  })

  after(async () => {
    await gateway.close()
    await upstream.close()
    await issuer.close()
  })

  describe('the endpoint, called directly', () => {
    const ask = (headers: Record<string, string>, path = '/.gatehouse/auth', method = 'GET') =>
      fetch(gateway.url + path, { method, headers })

    it('names the original request by X-Forwarded-Method and X-Forwarded-Uri: 200 with the identity and the assertion as response headers', async () => {
      const before = upstream.seen.length
      const response = await ask({
        authorization: `Bearer ${await token('u-fwd')}`,
        'x-forwarded-method': 'GET',
        'x-forwarded-uri': '/api/things?x=1',
        'x-forwarded-host': 'app.example',
      })
      assert.equal(response.status, 200)
      assert.equal(await response.text(), '')
      assert.deepEqual(identityHeaders(response.headers), expectedUser('u-fwd'))
      const jwks = createRemoteJWKSet(new URL(`${gateway.adminUrl}/.well-known/jwks.json`))
      const { payload } = await jwtVerify(response.headers.get('x-gatehouse-assertion')!, jwks, { issuer: 'gatehouse', audience: 'app' })
      assert.equal(payload.sub, 'u-fwd')
      assert.match(response.headers.get('ratelimit')!, /^"user";r=999;t=\d+$/)
      assert.ok(response.headers.get('x-request-id'))
      assert.equal(upstream.seen.length, before, 'a decision is never proxied')
      const line = gateway.logs.find((l) => (l.original as { path?: string } | undefined)?.path === '/api/things')
      assert.deepEqual(
        { path: line?.path, original: line?.original, status: line?.status, route: line?.route, user: line?.user_id },
        { path: '/.gatehouse/auth', original: { method: 'GET', path: '/api/things' }, status: 200, route: '/api/*', user: 'u-fwd' },
      )
    })

    it('names it by X-Original-Method and X-Original-URI (nginx)', async () => {
      const response = await ask({
        authorization: `Bearer ${await token('u-orig')}`,
        'x-original-method': 'DELETE',
        'x-original-uri': '/api/x',
      })
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('x-gatehouse-user-id'), 'u-orig')
    })

    it('names it by the path after /.gatehouse/auth (Envoy path_prefix), with the call’s own method', async () => {
      const auth = { authorization: `Bearer ${await token('u-path')}` }
      const allowed = await ask(auth, '/.gatehouse/auth/api/items?page=2', 'POST')
      assert.equal(allowed.status, 200)
      assert.equal(allowed.headers.get('x-gatehouse-user-id'), 'u-path')
      assert.equal((await ask({}, '/.gatehouse/auth/api/items')).status, 401)
      assert.equal((await ask({}, '/.gatehouse/auth/public/page')).status, 200)
    })

    it('answers 400 when no original request is named, or more than one way, or half of a pair', async () => {
      for (const [headers, path, detail] of [
        [{}, '/.gatehouse/auth', /No original request/],
        [
          { 'x-forwarded-uri': '/api/x', 'x-original-method': 'GET', 'x-original-uri': '/public/x' },
          '/.gatehouse/auth',
          /more than one way/,
        ],
        [{ 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/x' }, '/.gatehouse/auth/public/x', /more than one way/],
        [{ 'x-forwarded-uri': '/public/x' }, '/.gatehouse/auth', /without X-Forwarded-Method/],
        [{ 'x-original-method': 'GET' }, '/.gatehouse/auth', /without X-Original-URI/],
        [{ 'x-forwarded-method': 'G E T', 'x-forwarded-uri': '/public/x' }, '/.gatehouse/auth', /not an HTTP method/],
      ] as const) {
        const response = await ask(headers, path)
        assert.equal(response.status, 400, JSON.stringify(headers))
        assert.equal(response.headers.get('content-type'), 'application/problem+json')
        assert.match(((await response.json()) as { detail: string }).detail, detail)
      }
      const twice = await rawRequest(gatewayPort, '/.gatehouse/auth', {
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Uri': '/public/a',
        'x-forwarded-uri': '/api/b',
      })
      assert.equal(twice.status, 400)
      assert.match(twice.body, /More than one x-forwarded-uri/)
    })

    it('refuses the original path as a proxied request would be refused', async () => {
      const auth = `Bearer ${await token('u-refusals')}`
      const decide = async (uri: string) => (await ask({ authorization: auth, 'x-forwarded-method': 'GET', 'x-forwarded-uri': uri })).status
      assert.equal(await decide('/api/%252e%252e/x'), 400, 'double encoding')
      assert.equal(await decide('/%EF%BD%81pi/x'), 400, 'an NFKC look-alike')
      assert.equal(await decide('/api%2Fx'), 400, 'an encoded slash')
      assert.equal(await decide('/public;/x'), 400, 'a path parameter')
      assert.equal(await decide('http://evil.example/public/x'), 400, 'not origin-form')
      // Canonicalized before matching: these are /api/x and need the token.
      for (const uri of ['/public/../api/x', '//api/x', '/%61pi/x', '/API/x']) {
        const anonymous = await ask({ 'x-forwarded-method': 'GET', 'x-forwarded-uri': uri })
        assert.equal(anonymous.status, 401, uri)
      }
      assert.equal(await decide('/api/x'), 200)
      const trace = await ask({ authorization: auth, 'x-forwarded-method': 'TRACE', 'x-forwarded-uri': '/api/x' })
      assert.equal(trace.status, 405)
    })

    it('answers 401 with WWW-Authenticate and the problem, 403 for a rule, 429 with Retry-After', async () => {
      const unauthenticated = await ask({ 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/x' })
      assert.equal(unauthenticated.status, 401)
      assert.equal(unauthenticated.headers.get('www-authenticate'), 'Bearer realm="gatehouse"')
      assert.equal(((await unauthenticated.json()) as { type: string }).type, 'urn:gatehouse:problem:unauthorized')
      const member = await token('u-member', { 'org-1': { role: 'Member' } })
      const forbidden = await ask({ authorization: `Bearer ${member}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/org/org-1/admin' })
      assert.equal(forbidden.status, 403)
      assert.equal(((await forbidden.json()) as { type: string }).type, 'urn:gatehouse:problem:forbidden')
      const limited = { authorization: `Bearer ${await token('u-429-direct')}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/limited' }
      assert.equal((await ask(limited)).status, 200)
      assert.equal((await ask(limited)).status, 200)
      const refused = await ask(limited)
      assert.equal(refused.status, 429)
      assert.match(refused.headers.get('retry-after')!, /^\d+$/)
      assert.equal(((await refused.json()) as { error_code: string }).error_code, 'rate_limit_exceeded')
    })

    it('gives an admin org member the org headers', async () => {
      const admin = await token('u-admin', { 'org-1': { role: 'Admin', name: 'Acme', permissions: ['read', 'write'] } })
      const response = await ask({ authorization: `Bearer ${admin}`, 'x-original-method': 'GET', 'x-original-uri': '/org/org-1/admin' })
      assert.equal(response.status, 200)
      assert.deepEqual(identityHeaders(response.headers), {
        ...expectedUser('u-admin'),
        'x-gatehouse-org-id': 'org-1',
        'x-gatehouse-org-name': 'Acme',
        'x-gatehouse-org-role': 'Admin',
        'x-gatehouse-org-permissions': 'read,write',
      })
    })

    it('an API key: its id in the answer, and each allowed decision counted once as usage', async () => {
      const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
      const user = await api('POST', '/v1/users', { email: 'fa-key@example.com' })
      const key = await api('POST', '/v1/api_keys', { user_id: user.body.user_id })
      assert.equal(key.status, 201)
      const decision = { 'x-api-key': String(key.body.api_key_token), 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/keyed' }
      for (let i = 0; i < 2; i++) {
        const allowed = await ask(decision)
        assert.equal(allowed.status, 200)
        assert.equal(allowed.headers.get('x-gatehouse-auth-method'), 'api_key')
        assert.equal(allowed.headers.get('x-gatehouse-api-key-id'), key.body.api_key_id)
      }
      assert.equal((await ask({ ...decision, 'x-forwarded-uri': '/org/org-1/admin' })).status, 403, 'a refusal is no usage')
      const usage = async () =>
        Number(
          (await api('GET', `/v1/api_keys/usage?date=${new Date().toISOString().slice(0, 10)}&api_key_id=${key.body.api_key_id}`)).body
            .count,
        )
      for (let i = 0; i < 100 && (await usage()) < 2; i++) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 200))
      assert.equal(await usage(), 2)
    })

    it('serves every spelling of /.gatehouse/auth as the endpoint and never proxies under /.gatehouse/', async () => {
      const before = upstream.seen.length
      const original = { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/public/x' }
      for (const target of [
        '/.gatehouse/auth',
        '/%2Egatehouse/auth',
        '/.GATEHOUSE/auth',
        '//.gatehouse/auth',
        '/x/../.gatehouse/auth',
        '/.gatehouse/./auth',
      ]) {
        const response = await rawRequest(gatewayPort, target, original)
        assert.equal(response.status, 200, target)
      }
      // The path form only from the prefix as written: elsewhere the cut would be a guess.
      const cut = await rawRequest(gatewayPort, '/x/../.gatehouse/auth/public/x')
      assert.equal(cut.status, 400)
      for (const target of [
        '/.gatehouse',
        '/.gatehouse/',
        '/.gatehouse/other',
        '/.Gatehouse/admin/x',
        '/%2egatehouse/x',
        '/public/../.gatehouse/x',
        '/.gatehouse/auth/../x',
      ]) {
        const response = await rawRequest(gatewayPort, target, original)
        assert.equal(response.status, 404, target)
        assert.equal(response.headers['content-type'], 'application/problem+json')
      }
      const asked = await rawRequest(gatewayPort, '/.gatehouse/auth', {
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Uri': '/.gatehouse/auth',
      })
      assert.equal(asked.status, 404, 'an original request under /.gatehouse/ is no route either')
      assert.equal(upstream.seen.length, before)
    })

    it('answers only a trusted proxy: another peer gets 403 and spends nothing', async () => {
      const auth = `Bearer ${await token('u-untrusted')}`
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: gatewayPort,
            localAddress: '127.0.0.2',
            path: '/.gatehouse/auth',
            headers: { authorization: auth, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/limited' },
          },
          (res) => (res.resume(), resolve(res.statusCode!)),
        )
        req.on('error', reject)
        req.end()
      })
      assert.equal(status, 403)
      const limited = { authorization: auth, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/limited' }
      assert.equal((await ask(limited)).status, 200)
      assert.equal((await ask(limited)).status, 200, 'the refused call took nothing from the budget of 2')
      const line = gateway.logs.find((l) => l.error === 'forward-auth caller is not in server.trust_proxy')
      assert.equal(line?.status, 403)
    })
  })

  describe('with identity.assertion.bind_request', () => {
    it('binds the assertion to the original request: its method, canonical path and query, and the answered X-Request-Id', async () => {
      const bound = await startGateway({
        server: { listen: '127.0.0.1:0', shutdown_timeout: '2s', trust_proxy: ['127.0.0.1'] },
        upstream: { url: `http://127.0.0.1:${upstream.port}` },
        tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
        identity: { assertion: { audience: 'app', bind_request: true } },
        forward_auth: { enabled: true },
        routes: ROUTES,
      })
      try {
        const response = await fetch(`${bound.url}/.gatehouse/auth`, {
          headers: { authorization: `Bearer ${await token('u-bound')}`, 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/api/./x?y=1' },
        })
        assert.equal(response.status, 200)
        const jwks = createRemoteJWKSet(new URL(`${bound.adminUrl}/.well-known/jwks.json`))
        const { payload } = await jwtVerify(response.headers.get('x-gatehouse-assertion')!, jwks, { issuer: 'gatehouse', audience: 'app' })
        assert.deepEqual(
          { htm: payload.htm, htp: payload.htp, jti: payload.jti },
          { htm: 'POST', htp: '/api/x?y=1', jti: response.headers.get('x-request-id') },
        )
      } finally {
        await bound.close()
      }
    })
  })

  describe('without forward_auth.enabled', () => {
    it('serves no endpoint: /.gatehouse/auth is a 404 and nothing is proxied', async () => {
      const off = await startGateway({ upstream: { url: `http://127.0.0.1:${upstream.port}` }, routes: [{ path: '/*', auth: 'none' }] })
      try {
        const before = upstream.seen.length
        const response = await fetch(`${off.url}/.gatehouse/auth`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/x' } })
        assert.equal(response.status, 404)
        assert.equal((await fetch(`${off.url}/x`)).status, 200)
        assert.equal(upstream.seen.length, before + 1)
      } finally {
        await off.close()
      }
    })
  })

  /** The same behaviour through each real ingress, gatehouse deciding and the ingress proxying. */
  function throughIngress(name: string, skip: string | undefined, start: (dir: string) => Promise<Ingress>) {
    describe(`${name} in front, gatehouse deciding`, { skip }, () => {
      let ingress: Ingress
      let dir: string

      before(async () => {
        dir = mkdtempSync(join(tmpdir(), `gatehouse-${name}-`))
        ingress = await start(dir)
      })

      after(async () => {
        await ingress?.stop()
        rmSync(dir, { recursive: true, force: true })
      })

      const served = (path: string) => upstream.seen.filter((s) => s.url === path)

      it('an allowed request reaches the upstream once, with exactly the identity headers and the assertion', async () => {
        const path = `/api/${name}/allowed`
        const response = await fetch(ingress.url + path, { headers: { authorization: `Bearer ${await token(`u-${name}`)}` } })
        assert.equal(response.status, 200, ingress.log())
        assert.deepEqual(await response.json(), { served: path })
        const [seen, ...more] = served(path)
        assert.equal(more.length, 0, 'served once')
        assert.deepEqual(identityHeaders(seen!.headers), expectedUser(`u-${name}`))
        const jwks = createRemoteJWKSet(new URL(`${gateway.adminUrl}/.well-known/jwks.json`))
        const { payload } = await jwtVerify(String(seen!.headers['x-gatehouse-assertion']), jwks, { issuer: 'gatehouse', audience: 'app' })
        assert.equal(payload.sub, `u-${name}`)
        assert.match(String(seen!.headers['x-request-id']), /^[0-9a-f-]{36}$/)
      })

      it('an org rule: the org headers arrive too, exactly', async () => {
        const admin = await token(`u-${name}-admin`, { 'org-7': { role: 'Admin', name: 'Seven', permissions: ['read'] } })
        const response = await fetch(`${ingress.url}/org/org-7/admin`, { headers: { authorization: `Bearer ${admin}` } })
        assert.equal(response.status, 200, ingress.log())
        const seen = upstream.seen.filter((s) => s.url === '/org/org-7/admin' && s.headers['x-gatehouse-user-id'] === `u-${name}-admin`)
        assert.equal(seen.length, 1)
        assert.deepEqual(identityHeaders(seen[0]!.headers), {
          ...expectedUser(`u-${name}-admin`),
          'x-gatehouse-org-id': 'org-7',
          'x-gatehouse-org-name': 'Seven',
          'x-gatehouse-org-role': 'Admin',
          'x-gatehouse-org-permissions': 'read',
        })
      })

      it('a POST stays a POST: method and body arrive at the upstream', async () => {
        const path = `/api/${name}/post`
        const body = JSON.stringify({ hello: name })
        const response = await fetch(ingress.url + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${await token(`u-${name}-post`)}`, 'content-type': 'application/json' },
          body,
        })
        assert.equal(response.status, 200, ingress.log())
        const [seen, ...more] = served(path)
        assert.equal(more.length, 0)
        assert.equal(seen!.method, 'POST')
        assert.equal(seen!.body, body)
        assert.equal(seen!.headers['x-gatehouse-user-id'], `u-${name}-post`)
      })

      it('identity headers sent by the client never reach the upstream', async () => {
        const path = `/api/${name}/spoof`
        const response = await fetch(ingress.url + path, {
          headers: {
            authorization: `Bearer ${await token(`u-${name}-real`)}`,
            'x-gatehouse-user-id': 'admin',
            'x-gatehouse-org-id': 'org-evil',
            'x-gatehouse-org-role': 'Owner',
            'x-gatehouse-assertion': 'forged',
            'x-gatehouse-principal': 'service',
          },
        })
        assert.equal(response.status, 200, ingress.log())
        const [seen] = served(path)
        assert.deepEqual(identityHeaders(seen!.headers), expectedUser(`u-${name}-real`))
        assert.notEqual(seen!.headers['x-gatehouse-assertion'], 'forged')
        const open = `/public/${name}/spoof`
        assert.equal(
          (await fetch(ingress.url + open, { headers: { 'x-gatehouse-user-id': 'admin', 'x-gatehouse-assertion': 'forged' } })).status,
          200,
        )
        const [anonymous] = served(open)
        assert.deepEqual(identityHeaders(anonymous!.headers), {}, 'an anonymous request carries no identity at all')
        assert.equal(anonymous!.headers['x-gatehouse-assertion'], undefined)
      })

      it('a client cannot name another original request than the one it makes', async () => {
        const path = `/api/${name}/named`
        const response = await fetch(ingress.url + path, {
          headers: {
            'x-forwarded-method': 'GET',
            'x-forwarded-uri': '/public/x',
            'x-original-method': 'GET',
            'x-original-uri': '/public/x',
          },
        })
        assert.equal(response.status, 401, 'decided as the request it is: no credential')
        assert.equal(served(path).length, 0)
      })

      it('401 with WWW-Authenticate and 403 reach the client, and nothing the upstream', async () => {
        const unauthenticated = await fetch(`${ingress.url}/api/${name}/anonymous`)
        assert.equal(unauthenticated.status, 401)
        assert.equal(unauthenticated.headers.get('www-authenticate'), 'Bearer realm="gatehouse"')
        const member = await token(`u-${name}-member`, { 'org-9': { role: 'Member' } })
        const forbidden = await fetch(`${ingress.url}/org/org-9/admin`, { headers: { authorization: `Bearer ${member}` } })
        assert.equal(forbidden.status, 403)
        assert.equal(served(`/api/${name}/anonymous`).length + served('/org/org-9/admin').length, 0)
      })

      it('429 reaches the client with Retry-After; the budget is spent once per request', async () => {
        const auth = { authorization: `Bearer ${await token(`u-${name}-limited`)}` }
        const before = served('/limited').length
        assert.equal((await fetch(`${ingress.url}/limited`, { headers: auth })).status, 200)
        assert.equal((await fetch(`${ingress.url}/limited`, { headers: auth })).status, 200, 'a budget of 2: each request spent one')
        const refused = await fetch(`${ingress.url}/limited`, { headers: auth })
        assert.equal(refused.status, 429, ingress.log())
        const wait = Number(refused.headers.get('retry-after'))
        assert.ok(wait >= 1 && wait <= 60, String(refused.headers.get('retry-after')))
        assert.equal(served('/limited').length - before, 2, 'each allowed request served once, the refused one not at all')
      })
    })
  }

  throughIngress('nginx', nginx.skip, (dir) => startNginx(nginx.file!, dir, { gatehouse: gatewayPort, upstream: upstream.port }))
  throughIngress('caddy', caddy.skip, (dir) => startCaddy(caddy.file!, dir, { gatehouse: gatewayPort, upstream: upstream.port }))
})
