import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { readRequestFacts, readRequestHeaders } from '../../src/decide/request-headers.ts'
import { checkInboundHeaders } from '../../src/http/index.ts'

/** Header sections as Node's rawHeaders gives them: each must read the same in one walk as in the checks' walk and the facts' walk. */
const SECTIONS: { name: string; raw: string[]; version?: string }[] = [
  { name: 'a cached-token request', raw: ['Host', 'gw.example', 'Authorization', 'Bearer t', 'User-Agent', 'x', 'Accept', '*/*'] },
  {
    name: 'forwarded by a proxy, repeated lines joined',
    raw: [
      'host',
      'gw.example:8080',
      'X-Forwarded-For',
      '10.0.0.1',
      'x-forwarded-for',
      '10.0.0.2',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'a.example',
      'X-Forwarded-Port',
      '443',
      'X-Request-Id',
      'r1',
    ],
  },
  { name: 'an API key and a body', raw: ['Host', 'gw.example', 'X-Api-Key', 'k1', 'Content-Length', '12'] },
  { name: 'chunked', raw: ['Host', 'gw.example', 'Transfer-Encoding', 'chunked'] },
  { name: 'an empty body', raw: ['Host', 'gw.example', 'Content-Length', '0'] },
  { name: 'HTTP/1.0 without Host', raw: ['Accept', '*/*'], version: '1.0' },
  { name: 'two Authorization lines', raw: ['Host', 'h', 'Authorization', 'Bearer a', 'authorization', 'Bearer b'] },
  { name: 'two X-Api-Key lines', raw: ['Host', 'h', 'X-Api-Key', 'a', 'x-api-key', 'b'] },
  { name: 'an X-Api-Key list', raw: ['Host', 'h', 'X-Api-Key', 'a, b'] },
  { name: 'X_Api_Key spelled with underscores', raw: ['Host', 'h', 'X_Api_Key', 'a'] },
  { name: 'gzip, chunked', raw: ['Host', 'h', 'Transfer-Encoding', 'gzip, chunked'] },
  { name: 'two Host lines', raw: ['Host', 'a', 'Host', 'b'] },
  { name: 'no Host on HTTP/1.1', raw: ['Accept', '*/*'] },
  { name: 'a Host with userinfo', raw: ['Host', 'user@h'] },
  { name: 'HTTP/2.0', raw: ['Host', 'h'], version: '2.0' },
]

const outcome = (read: () => unknown) => {
  try {
    return { value: read() }
  } catch (err) {
    return { refused: (err as { problem?: { status: number; detail?: string } }).problem }
  }
}

describe('readRequestHeaders', () => {
  for (const { name, raw, version = '1.1' } of SECTIONS) {
    it(`reads ${name} as the checks and the facts read it apart`, () => {
      const together = outcome(() => readRequestHeaders(raw, version, '127.0.0.1'))
      const checks = outcome(() => checkInboundHeaders(raw, version))
      if ('refused' in checks) {
        assert.ok(checks.refused && checks.refused.status >= 400)
        return assert.deepEqual(together, checks)
      }
      const inbound = checks.value as ReturnType<typeof checkInboundHeaders>
      assert.deepEqual(together, { value: { inbound, facts: readRequestFacts(raw, '127.0.0.1', inbound.host) } })
    })
  }

  it('reads what the decision needs of a forwarded request', () => {
    const { facts, inbound } = readRequestHeaders(SECTIONS[1]!.raw, '1.1', '10.1.1.1')
    assert.equal(facts.xForwardedFor, '10.0.0.1, 10.0.0.2')
    assert.equal(facts.requestId, 'r1')
    assert.equal(facts.host, 'gw.example:8080')
    assert.equal(inbound.body, false)
  })
})
