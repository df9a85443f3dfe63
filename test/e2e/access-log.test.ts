import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'

describe('the access log names why a request was refused', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  let gateway: TestGateway

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
    gateway = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./log.db' },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      rate_limits: { user: '1/1m' },
      // The forward-auth endpoint answers only this ingress, which the tests never are.
      server: { listen: '127.0.0.1:0', shutdown_timeout: '2s', trust_proxy: ['10.9.9.9'] },
      forward_auth: { enabled: true },
      routes: [
        { path: '/api/*', auth: 'user', methods: ['GET'] },
        { path: '/keyed/*', auth: 'user' },
        { path: '/org/:org_id/*', auth: 'org_member' },
      ],
    })
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await upstream.close()
  })

  const lastLogOf = (path: string) => gateway.logs.filter((l) => l.msg === 'request' && l.path === path).at(-1)
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(gateway.url + path, { method, headers })

  it('an API key refusal logs invalid_api_key and the authenticator’s reason, never the key', async () => {
    const res = await get('/api/key', { 'x-api-key': 'not-a-gatehouse-key' })
    assert.equal(res.status, 401)
    const line = lastLogOf('/api/key')
    assert.equal(line?.reason, 'invalid_api_key')
    assert.equal(line?.error, 'malformed')
    assert.ok(!JSON.stringify(line).includes('not-a-gatehouse-key'))
  })

  it('every refusal logs its code: no_credential, malformed_credential, not_found, method_not_allowed, rate_limited', async () => {
    assert.equal((await get('/api/none')).status, 401)
    assert.equal(lastLogOf('/api/none')?.reason, 'no_credential')
    assert.equal((await get('/api/basic', { authorization: 'Basic dXNlcjpwdw==' })).status, 401)
    assert.equal(lastLogOf('/api/basic')?.reason, 'malformed_credential')
    assert.equal((await get('/elsewhere')).status, 404)
    assert.equal(lastLogOf('/elsewhere')?.reason, 'not_found')
    assert.equal((await get('/api/post', {}, 'POST')).status, 405)
    assert.equal(lastLogOf('/api/post')?.reason, 'method_not_allowed')
    const token = await issuer.sign(propelauthClaims('u-logged'))
    assert.equal((await get('/api/limited', { authorization: `Bearer ${token}` })).status, 200)
    assert.equal(lastLogOf('/api/limited')?.reason, undefined)
    assert.equal((await get('/api/limited', { authorization: `Bearer ${token}` })).status, 429)
    assert.equal(lastLogOf('/api/limited')?.reason, 'rate_limited')
  })

  it('an invalid token logs invalid_token and jose’s code', async () => {
    const expired = await issuer.sign(propelauthClaims('u-expired'), { expiresIn: -3600 })
    assert.equal((await get('/api/expired', { authorization: `Bearer ${expired}` })).status, 401)
    assert.equal(lastLogOf('/api/expired')?.reason, 'invalid_token')
    assert.match(String(lastLogOf('/api/expired')?.error), /^ERR_JWT_EXPIRED/)
  })

  const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)

  /** The answer's X-Request-Id and the access-log line of the same request carry the one id. */
  function assertIdentified(res: Response, path: string): Record<string, unknown> {
    const id = res.headers.get('x-request-id')
    assert.match(id ?? '', /^[0-9a-f-]{36}$/, `${res.status} ${path} has an X-Request-Id`)
    const line = lastLogOf(path)
    assert.equal(line?.request_id, id, `${res.status} ${path} logs its request id`)
    assert.equal(line?.status, res.status)
    return line!
  }

  it('every status carries X-Request-Id and logs it with a reason: 400, 401, 403, 404, 405, 429, 200', async () => {
    assert.equal(assertIdentified(await get('/api/%2e%2e%2fsecret'), '/api/%2e%2e%2fsecret').reason, 'bad_request')
    assert.equal(assertIdentified(await get('/api/nobody'), '/api/nobody').reason, 'no_credential')
    const token = await issuer.sign(propelauthClaims('u-ids'))
    const auth = { authorization: `Bearer ${token}` }
    assert.equal(assertIdentified(await get('/org/o-elsewhere/x', auth), '/org/o-elsewhere/x').reason, 'forbidden')
    assert.equal(assertIdentified(await get('/nowhere'), '/nowhere').reason, 'not_found')
    assert.equal(assertIdentified(await get('/.gatehouse/nothing'), '/.gatehouse/nothing').reason, 'not_found')
    assert.equal(assertIdentified(await get('/api/put', {}, 'PUT'), '/api/put').reason, 'method_not_allowed')
    assert.equal(assertIdentified(await get('/api/delete', {}, 'DELETE'), '/api/delete').reason, 'method_not_allowed')
    const ok = await get('/api/ids', auth)
    assert.equal(ok.status, 200)
    assert.equal(assertIdentified(ok, '/api/ids').reason, undefined)
    assert.equal(upstream.last().headers['x-request-id'], ok.headers.get('x-request-id'))
    const limited = await get('/api/ids2', auth)
    assert.equal(limited.status, 429)
    assert.equal(assertIdentified(limited, '/api/ids2').reason, 'rate_limited')
  })

  it('a request id from an untrusted peer is not believed: the answer carries a new one', async () => {
    const res = await get('/nowhere-chosen', { 'x-request-id': 'chosen-by-the-client' })
    assert.notEqual(res.headers.get('x-request-id'), 'chosen-by-the-client')
    assertIdentified(res, '/nowhere-chosen')
  })

  it('a forward-auth call refused before any decision still has a request id', async () => {
    const res = await get('/.gatehouse/auth')
    assert.equal(res.status, 403)
    assertIdentified(res, '/.gatehouse/auth')
  })

  /** Writes `request` on a raw connection to the gateway and reads the answer until the gateway ends it. */
  const exchange = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(gateway.url).port), '127.0.0.1', () => socket.write(request))
      let text = ''
      socket.on('data', (chunk) => (text += chunk.toString()))
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
    })
  const answerRequestId = (answer: string) => /\r\nx-request-id: ([0-9a-f-]{36})\r\n/.exec(answer)?.[1]
  const lineOf = (requestId: string | undefined) => gateway.logs.find((l) => l.msg === 'request' && l.request_id === requestId)

  it('CONNECT, answered on the socket, carries an X-Request-Id and logs its line with the reason', async () => {
    const answer = await exchange('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')
    const body =
      '{"type":"urn:gatehouse:problem:method-not-allowed","title":"Method Not Allowed","status":405,"detail":"CONNECT is never forwarded"}'
    const requestId = answerRequestId(answer)
    assert.equal(
      answer,
      [
        'HTTP/1.1 405 Method Not Allowed',
        'content-type: application/problem+json',
        `content-length: ${body.length}`,
        'cache-control: no-store',
        'connection: close',
        `x-request-id: ${requestId}`,
        '',
        body,
      ].join('\r\n'),
    )
    const line = lineOf(requestId)
    assert.deepEqual(
      { ...line, time: undefined, duration_ms: undefined },
      {
        level: 'info',
        time: undefined,
        method: 'CONNECT',
        path: 'example.com:443',
        status: 405,
        duration_ms: undefined,
        request_id: requestId,
        reason: 'method_not_allowed',
        msg: 'request',
      },
    )
    assert.equal(typeof line?.duration_ms, 'number')
  })

  it('what the HTTP parser refuses is answered with an X-Request-Id and logged with its status and reason', async () => {
    const garbled = await exchange('GET /api/x HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n')
    assert.match(garbled, /^HTTP\/1\.1 400 Bad Request\r\n/)
    const line = lineOf(answerRequestId(garbled))
    assert.deepEqual([line?.status, line?.reason, line?.method, line?.path], [400, 'bad_request', undefined, undefined])
    const unknownMethod = await exchange('PURGE /api/x HTTP/1.1\r\nHost: a\r\n\r\n')
    assert.match(unknownMethod, /^HTTP\/1\.1 405 /)
    assert.deepEqual(
      [lineOf(answerRequestId(unknownMethod))?.status, lineOf(answerRequestId(unknownMethod))?.reason],
      [405, 'method_not_allowed'],
    )
    const huge = await exchange(`GET /api/x HTTP/1.1\r\nHost: a\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`)
    assert.match(huge, /^HTTP\/1\.1 431 /)
    assert.equal(lineOf(answerRequestId(huge))?.reason, 'headers_too_large')
  })

  it('a refused upgrade logs its reason: a handshake with a body is bad_request', async () => {
    const token = await issuer.sign(propelauthClaims('u-upgrade'))
    const answer = await exchange(
      `GET /api/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\n\r\nhi`,
    )
    assert.match(answer, /^HTTP\/1\.1 400 /)
    const line = gateway.logs.find((l) => l.msg === 'websocket' && l.request_id === answerRequestId(answer))
    assert.deepEqual([line?.status, line?.reason, line?.path], [400, 'bad_request', '/api/ws'])
  })

  it('each API key refusal logs its status as the reason: not_found, archived, expired, owner_disabled', async () => {
    const userId = String((await api('POST', '/v1/users', { email: 'logged-keys@example.com' })).body.user_id)
    const create = async (body: Record<string, unknown> = {}) => {
      const res = await api('POST', '/v1/api_keys', { user_id: userId, ...body })
      assert.equal(res.status, 201, JSON.stringify(res.body))
      return { id: String(res.body.api_key_id), secret: String(res.body.api_key_token) }
    }
    const refusedWith = async (path: string, secret: string) => {
      const res = await get(path, { 'x-api-key': secret })
      assert.equal(res.status, 401)
      const line = assertIdentified(res, path)
      assert.equal(line.reason, 'invalid_api_key')
      assert.ok(!JSON.stringify(gateway.logs).includes(secret), 'the key is never logged')
      return line.error
    }
    const archived = await create()
    assert.equal((await api('POST', `/v1/api_keys/${archived.id}/archive`)).status, 200)
    assert.equal(await refusedWith('/keyed/archived', archived.secret), 'archived')
    const deleted = await create()
    assert.equal((await api('DELETE', `/v1/api_keys/${deleted.id}`)).status, 204)
    assert.equal(await refusedWith('/keyed/deleted', deleted.secret), 'not_found')
    const expiring = await create({ expires_in_seconds: 1 })
    await new Promise((resolve) => setTimeout(resolve, 1100))
    assert.equal(await refusedWith('/keyed/expired', expiring.secret), 'expired')
    const owned = await create()
    assert.equal((await api('POST', `/v1/users/${userId}/disable`)).status, 200)
    assert.equal(await refusedWith('/keyed/disabled', owned.secret), 'owner_disabled')
  })
})
