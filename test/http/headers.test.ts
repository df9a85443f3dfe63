import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createForwardedHeaders, createInboundHeaderFilter, encodeHeaderValue, parseCidr } from '../../src/http/index.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Trust entries as the config schema hands them over: parsed once, by the one parser. */
function trusting(entries: string[]) {
  return createForwardedHeaders(
    entries.map((entry) => {
      const network = parseCidr(entry)
      if (!network) throw new Error(`bad test entry ${entry}`)
      return network
    }),
  )
}

describe('createInboundHeaderFilter', () => {
  const filter = createInboundHeaderFilter({ identityPrefix: 'X-Gatehouse-', assertionHeader: 'X-Gatehouse-Assertion' })
  const names = (raw: string[]) => filter(raw).filter((_, i) => i % 2 === 0)

  it('keeps ordinary headers, in order, with their original spelling and values', () => {
    const raw = ['Accept', 'text/html', 'Authorization', 'Bearer t', 'Cookie', 'a=1', 'Accept', 'application/json', 'X-Custom_Thing', 'v']
    assert.deepEqual(filter(raw), raw)
  })

  it('returns a new array and leaves the input alone', () => {
    const raw = ['Accept', '*/*', 'X-Gatehouse-User-Id', 'u1']
    const copy = [...raw]
    const out = filter(raw)
    assert.notEqual(out, raw)
    assert.deepEqual(raw, copy)
  })

  const spoofed = [
    'X-Gatehouse-User-Id',
    'x-gatehouse-user-id',
    'X-GATEHOUSE-USER-ID',
    'x_gatehouse_user_id',
    'X_Gatehouse_User_Id',
    'x-gatehouse_user-id',
    'x_gatehouse-user_id',
    'X-Gatehouse-Org-Role',
    'X-Gatehouse-Anything-New',
    'X-Gatehouse-',
    'X-Gatehouse-Assertion',
    'x_gatehouse_assertion',
  ]
  for (const name of spoofed) {
    it(`removes spoofed identity header ${name}`, () => {
      assert.deepEqual(filter(['Accept', '*/*', name, 'admin', 'Accept-Language', 'en']), ['Accept', '*/*', 'Accept-Language', 'en'])
    })
  }

  it('keeps headers that only resemble the prefix', () => {
    assert.deepEqual(names(['X-Gatehouse', 'a', 'X-Gatehousex-Id', 'b', 'Gatehouse-User-Id', 'c']), [
      'X-Gatehouse',
      'X-Gatehousex-Id',
      'Gatehouse-User-Id',
    ])
  })

  it('folds the policy names too, and removes an assertion header outside the prefix', () => {
    const custom = createInboundHeaderFilter({ identityPrefix: 'x_auth_', assertionHeader: 'Upstream-Assertion' })
    assert.deepEqual(custom(['X-Auth-User', 'u', 'upstream_assertion', 'jwt', 'UPSTREAM-ASSERTION', 'jwt', 'X-Auth', 'keep']), [
      'X-Auth',
      'keep',
    ])
  })

  it('refuses an empty identity prefix, which would strip every header', () => {
    assert.throws(() => createInboundHeaderFilter({ identityPrefix: '', assertionHeader: 'A' }), /prefix/)
  })

  const removed = [
    'X-HTTP-Method-Override',
    'x_http_method_override',
    'X-HTTP-Method',
    'X-Method-Override',
    'x-method_override',
    'Connection',
    'Keep-Alive',
    'Proxy-Connection',
    'proxy_connection',
    'TE',
    'Trailer',
    'Transfer-Encoding',
    'transfer_encoding',
    'Upgrade',
    'Proxy-Authorization',
    'Proxy-Authenticate',
    'Expect',
    'Host',
    'Forwarded',
    'X-Forwarded-For',
    'x_forwarded_for',
    'X-Forwarded-Proto',
    'X-Forwarded-Host',
    'X-Real-IP',
    'X-Request-Id',
    'X-Original-URL',
    'X-Rewrite-URL',
  ]
  for (const name of removed) {
    it(`removes ${name}`, () => assert.deepEqual(filter([name, 'v', 'Accept', '*/*']), ['Accept', '*/*']))
  }

  it('removes the headers named in Connection, wherever they appear', () => {
    const raw = [
      'X-Before',
      '1',
      'Connection',
      'keep-alive, X-Before , x_after',
      'Accept',
      '*/*',
      'X-After',
      '2',
      'connection',
      'Close,,X-Third',
      'x-third',
      '3',
      'X-Other',
      '4',
    ]
    assert.deepEqual(filter(raw), ['Accept', '*/*', 'X-Other', '4'])
  })

  it('folds Connection tokens like names', () => {
    assert.deepEqual(names(['Connection', 'X_Debug', 'x-debug', '1', 'X_DEBUG', '2', 'Accept', '*/*']), ['Accept'])
  })

  it('handles a Connection header naming only standard hop-by-hop headers', () => {
    assert.deepEqual(filter(['Connection', 'keep-alive, Upgrade', 'Upgrade', 'websocket', 'Accept', '*/*']), ['Accept', '*/*'])
  })

  it('reads each Connection value afresh, however often the same one came before', () => {
    // The filter is shared by every request: an answer it remembered for one value holds for that value only.
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(names(['Connection', 'keep-alive', 'X-Debug', '1']), ['X-Debug'])
      assert.deepEqual(names(['Connection', 'keep-alive, X-Debug', 'X-Debug', '1', 'Accept', '*/*']), ['Accept'])
    }
    for (let i = 0; i < 3000; i++) filter(['Connection', `x-noise-${i}`, 'X-Debug', '1'])
    assert.deepEqual(names(['Connection', 'X-Debug', 'X-Debug', '1', 'Accept', '*/*']), ['Accept'])
  })

  it('can be made to drop an end-to-end header only by the client itself', () => {
    // RFC 9110: a header the client lists in Connection is not forwarded, whatever it is.
    assert.deepEqual(names(['Connection', 'cookie', 'Cookie', 'a=1', 'Accept', '*/*']), ['Accept'])
  })

  it('decides the same after many distinct header names have gone through', () => {
    for (let i = 0; i < 3000; i++) filter([`X-Noise-${i}`, 'v', `x_gatehouse_${i}`, 'v'])
    assert.deepEqual(names(['X_Gatehouse_User_Id', 'admin', 'X-Noise-1', 'v', 'x-http-method-override', 'DELETE']), ['X-Noise-1'])
  })

  it('handles empty input', () => {
    assert.deepEqual(filter([]), [])
  })
})

describe('createForwardedHeaders', () => {
  describe('untrusted peer', () => {
    const forwarded = trusting(['10.0.0.0/8'])

    it('ignores every inbound forwarding header', () => {
      const out = forwarded({
        remoteAddress: '203.0.113.7',
        xForwardedFor: '1.1.1.1',
        xForwardedProto: 'https',
        xForwardedHost: 'evil.example',
        host: 'api.example.com',
        requestId: 'chosen-by-client',
      })
      assert.equal(out.forwardedFor, '203.0.113.7')
      assert.equal(out.clientIp, '203.0.113.7')
      assert.equal(out.proto, 'http')
      assert.equal(out.host, 'api.example.com')
      assert.match(out.requestId, UUID)
    })

    it('drops a malformed Host', () => {
      for (const host of ['a b', 'evil.example/x', 'a..b', '', 'host:port', 'x\u00e9', '[zz]', '@evil']) {
        assert.equal(forwarded({ remoteAddress: '203.0.113.7', host }).host, '', host)
      }
    })

    it('normalises a mapped IPv4 peer', () => {
      const out = forwarded({ remoteAddress: '::ffff:203.0.113.7' })
      assert.equal(out.forwardedFor, '203.0.113.7')
      assert.equal(out.clientIp, '203.0.113.7')
      assert.equal(out.host, '')
    })

    it('gives empty addresses when the socket is gone', () => {
      const out = forwarded({ remoteAddress: undefined, xForwardedFor: '1.1.1.1' })
      assert.equal(out.forwardedFor, '')
      assert.equal(out.clientIp, '')
    })

    it('trusts nobody by default', () => {
      const none = createForwardedHeaders([])
      assert.equal(none({ remoteAddress: '127.0.0.1', xForwardedFor: '1.1.1.1' }).clientIp, '127.0.0.1')
    })
  })

  describe('trusted peer', () => {
    const forwarded = trusting(['10.0.0.0/8', '192.168.1.5', '2001:db8::/32', '::1', '::ffff:172.16.0.0/108'])

    it('appends the peer to X-Forwarded-For and finds the client', () => {
      const out = forwarded({ remoteAddress: '10.1.2.3', xForwardedFor: '198.51.100.1' })
      assert.equal(out.forwardedFor, '198.51.100.1, 10.1.2.3')
      assert.equal(out.clientIp, '198.51.100.1')
    })

    it('cleans empty entries', () => {
      const out = forwarded({ remoteAddress: '10.1.2.3', xForwardedFor: ' , 198.51.100.1,,  10.9.9.9 ,' })
      assert.equal(out.forwardedFor, '198.51.100.1, 10.9.9.9, 10.1.2.3')
      assert.equal(out.clientIp, '198.51.100.1')
    })

    it('uses the peer alone without X-Forwarded-For', () => {
      const out = forwarded({ remoteAddress: '10.1.2.3' })
      assert.equal(out.forwardedFor, '10.1.2.3')
      assert.equal(out.clientIp, '10.1.2.3')
    })

    const chains: [string, string, string][] = [
      ['skips trusted hops from the right', '10.1.2.3', '198.51.100.1, 10.5.5.5, 192.168.1.5'],
      ['ignores spoofed entries left of the first untrusted one', '10.1.2.3', '6.6.6.6, 198.51.100.1'],
      ['works over IPv6 peers and entries', '2001:db8::1', '6.6.6.6, 2001:db8:ffff::1, ::1'],
      ['matches mapped addresses against IPv4 rules', '::ffff:10.0.0.1', '6.6.6.6, ::ffff:192.168.1.5'],
      ['matches IPv4 addresses against mapped rules', '172.16.0.9', '6.6.6.6, 172.16.3.4'],
      ['strips ports written by some proxies', '10.1.2.3', '6.6.6.6, 10.0.0.9:5678, [::1]:80'],
    ]
    const expected = ['198.51.100.1', '198.51.100.1', '6.6.6.6', '6.6.6.6', '6.6.6.6', '6.6.6.6']
    chains.forEach(([name, peer, xff], i) => {
      it(name, () => assert.equal(forwarded({ remoteAddress: peer, xForwardedFor: xff }).clientIp, expected[i]))
    })

    it('returns an untrusted IPv6 client, unmapped', () => {
      assert.equal(forwarded({ remoteAddress: '::1', xForwardedFor: '2001:db9::7' }).clientIp, '2001:db9::7')
      assert.equal(forwarded({ remoteAddress: '::1', xForwardedFor: '::ffff:198.51.100.1' }).clientIp, '198.51.100.1')
      assert.equal(forwarded({ remoteAddress: '::1', xForwardedFor: '[2001:db9::7]:443' }).clientIp, '2001:db9::7')
      assert.equal(forwarded({ remoteAddress: '::1', xForwardedFor: '198.51.100.1:443' }).clientIp, '198.51.100.1')
    })

    it('takes the leftmost entry when every hop is trusted', () => {
      assert.equal(forwarded({ remoteAddress: '10.0.0.1', xForwardedFor: '10.0.0.3, 10.0.0.2' }).clientIp, '10.0.0.3')
    })

    it('stops at an entry that is not an address and falls back to the hop that reported it', () => {
      assert.equal(forwarded({ remoteAddress: '10.0.0.1', xForwardedFor: '6.6.6.6, unknown, 10.0.0.2' }).clientIp, '10.0.0.2')
      assert.equal(forwarded({ remoteAddress: '10.0.0.1', xForwardedFor: 'garbage' }).clientIp, '10.0.0.1')
      assert.equal(forwarded({ remoteAddress: '10.0.0.1', xForwardedFor: '[::1' }).clientIp, '10.0.0.1')
      assert.equal(forwarded({ remoteAddress: '10.0.0.1', xForwardedFor: '1.2.3.4:x' }).clientIp, '10.0.0.1')
    })

    it('normalises a mapped trusted peer in X-Forwarded-For', () => {
      const out = forwarded({ remoteAddress: '::ffff:10.0.0.1', xForwardedFor: '198.51.100.1' })
      assert.equal(out.forwardedFor, '198.51.100.1, 10.0.0.1')
    })

    it('takes a well-formed X-Forwarded-Proto', () => {
      const proto = (xForwardedProto: string | undefined) => forwarded({ remoteAddress: '10.0.0.1', xForwardedProto }).proto
      assert.equal(proto('https'), 'https')
      assert.equal(proto(' HTTPS '), 'https')
      assert.equal(proto('http'), 'http')
      assert.equal(proto(undefined), 'http')
      assert.equal(proto('ftp'), 'http')
      assert.equal(proto('https, http'), 'http')
      assert.equal(proto('javascript'), 'http')
    })

    it('takes a well-formed X-Forwarded-Host, else the Host', () => {
      const host = (xForwardedHost: string | undefined, h?: string) =>
        forwarded({ remoteAddress: '10.0.0.1', xForwardedHost, host: h }).host
      assert.equal(host('api.example.com', 'internal:8080'), 'api.example.com')
      assert.equal(host('api.example.com:8443'), 'api.example.com:8443')
      assert.equal(host('[2001:db8::1]:443'), '[2001:db8::1]:443')
      assert.equal(host('127.0.0.1'), '127.0.0.1')
      assert.equal(host('my_service'), 'my_service')
      assert.equal(host(undefined, 'internal:8080'), 'internal:8080')
      assert.equal(host('a.com, b.com', 'internal'), 'internal')
      assert.equal(host('evil.com/x', 'internal'), 'internal')
      assert.equal(host('evil.com\r\nX: y', 'internal'), 'internal')
      assert.equal(host('[not-v6]', 'internal'), 'internal')
      assert.equal(host(`${'a'.repeat(64)}.com`, 'internal'), 'internal')
      assert.equal(host(`${'a.'.repeat(140)}com`, 'internal'), 'internal')
      assert.equal(host('bad host', 'also bad'), '')
    })

    it('takes a well-formed X-Request-Id, else makes one', () => {
      const id = (requestId: string | undefined) => forwarded({ remoteAddress: '10.0.0.1', requestId }).requestId
      assert.equal(id('abc-123'), 'abc-123')
      assert.equal(id('7f3a9c1e-5d2b-4c8a-9e6f-1a2b3c4d5e6f'), '7f3a9c1e-5d2b-4c8a-9e6f-1a2b3c4d5e6f')
      assert.equal(id('a.b_c:d-e'), 'a.b_c:d-e')
      assert.equal(id('x'.repeat(128)), 'x'.repeat(128))
      for (const bad of [undefined, '', 'x'.repeat(129), 'a b', 'a\r\nb', 'a/b', 'é', 'a=b']) assert.match(id(bad), UUID, String(bad))
    })

    it('decides the same after many distinct addresses have gone through', () => {
      for (let i = 0; i < 10_000; i++)
        forwarded({ remoteAddress: `10.${i >> 8}.${i & 255}.1`, xForwardedFor: `198.51.${i >> 8}.${i & 255}` })
      assert.equal(forwarded({ remoteAddress: '10.1.2.3', xForwardedFor: '6.6.6.6, 10.0.0.7' }).clientIp, '6.6.6.6')
      assert.equal(forwarded({ remoteAddress: '203.0.113.1', xForwardedFor: '6.6.6.6' }).clientIp, '203.0.113.1')
    })

    it('makes a new request id per request', () => {
      assert.notEqual(forwarded({ remoteAddress: '10.0.0.1' }).requestId, forwarded({ remoteAddress: '10.0.0.1' }).requestId)
    })
  })

  describe('trust list', () => {
    it('accepts addresses and CIDRs of both families', () => {
      const forwarded = trusting(['127.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '::/0', '::ffff:1.2.3.4'])
      assert.equal(forwarded({ remoteAddress: '8.8.8.8', xForwardedFor: '9.9.9.9' }).clientIp, '9.9.9.9')
    })

    it('trusts exactly what is listed', () => {
      const forwarded = trusting(['192.168.0.0/16', 'fd00::/8'])
      const client = (remoteAddress: string) => forwarded({ remoteAddress, xForwardedFor: '9.9.9.9' }).clientIp
      assert.equal(client('192.168.255.255'), '9.9.9.9')
      assert.equal(client('192.169.0.1'), '192.169.0.1')
      assert.equal(client('fdff::1'), '9.9.9.9')
      assert.equal(client('fe00::1'), 'fe00::1')
      assert.equal(client('::ffff:192.168.3.3'), '9.9.9.9')
      assert.equal(client('::ffff:192.169.0.1'), '192.169.0.1')
    })

    for (const entry of [
      '',
      'localhost',
      '10.0.0.0/',
      '10.0.0.0/33',
      '10.0.0.0/-1',
      '10.0.0.0/8/8',
      '10.0.0.0/ 8',
      '::1/129',
      '256.0.0.1',
      '10.0.0.0/0x8',
    ]) {
      it(`rejects trust entry ${JSON.stringify(entry)}`, () => {
        assert.equal(parseCidr(entry), undefined)
      })
    }
  })
})

describe('encodeHeaderValue', () => {
  const unchanged = [
    '',
    'user_123',
    'alice@example.com',
    'Owner',
    'read:users,write:users',
    'Ada Lovelace',
    '!"#$&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  ]
  for (const value of unchanged) {
    it(`leaves ${JSON.stringify(value)} unchanged`, () => assert.equal(encodeHeaderValue(value), value))
  }

  const encoded: [string, string][] = [
    ['100%', '100%25'],
    ['%41', '%2541'],
    ['a\r\nX-Gatehouse-User-Id: admin', 'a%0D%0AX-Gatehouse-User-Id:%20admin'],
    ['a\u0000b', 'a%00b'],
    ['tab\there', 'tab%09here'],
    ['del\u007f', 'del%7F'],
    ['José', 'Jos%C3%A9'],
    ['Zoë Ünal', 'Zo%C3%AB%20%C3%9Cnal'],
    ['日本', '%E6%97%A5%E6%9C%AC'],
    ['😀', '%F0%9F%98%80'],
    [' padded', '%20padded'],
    ['padded ', 'padded%20'],
    [' ', '%20'],
    ['lone \ud800 surrogate', 'lone%20%EF%BF%BD%20surrogate'],
  ]
  for (const [value, expected] of encoded) {
    it(`encodes ${JSON.stringify(value)}`, () => assert.equal(encodeHeaderValue(value), expected))
  }

  it('never outputs anything but printable ASCII, and decodeURIComponent recovers the value', () => {
    const values = [...unchanged, ...encoded.map(([v]) => v).filter((v) => !v.includes('\ud800')), 'a%2Fb', '%%', '% ', 'mixé%20 ']
    for (const value of values) {
      const header = encodeHeaderValue(value)
      assert.match(header, /^[\x20-\x7e]*$/, value)
      assert.ok(!header.startsWith(' ') && !header.endsWith(' '), value)
      assert.equal(decodeURIComponent(header), value)
    }
  })
})
