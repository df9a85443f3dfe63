import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { InvalidApiKeyError } from '../../src/apikeys/index.ts'
import type { ApiKeyAuthenticator } from '../../src/apikeys/index.ts'
import { createTokenVerifier } from '../../src/authn/index.ts'
import { deepFreeze } from '../../src/identity/index.ts'
import type { TokenVerifier } from '../../src/authn/index.ts'
import type { Identity } from '../../src/identity/index.ts'
import type { RouteConfig } from '../../src/config/index.ts'
import { parseCidr, ProblemError, problems } from '../../src/http/index.ts'
import { parseRate } from '../../src/units/index.ts'
import type { TestKey } from '../authn/fixtures.ts'
import { createDecider } from '../../src/decide/index.ts'
import type { Decide, Decision, DecisionRequest, DenyReason } from '../../src/decide/index.ts'
import { createMemoryLimiter } from '../../src/ratelimit/index.ts'
import { compileRoutes } from '../../src/rules/index.ts'
import { createKey, issuerConfig, pemOf, ROLES, sign } from '../authn/fixtures.ts'

const rate = (text: string) => parseRate(text)!
const ACME = { org_id: 'acme', org_name: 'Acme', user_role: 'Admin' }

const route = (path: string, extra: Partial<RouteConfig>): RouteConfig => ({ path, ...extra }) as RouteConfig
const { table: routes } = compileRoutes([
  route('/public', { auth: 'none' }),
  route('/maybe', { auth: 'optional' }),
  route('/me', { auth: 'user', methods: ['GET'] }),
  route('/any', { auth: 'authenticated' }),
  route('/org/:org_id/admin', { auth: 'org_member', role: 'Admin' }),
  route('/scarce', { auth: 'user', rate_limit: rate('2/1m') }),
  route('/socket', { auth: 'user', credentials_from: [{ from: 'cookie', name: 'sid' }, { from: 'websocket_protocol' }] }),
  route('/tcp', { auth: 'none', upgrade: ['websocket', 'tcp'] }),
])

const user: Identity = deepFreeze({
  principal: 'user',
  method: 'api_key',
  user: { userId: 'key-owner', properties: {} },
  orgs: {},
  apiKey: { id: 'k1', type: 'personal', scopes: [], metadata: {}, expiresAt: null },
})
const service: Identity = deepFreeze({
  principal: 'service',
  method: 'api_key',
  orgs: {},
  apiKey: { id: 'k2', type: 'generic', scopes: [], metadata: {}, expiresAt: null },
})

/** Stands in for the store-backed authenticator: the decision's handling of its answers is under test. */
function fakeApiKeys(): ApiKeyAuthenticator {
  return {
    authenticate(secret) {
      if (secret === 'personal-key') return user
      if (secret === 'generic-key') return Promise.resolve(service)
      if (secret === 'store-down')
        return Promise.reject(new ProblemError(problems.serviceUnavailable('API keys cannot be checked right now')))
      throw new InvalidApiKeyError('not found')
    },
    // Afresh, the store answers that the personal key has been archived since it was cached.
    async authenticateAfresh(secret) {
      if (secret === 'personal-key') throw new InvalidApiKeyError('archived')
      return this.authenticate(secret)
    },
    evictKey() {},
    evictUser() {},
    evictOrg() {},
    lookups: () => 0,
  }
}

function request(method: string, target: string, headers: Record<string, string> = {}): DecisionRequest {
  const rawHeaders = ['Host', 'gatehouse.test', ...Object.entries(headers).flat()]
  return { method, target, rawHeaders, httpVersion: '1.1', remoteAddress: '10.0.0.7' }
}

describe('decide', () => {
  let verifier: TokenVerifier
  let key: TestKey
  let token: string
  let foreignToken: string
  const fresh = ({ anonymous = false, trusted = false } = {}): Decide =>
    createDecider({
      routes,
      verifier,
      apiKeys: fakeApiKeys(),
      limiter: createMemoryLimiter({ maxTracked: 100 }),
      limits: { user: rate('100/1m'), org: undefined, generic: undefined, anonymous: anonymous ? rate('1/1m') : undefined },
      trustProxy: trusted ? [parseCidr('10.0.0.0/8')!] : [],
    })

  before(async () => {
    key = await createKey('ES256', 'k')
    const stranger = await createKey('ES256', 'k')
    verifier = await createTokenVerifier({
      issuers: [issuerConfig({ publicKey: await pemOf(key), algorithms: ['ES256'] })],
      leewayMs: 0,
      cache: { maxEntries: 10, ttlMs: 60_000 },
      jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
      roles: ROLES,
      configDir: '.',
    })
    token = await sign(key, { org_id_to_org_member_info: { acme: ACME } })
    foreignToken = await sign(stranger)
  })

  const bearer = (t: () => string) => () => ({ authorization: `Bearer ${t()}` })
  const none = () => ({})
  const identities = {
    none,
    token: bearer(() => token),
    badToken: bearer(() => foreignToken),
    personalKey: () => ({ 'x-api-key': 'personal-key' }),
    genericKey: () => ({ 'x-api-key': 'generic-key' }),
    badKey: () => ({ 'x-api-key': 'nope' }),
    storeDown: () => ({ 'x-api-key': 'store-down' }),
    basic: () => ({ authorization: 'Basic dXNlcjpwdw==' }),
  }

  // [method, target, identity, expected: 'allow' or the deny reason, expected status]
  const table: Array<[string, string, keyof typeof identities, 'allow' | DenyReason, number]> = [
    ['GET', '/public', 'none', 'allow', 200],
    ['GET', '/public', 'badKey', 'allow', 200],
    ['GET', '/maybe', 'none', 'allow', 200],
    ['GET', '/maybe', 'badToken', 'allow', 200],
    ['GET', '/maybe', 'basic', 'allow', 200],
    ['GET', '/maybe', 'storeDown', 'store_unavailable', 503],
    ['GET', '/me', 'token', 'allow', 200],
    ['GET', '/me', 'personalKey', 'allow', 200],
    ['GET', '/me', 'none', 'no_credential', 401],
    ['GET', '/me', 'badToken', 'invalid_token', 401],
    ['GET', '/me', 'badKey', 'invalid_api_key', 401],
    ['GET', '/me', 'basic', 'malformed_credential', 401],
    ['GET', '/me', 'genericKey', 'forbidden', 403],
    ['POST', '/me', 'token', 'method_not_allowed', 405],
    ['TRACE', '/me', 'token', 'method_not_allowed', 405],
    ['GET', '/any', 'genericKey', 'allow', 200],
    ['GET', '/any', 'storeDown', 'store_unavailable', 503],
    ['GET', '/org/acme/admin', 'token', 'allow', 200],
    ['GET', '/org/other/admin', 'token', 'forbidden', 403],
    ['GET', '/org/acme/admin', 'personalKey', 'forbidden', 403],
    ['GET', '/nowhere', 'token', 'not_found', 404],
    ['GET', '/me/../me', 'token', 'allow', 200],
    ['GET', '/me#frag', 'token', 'bad_request', 400],
  ]

  for (const [method, target, who, expected, status] of table) {
    it(`${method} ${target} with ${who}: ${expected}`, async () => {
      const decision = await fresh()(request(method, target, identities[who]()))
      if (expected === 'allow') {
        assert.equal(decision.kind, 'allow', decision.kind === 'deny' ? `${decision.reason}: ${decision.problem.detail}` : '')
      } else {
        assert.equal(decision.kind, 'deny')
        assert.equal(decision.kind === 'deny' && decision.reason, expected)
        assert.equal(decision.kind === 'deny' && decision.problem.status, status)
      }
    })
  }

  it('an allowed request carries the identity, the org rule membership on a copy, the budgets and the forwarding facts', async () => {
    const decision = await fresh({ trusted: true })(
      request('GET', '/org/acme/admin?x=1', { ...identities.token(), 'x-request-id': 'req-1', 'X-Forwarded-For': '203.0.113.9' }),
    )
    assert.equal(decision.kind, 'allow')
    if (decision.kind !== 'allow') return
    assert.equal(decision.identity?.activeOrg?.orgId, 'acme')
    assert.equal(decision.authenticated?.activeOrg, undefined)
    assert.equal(decision.activeOrg?.role, 'Admin')
    assert.deepEqual(decision.params, { org_id: 'acme' })
    assert.deepEqual(decision.target, { path: '/org/acme/admin', query: '?x=1' })
    assert.deepEqual(
      decision.budgets.map((b) => b.name),
      ['user'],
    )
    assert.equal(decision.forwarded.clientIp, '203.0.113.9')
    assert.equal(decision.forwarded.forwardedFor, '203.0.113.9, 10.0.0.7')
    assert.equal(decision.forwarded.requestId, 'req-1')
    assert.deepEqual(decision.responseHeaders.slice(0, 2), ['x-request-id', 'req-1'])
    assert.ok(decision.responseHeaders.includes('RateLimit-Policy'))
  })

  it('a credential refusal carries WWW-Authenticate and its log reason; a 405 carries Allow', async () => {
    const decide = fresh()
    const badKey = (await decide(request('GET', '/me', identities.badKey()))) as Decision
    assert.ok(badKey.kind === 'deny')
    assert.deepEqual(badKey.headers, ['x-request-id', badKey.requestId, 'www-authenticate', 'Bearer realm="gatehouse"'])
    assert.equal(badKey.logReason, 'not found')
    assert.equal(badKey.route?.pattern, '/me')
    const badToken = await decide(request('GET', '/me', identities.badToken()))
    assert.ok(badToken.kind === 'deny')
    assert.match(String(badToken.logReason), /signature/)
    const wrongMethod = await decide(request('POST', '/me', identities.token()))
    assert.ok(wrongMethod.kind === 'deny')
    assert.deepEqual(wrongMethod.headers, ['x-request-id', wrongMethod.requestId, 'allow', 'GET, HEAD'])
  })

  it('a cached token with the memory limiter is decided synchronously, a first verification asynchronously', async () => {
    const decide = fresh()
    const other = await sign(key, { user_id: 'first-seen' })
    const first = decide(request('GET', '/me', { authorization: `Bearer ${other}` }))
    assert.ok(first instanceof Promise)
    await first
    await decide(request('GET', '/me', identities.token()))
    const cached = decide(request('GET', '/me', identities.token()))
    assert.ok(!(cached instanceof Promise))
    assert.equal(cached.kind, 'allow')
    assert.ok(!(decide(request('GET', '/me', identities.personalKey())) instanceof Promise))
  })

  it('the anonymous budget keys on the client address, and refuses with 429, Retry-After and the request id', async () => {
    const decide = fresh({ anonymous: true, trusted: true })
    assert.equal((await decide(request('GET', '/maybe'))).kind, 'allow')
    const refused = await decide(request('GET', '/maybe', { 'x-request-id': 'again' }))
    assert.ok(refused.kind === 'deny')
    assert.equal(refused.reason, 'rate_limited')
    assert.equal(refused.problem.status, 429)
    assert.equal(refused.requestId, 'again')
    assert.ok(refused.headers.includes('Retry-After'))
    assert.deepEqual(
      refused.budgets?.map((b) => [b.name, b.allowed]),
      [['anonymous', false]],
    )
  })

  it('spend: false decides against the budgets without charging them', async () => {
    const decide = fresh()
    const scarce = () => request('GET', '/scarce', identities.token())
    for (let i = 0; i < 5; i++) {
      const peeked = await decide(scarce(), { spend: false })
      assert.equal(peeked.kind, 'allow')
      assert.equal(peeked.kind === 'allow' && peeked.budgets.find((b) => b.name === 'route')?.remaining, 1)
    }
    assert.equal((await decide(scarce())).kind, 'allow')
    const last = await decide(scarce())
    assert.equal(last.kind === 'allow' && last.budgets.find((b) => b.name === 'route')?.remaining, 0)
    const wouldRefuse = await decide(scarce(), { spend: false })
    assert.equal(wouldRefuse.kind === 'deny' && wouldRefuse.reason, 'rate_limited')
    assert.equal((await decide(scarce())).kind, 'deny')
  })

  it('fresh: true verifies the credential afresh instead of taking the cached answer', async () => {
    const decide = fresh()
    const key = () => request('GET', '/me', { 'x-api-key': 'personal-key' })
    assert.equal((await decide(key())).kind, 'allow')
    const afresh = await decide(key(), { spend: false, fresh: true })
    assert.equal(afresh.kind === 'deny' && afresh.reason, 'invalid_api_key')
    assert.equal(afresh.kind === 'deny' && afresh.logReason, 'archived')
  })

  it('an already canonical target is taken as given', async () => {
    const decision = await fresh()(request('GET', '/me', identities.token()))
    const again = await fresh()({ ...request('GET', '', identities.token()), target: { path: '/me', query: '' } })
    assert.equal(decision.kind, 'allow')
    assert.equal(again.kind, 'allow')
  })

  describe('handshakes (upgrade: true)', () => {
    const handshake = (target: string, headers: Record<string, string>) => ({
      ...request('GET', target, { connection: 'Upgrade', ...headers }),
      upgrade: true,
    })
    const reasonOf = async (decision: Decision | Promise<Decision>) => {
      const d = await decision
      return d.kind === 'allow' ? 'allow' : `${d.problem.status} ${d.problem.detail}`
    }

    it('checks every Upgrade protocol against the route and never allows h2c', async () => {
      const decide = fresh()
      assert.equal(await reasonOf(decide(handshake('/tcp', { upgrade: 'websocket' }))), 'allow')
      assert.equal(await reasonOf(decide(handshake('/tcp', { upgrade: 'TCP' }))), 'allow')
      assert.equal(await reasonOf(decide(handshake('/public', { upgrade: 'tcp' }))), '400 Upgrading to tcp is not allowed here')
      assert.equal(await reasonOf(decide(handshake('/tcp', { upgrade: 'websocket, h2c' }))), '400 h2c upgrades are never forwarded')
      assert.equal(await reasonOf(decide(handshake('/tcp', { upgrade: ' , ' }))), '400 The Upgrade header names no protocol')
    })

    it('reads the credential from the route’s cookie or bearer subprotocol; a plain request only from the cookie', async () => {
      const decide = fresh()
      const viaProtocol = await decide(handshake('/socket', { upgrade: 'websocket', 'sec-websocket-protocol': `bearer, ${token}` }))
      assert.equal(viaProtocol.kind === 'allow' && viaProtocol.identity?.user?.userId, 'user-1')
      const viaCookie = await decide(handshake('/socket', { upgrade: 'websocket', cookie: `a=1; sid=${token}` }))
      assert.equal(viaCookie.kind, 'allow')
      // The route does not list header: an Authorization line is not its credential.
      assert.equal(
        await reasonOf(decide(handshake('/socket', { upgrade: 'websocket', ...identities.token() }))),
        '401 No authorization header found',
      )
      assert.equal(await reasonOf(decide(request('GET', '/socket', { cookie: `sid=${token}` }))), 'allow')
      assert.equal(
        await reasonOf(decide(request('GET', '/socket', { 'sec-websocket-protocol': `bearer, ${token}` }))),
        '401 No authorization header found',
      )
      assert.equal(
        await reasonOf(decide(handshake('/me', { upgrade: 'websocket', cookie: `sid=${token}` }))),
        '401 No authorization header found',
      )
    })

    it('refuses two different credentials, a repeated cookie, a dangling bearer, and a cookie from another origin', async () => {
      const decide = fresh()
      const both = { upgrade: 'websocket', cookie: `sid=${token}`, 'sec-websocket-protocol': 'bearer, personal-key' }
      assert.equal(await reasonOf(decide(handshake('/socket', both))), '400 Two different credentials were sent; send one')
      const same = { upgrade: 'websocket', cookie: `sid=${token}`, 'sec-websocket-protocol': `chat, bearer, ${token}` }
      assert.equal(await reasonOf(decide(handshake('/socket', same))), 'allow')
      const repeated = { upgrade: 'websocket', cookie: `sid=${token}; sid=other` }
      assert.equal(await reasonOf(decide(handshake('/socket', repeated))), '400 The cookie sid was sent more than once')
      const dangling = { upgrade: 'websocket', 'sec-websocket-protocol': 'chat, bearer' }
      assert.equal(await reasonOf(decide(handshake('/socket', dangling))), '400 The bearer subprotocol must be followed by the credential')
      const cookie = { upgrade: 'websocket', cookie: `sid=${token}` }
      assert.equal(await reasonOf(decide(handshake('/socket', { ...cookie, origin: 'http://gatehouse.test' }))), 'allow')
      assert.equal(
        await reasonOf(decide(handshake('/socket', { ...cookie, origin: 'https://evil.test' }))),
        '403 A cookie credential is accepted only from a page of this origin',
      )
      assert.equal(
        await reasonOf(decide(handshake('/socket', { ...cookie, origin: 'null' }))),
        '403 A cookie credential is accepted only from a page of this origin',
      )
    })
  })

  describe('a cookie credential on plain requests (CSRF)', () => {
    const csrf = '403 A cookie credential on this method is accepted only from a page of this origin'
    const answer = async (method: string, headers: Record<string, string>) => {
      const d = await fresh()(request(method, '/socket', headers))
      return d.kind === 'allow' ? 'allow' : `${d.problem.status} ${d.problem.detail}`
    }
    // A function: the token is signed in before(), after this describe body ran.
    const sid = () => ({ cookie: `theme=dark; sid=${token}` })

    it('takes it on safe methods from anywhere', async () => {
      for (const method of ['GET', 'HEAD', 'OPTIONS'])
        assert.equal(await answer(method, { ...sid(), origin: 'https://evil.test' }), 'allow')
    })

    it('takes it on an unsafe method only with Sec-Fetch-Site: same-origin or an Origin of this host', async () => {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        assert.equal(await answer(method, { ...sid(), 'sec-fetch-site': 'same-origin' }), 'allow', method)
        assert.equal(await answer(method, { ...sid(), origin: 'http://gatehouse.test' }), 'allow', method)
        assert.equal(await answer(method, sid()), csrf, `${method} without Origin or Sec-Fetch-Site`)
        assert.equal(await answer(method, { ...sid(), 'sec-fetch-site': 'same-site' }), csrf, method)
        assert.equal(await answer(method, { ...sid(), 'sec-fetch-site': 'cross-site', origin: 'http://gatehouse.test' }), csrf, method)
        assert.equal(await answer(method, { ...sid(), origin: 'https://evil.test' }), csrf, method)
        assert.equal(await answer(method, { ...sid(), origin: 'http://gatehouse.test.evil.test' }), csrf, method)
        assert.equal(await answer(method, { ...sid(), origin: 'null' }), csrf, method)
      }
    })

    it('a header credential on an unsafe method needs no Origin (no browser attaches it on its own)', async () => {
      assert.equal(await answer('POST', { ...identities.token(), origin: 'https://evil.test' }), 'allow')
    })
  })
})
