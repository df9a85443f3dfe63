import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { exchange, startRawUpstream, statuses } from '../support/raw-upstream.ts'
import type { RawReceived, RawUpstream } from '../support/raw-upstream.ts'

/**
 * The attack suite: raw bytes to the real gateway, and the exact bytes a raw upstream received.
 * Each case names the class it stands for (issue 10 item, or the advisory it reproduces); "nothing
 * reached the upstream" is asserted by counting what the upstream parsed off its sockets.
 */
describe('attacks over raw sockets', () => {
  let upstream: RawUpstream
  let issuer: TestIssuer
  let gateway: TestGateway
  let port: number
  let member: string
  let admin: string

  const ROUTES = [
    { path: '/public/*', auth: 'none' },
    { path: '/pass/*', auth: 'none', pass_credentials: true },
    { path: '/files/*', auth: 'none' },
    { path: '/org/:org_id/admin/*', auth: 'org_member', min_role: 'Admin' },
    { path: '/org/:org_id/*', auth: 'org_member' },
    { path: '/hdr-org/*', auth: 'org_member', org_id: 'header:X-Org-Id' },
    { path: '/q-org/*', auth: 'org_member', org_id: 'query:org_id' },
    { path: '/dav/*', auth: 'user', methods: ['GET', 'PROPFIND'] },
    { path: '/api/*', auth: 'user' },
  ]

  before(async () => {
    upstream = await startRawUpstream()
    issuer = await startIssuer()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      routes: ROUTES,
    })
    port = gateway.running.gateway.port
    member = await issuer.sign(propelauthClaims('u-member', { o1: { role: 'Member' } }))
    admin = await issuer.sign(propelauthClaims('u-admin', { o1: { role: 'Admin' } }))
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await upstream.close()
  })

  /** A request with `Host` first and `Connection: close` last, unless the lines say otherwise. */
  const request = (requestLine: string, lines: string[] = [], body = '') =>
    [requestLine, ...(lines.some((l) => /^host:/i.test(l)) ? [] : ['Host: gw.test']), ...lines, 'Connection: close', '', body].join('\r\n')

  /** Sends the bytes; returns the statuses and what reached the upstream meanwhile. */
  async function attack(bytes: string, waitMs?: number): Promise<{ statuses: number[]; response: string; reached: RawReceived[] }> {
    const before = upstream.received.length
    const response = await exchange(port, bytes, waitMs)
    return { statuses: statuses(response), response, reached: upstream.received.slice(before) }
  }

  async function refused(bytes: string, status: number): Promise<string> {
    const result = await attack(bytes)
    assert.deepEqual(result.statuses, [status], result.response)
    assert.equal(result.reached.length, 0, 'the upstream received a request')
    if (status !== 505) assert.match(result.response, /content-type: application\/problem\+json/i)
    return result.response
  }

  async function forwarded(bytes: string): Promise<RawReceived> {
    const result = await attack(bytes)
    assert.deepEqual(result.statuses, [200], result.response)
    assert.equal(result.reached.length, 1)
    return result.reached[0]!
  }

  const names = (r: RawReceived) => r.headers.map(([n]) => n.toLowerCase())

  describe('1. duplicate credentials are 400 on every route', () => {
    const cases: [string, string[]][] = [
      ['two Authorization lines', ['Authorization: Bearer a.b.c', 'Authorization: Bearer d.e.f']],
      ['two X-Api-Key lines', ['X-Api-Key: gtu_one', 'X-Api-Key: gtu_two']],
      ['an X-Api-Key that Node would join', ['X-Api-Key: gtu_one, gtu_two']],
      ['X_Api_Key next to X-Api-Key', ['X-Api-Key: gtu_one', 'X_Api_Key: gtu_two']],
      ['a lone X.Api.Key', ['X.Api.Key: gtu_two']],
    ]
    for (const [name, lines] of cases) {
      for (const path of ['/public/x', '/api/x']) {
        it(`${name} on ${path}`, async () => {
          await refused(request(`GET ${path} HTTP/1.1`, lines), 400)
        })
      }
    }

    it('the second of two valid tokens never decides', async () => {
      await refused(request('GET /org/o1/admin/x HTTP/1.1', [`Authorization: Bearer ${member}`, `Authorization: Bearer ${admin}`]), 400)
    })
  })

  describe('2. credentials gatehouse did not check never reach the upstream', () => {
    it('hide_credentials strips Authorization and X-Api-Key on auth: none routes', async () => {
      const got = await forwarded(request('GET /public/x HTTP/1.1', ['Authorization: Bearer not-checked']))
      assert.deepEqual(upstream.values('authorization', got), [])
      const key = await forwarded(request('GET /public/x HTTP/1.1', ['X-Api-Key: gtu_not_checked']))
      assert.deepEqual(upstream.values('x-api-key', key), [])
    })

    it('hide_credentials strips the verified token on authenticated routes', async () => {
      const got = await forwarded(request('GET /api/x HTTP/1.1', [`Authorization: Bearer ${member}`]))
      assert.deepEqual(upstream.values('authorization', got), [])
      assert.equal(upstream.values('x-gatehouse-user-id', got)[0], 'u-member')
    })

    it('a token and a different key: 400 where gatehouse authenticates, both stripped where it does not', async () => {
      const both = ['Authorization: Bearer a.b.c', 'X-Api-Key: gtu_two']
      await refused(request('GET /api/x HTTP/1.1', both), 400)
      const got = await forwarded(request('GET /public/x HTTP/1.1', both))
      assert.deepEqual([...upstream.values('authorization', got), ...upstream.values('x-api-key', got)], [])
    })

    it('pass_credentials: true passes exactly the one credential line', async () => {
      const got = await forwarded(request('GET /pass/x HTTP/1.1', ['Authorization: Bearer upstream-checks-this']))
      assert.deepEqual(upstream.values('authorization', got), ['Bearer upstream-checks-this'])
    })
  })

  describe('3. rewrite and forwarding headers from an untrusted peer', () => {
    const spoofed = [
      'X-Forwarded-For: 10.6.6.6',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Host: admin.internal',
      'X-Forwarded-Port: 443',
      'X-Forwarded-Uri: /org/o1/admin/x',
      'X_Forwarded_Path: /org/o1/admin/x',
      'x-forwarded-prefix: /admin',
      'X-FORWARDED-SERVER: internal',
      'X-Original-URI: /org/o1/admin/x',
      'X-Original-URL: /org/o1/admin/x',
      'X-Rewrite-URL: /org/o1/admin/x',
      'X-Envoy-Original-Path: /org/o1/admin/x',
      'X-Real-IP: 10.6.6.6',
      'X.Real.IP: 10.6.6.6',
      'Forwarded: for=10.6.6.6;proto=https;host=admin.internal',
      'X-Request-Id: attacker-chosen',
    ]

    it('none of the client values reach the upstream; gatehouse sets its own', async () => {
      const got = await forwarded(request('GET /public/x HTTP/1.1', spoofed))
      const sent = new Set(['10.6.6.6', 'https', 'admin.internal', '443', '/org/o1/admin/x', '/admin', 'internal', 'attacker-chosen'])
      for (const [name, value] of got.headers) {
        assert.ok(!sent.has(value) && !value.includes('10.6.6.6'), `${name}: ${value} reached the upstream`)
      }
      assert.deepEqual(upstream.values('x-forwarded-host', got), ['gw.test'])
      assert.deepEqual(upstream.values('x-forwarded-proto', got), ['http'])
      assert.deepEqual(upstream.values('x-forwarded-port', got), ['80'])
      assert.deepEqual(upstream.values('x-forwarded-for', got), ['127.0.0.1'])
      assert.equal(upstream.values('x-request-id', got).length, 1)
    })

    it('the exact header names the upstream got for a hostile public request', async () => {
      const got = await forwarded(request('GET /public/x HTTP/1.1', [...spoofed, 'X-Gatehouse-User-Id: u-evil', 'Cookie: a=1']))
      assert.equal(got.requestLine, 'GET /public/x HTTP/1.1')
      assert.deepEqual(
        names(got).sort(),
        [
          'connection',
          'cookie',
          'host',
          'x-forwarded-for',
          'x-forwarded-port',
          'x-forwarded-proto',
          'x-forwarded-host',
          'x-request-id',
        ].sort(),
      )
    })

    it('X-Forwarded-Port follows the Host port', async () => {
      const got = await forwarded(request('GET /public/x HTTP/1.1', ['Host: gw.test:8443']))
      assert.deepEqual(upstream.values('x-forwarded-port', got), ['8443'])
      assert.deepEqual(upstream.values('x-forwarded-host', got), ['gw.test:8443'])
    })
  })

  describe('3b. the same headers from a trust_proxy peer', () => {
    let trusting: TestGateway
    before(async () => {
      trusting = await startGateway({
        server: { listen: '127.0.0.1:0', trust_proxy: ['127.0.0.1'] },
        upstream: { url: upstream.url },
        routes: ROUTES,
      })
    })
    after(() => trusting.close())

    it('are passed on, except the path overrides', async () => {
      const before = upstream.received.length
      const bytes = request('GET /public/x HTTP/1.1', [
        'X-Forwarded-Proto: https',
        'X-Forwarded-Host: app.example.com',
        'X-Forwarded-Port: 8443',
        'X-Forwarded-Prefix: /app',
        'X-Real-IP: 203.0.113.9',
        'Forwarded: for=203.0.113.9',
        'X-Original-URL: /org/o1/admin/x',
        'X-Rewrite-URL: /org/o1/admin/x',
      ])
      assert.deepEqual(statuses(await exchange(trusting.running.gateway.port, bytes)), [200])
      const got = upstream.received[before]!
      assert.deepEqual(upstream.values('x-forwarded-prefix', got), ['/app'])
      assert.deepEqual(upstream.values('x-real-ip', got), ['203.0.113.9'])
      assert.deepEqual(upstream.values('forwarded', got), ['for=203.0.113.9'])
      assert.deepEqual(upstream.values('x-forwarded-port', got), ['8443'])
      assert.deepEqual(upstream.values('x-forwarded-proto', got), ['https'])
      assert.deepEqual(upstream.values('x-original-url', got), [])
      assert.deepEqual(upstream.values('x-rewrite-url', got), [])
    })
  })

  describe('4. Host (RFC 9112 §3.2)', () => {
    const bad: [string, string[]][] = [
      ['two Host lines', ['Host: gw.test', 'Host: internal.admin']],
      ['userinfo', ['Host: evil@gw.test']],
      ['a non-ASCII host', ['Host: gw\xe9.test']],
      ['a port past 65535', ['Host: gw.test:99999']],
      ['a port that is not a number', ['Host: gw.test:8o']],
      ['two ports', ['Host: gw.test:80:81']],
      ['a path in the host', ['Host: gw.test/admin']],
      ['an empty Host', ['Host:']],
    ]
    for (const [name, lines] of bad) {
      it(`${name} → 400`, async () => {
        await refused(request('GET /public/x HTTP/1.1', lines), 400)
      })
    }

    it('an IPv6 literal with a port is fine', async () => {
      const got = await forwarded(request('GET /public/x HTTP/1.1', ['Host: [::1]:8080']))
      assert.deepEqual(upstream.values('x-forwarded-host', got), ['[::1]:8080'])
    })

    it('absolute-form targets stay refused', async () => {
      await refused(request('GET http://internal.admin/public/x HTTP/1.1'), 400)
    })
  })

  describe('5. methods', () => {
    for (const method of ['TRACE', 'TRACK']) {
      it(`${method} → 405 problem+json, on any route`, async () => {
        await refused(request(`${method} /public/x HTTP/1.1`, ['Cookie: session=secret']), 405)
        await refused(request(`${method} /api/x HTTP/1.1`, [`Authorization: Bearer ${member}`]), 405)
      })
    }

    it('CONNECT → 405 problem+json instead of a silently closed socket', async () => {
      const result = await attack('CONNECT internal-db:5432 HTTP/1.1\r\nHost: internal-db:5432\r\n\r\n')
      assert.deepEqual(result.statuses, [405])
      assert.match(result.response, /application\/problem\+json/)
      assert.equal(result.reached.length, 0)
    })

    it('a WebDAV method needs a route that lists it', async () => {
      const refusedHere = await refused(request('PROPFIND /public/x HTTP/1.1'), 405)
      assert.match(refusedHere, /allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS/i)
      const got = await forwarded(request('PROPFIND /dav/x HTTP/1.1', [`Authorization: Bearer ${member}`]))
      assert.equal(got.requestLine, 'PROPFIND /dav/x HTTP/1.1')
    })

    it('method overrides are removed', async () => {
      const got = await forwarded(
        request('GET /dav/x HTTP/1.1', [
          `Authorization: Bearer ${member}`,
          'X-HTTP-Method-Override: DELETE',
          'X_HTTP_Method: DELETE',
          'X-Method-Override: DELETE',
        ]),
      )
      assert.ok(!got.headers.some(([, v]) => v === 'DELETE'))
    })
  })

  describe('6. letter case cannot reach a weaker rule', () => {
    for (const path of ['/org/o1/ADMIN/users', '/org/o1/Admin/users', '/ORG/o1/admin/users', '/org/o1/aDmIn/users']) {
      it(`${path} from a member is 403 and never forwarded`, async () => {
        await refused(request(`GET ${path} HTTP/1.1`, [`Authorization: Bearer ${member}`]), 403)
      })
    }

    it('an admin gets through, with the path as sent', async () => {
      const got = await forwarded(request('GET /org/o1/ADMIN/users HTTP/1.1', [`Authorization: Bearer ${admin}`]))
      assert.equal(got.requestLine, 'GET /org/o1/ADMIN/users HTTP/1.1')
    })
  })

  describe('7. Unicode look-alikes', () => {
    for (const [name, path] of [
      ['fullwidth a', '/org/o1/%EF%BD%81dmin/users'],
      ['fullwidth percent', '/public/%EF%BC%85%32%65'],
      ['the fi ligature', '/public/%EF%AC%81le'],
      ['the Kelvin sign', '/public/%E2%84%AA'],
      ['a decomposed é', '/files/e%CC%81'],
    ]) {
      it(`${name} → 400`, async () => {
        await refused(request(`GET ${path} HTTP/1.1`, [`Authorization: Bearer ${member}`]), 400)
      })
    }

    it('ordinary UTF-8 passes unchanged', async () => {
      const got = await forwarded(request('GET /files/%C3%A9t%C3%A9 HTTP/1.1'))
      assert.equal(got.requestLine, 'GET /files/%C3%A9t%C3%A9 HTTP/1.1')
    })
  })

  describe('8. Expect: 100-continue', () => {
    const head = (lines: string[]) =>
      ['POST /api/upload HTTP/1.1', 'Host: gw.test', 'Expect: 100-continue', 'Content-Length: 5', ...lines, '', ''].join('\r\n')

    it('an unauthenticated upload gets its 401 at once, no 100, and the connection closes', async () => {
      const result = await attack(head([]), 3000)
      assert.deepEqual(result.statuses, [401])
      assert.match(result.response, /connection: close/i)
      assert.equal(result.reached.length, 0)
    })

    it('an authorized upload is invited with 100 Continue, then forwarded', async () => {
      const before = upstream.received.length
      const socket = connect(port, '127.0.0.1')
      const response = await new Promise<string>((resolve) => {
        let text = ''
        let sent = false
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1')
          if (!sent && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
            sent = true
            socket.write('hello')
          }
          if (text.endsWith('\r\n\r\nok')) resolve(text)
        })
        socket.write(head([`Authorization: Bearer ${member}`]))
      })
      socket.destroy()
      assert.deepEqual(statuses(response), [100, 200])
      assert.equal(upstream.received[before]!.body.toString(), 'hello')
      assert.equal(upstream.values('expect', upstream.received[before]).length, 0)
    })
  })

  describe('double encoding', () => {
    for (const path of ['/public/%252e%252e/org/o1/admin/x', '/public/%252F..%252Forg', '/public/a%2541', '/public/%25%32%65']) {
      it(`${path} → 400: an upstream that decodes twice would see another path`, async () => {
        await refused(request(`GET ${path} HTTP/1.1`), 400)
      })
    }

    it('a lone escaped percent passes', async () => {
      const got = await forwarded(request('GET /files/100%25 HTTP/1.1'))
      assert.equal(got.requestLine, 'GET /files/100%25 HTTP/1.1')
    })
  })

  describe('framing and parsing (Node history, Traefik, Envoy advisories)', () => {
    it('HTTP/2.0 and HTTP/0.9-style request lines → 505 / 400, nothing forwarded', async () => {
      await refused(request('GET /public/x HTTP/2.0'), 505)
      const result = await attack('GET /public/x\r\n\r\n')
      assert.equal(result.reached.length, 0)
    })

    it('Transfer-Encoding: gzip, chunked → 400', async () => {
      await refused(request('POST /public/x HTTP/1.1', ['Transfer-Encoding: gzip, chunked'], '0\r\n\r\n'), 400)
    })

    it('Content-Length with Transfer-Encoding → 400 (Node) and the smuggled request never reaches the upstream', async () => {
      const smuggled = 'GET /org/o1/admin/x HTTP/1.1\r\nHost: gw.test\r\n\r\n'
      const result = await attack(
        `POST /public/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      )
      assert.deepEqual(result.statuses, [400])
      assert.ok(!result.reached.some((r) => r.requestLine.includes('/admin')))
    })

    it('identity headers in chunked trailers are never forwarded', async () => {
      const got = await forwarded(
        request(
          'POST /public/x HTTP/1.1',
          ['Transfer-Encoding: chunked'],
          '3\r\nabc\r\n0\r\nX-Gatehouse-User-Id: admin\r\nX-Forwarded-Prefix: /public\r\n\r\n',
        ),
      )
      assert.equal(got.body.toString(), 'abc')
      assert.deepEqual(got.trailers, [])
      assert.ok(!got.head.includes('admin'))
    })

    it('a pipelined second request is decided on its own', async () => {
      const bytes =
        'GET /public/x HTTP/1.1\r\nHost: gw.test\r\n\r\n' + 'GET /org/o1/admin/x HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n'
      const result = await attack(bytes)
      assert.deepEqual(result.statuses, [200, 401])
      assert.deepEqual(
        result.reached.map((r) => r.requestLine),
        ['GET /public/x HTTP/1.1'],
      )
    })

    it('an h2c upgrade reaches the upstream as a plain request', async () => {
      const got = await forwarded(request('GET /public/x HTTP/1.1', ['Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']))
      assert.ok(!names(got).includes('upgrade') && !names(got).includes('http2-settings'))
    })

    it('dotted spellings of identity headers are stripped', async () => {
      const got = await forwarded(
        request('GET /api/x HTTP/1.1', [`Authorization: Bearer ${member}`, 'X.Gatehouse.User.Id: admin', 'X-Gatehouse.Org-Role: Owner']),
      )
      assert.deepEqual(upstream.values('x-gatehouse-user-id', got), ['u-member'])
      assert.ok(!got.headers.some(([n, v]) => n.includes('.') || v === 'admin' || v === 'Owner'))
    })

    it('no header line is silently dropped: a duplicate credential after 2,100 headers is still seen', async () => {
      const filler = Array.from({ length: 2100 }, (_, i) => `a${i}: 1`)
      await refused(request('GET /api/x HTTP/1.1', [`Authorization: Bearer ${member}`, ...filler, `Authorization: Bearer ${admin}`]), 400)
    })
  })

  describe('org id pollution', () => {
    it('the org id header twice → 400', async () => {
      await refused(request('GET /hdr-org/x HTTP/1.1', [`Authorization: Bearer ${member}`, 'X-Org-Id: o1', 'X-Org-Id: o2']), 400)
    })

    it('the org id header and an underscore or dot alias of it → 400', async () => {
      for (const alias of ['X_Org_Id: o2', 'X.Org.Id: o2', 'x-org_id: o2']) {
        await refused(request('GET /hdr-org/x HTTP/1.1', [`Authorization: Bearer ${member}`, 'X-Org-Id: o1', alias]), 400)
      }
    })

    it('the org id query parameter twice → 400', async () => {
      await refused(request('GET /q-org/x?org_id=o1&org_id=o2 HTTP/1.1', [`Authorization: Bearer ${member}`]), 400)
    })

    it('the org id given once is decided and forwarded as sent', async () => {
      const got = await forwarded(request('GET /q-org/x?org_id=o1 HTTP/1.1', [`Authorization: Bearer ${member}`]))
      assert.deepEqual(upstream.values('x-gatehouse-org-id', got), ['o1'])
    })
  })
})
