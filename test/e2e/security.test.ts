import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { SignJWT, UnsecuredJWT } from 'jose'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { rawRequest } from '../support/http.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

describe('security through the real gateway', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  let gateway: TestGateway
  let port: number
  let token: string

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
    await issuer.addKey('RS256')
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: {
        issuers: [{ issuer: issuer.issuer, audience: 'my-api', jwks_url: issuer.jwksUrl, algorithms: ['ES256', 'RS256'] }],
      },
      routes: [
        { path: '/public/*', auth: 'none' },
        { path: '/admin/*', auth: 'org_member', org_id: 'header:X-Org', min_role: 'Admin' },
        { path: '/api/*', auth: 'user' },
      ],
    })
    port = gateway.running.gateway.port
    token = await issuer.sign({ ...propelauthClaims('u-1'), aud: 'my-api' })
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await upstream.close()
  })

  const status = async (t: string) => (await fetch(`${gateway.url}/api/x`, { headers: { authorization: `Bearer ${t}` } })).status

  describe('spoofed identity headers never reach the upstream', () => {
    const spellings = [
      'X-Gatehouse-User-Id',
      'x-gatehouse-user-id',
      'X-GATEHOUSE-USER-ID',
      'x_gatehouse_user_id',
      'X_Gatehouse-User_Id',
      'x-gatehouse-assertion',
      'X_GATEHOUSE_ASSERTION',
      'X-Gatehouse-Org-Role',
      'X-Gatehouse-Anything-New',
    ]
    for (const name of spellings) {
      it(`${name} on a public and on an authenticated route`, async () => {
        for (const [path, auth] of [
          ['/public/a', {}],
          ['/api/a', { Authorization: `Bearer ${token}` }],
        ] as const) {
          const res = await rawRequest(port, path, { [name]: 'u-evil', ...auth })
          assert.equal(res.status, 200)
          const raw = upstream.last().rawHeaders
          for (let i = 0; i < raw.length; i += 2) {
            assert.ok(raw[i + 1] !== 'u-evil', `${raw[i]} reached the upstream with the spoofed value`)
          }
        }
      })
    }

    it('a Connection header naming an identity header does not remove the real one', async () => {
      const res = await rawRequest(port, '/api/a', {
        Authorization: `Bearer ${token}`,
        Connection: 'close, X-Gatehouse-User-Id, X-Gatehouse-Assertion',
      })
      assert.equal(res.status, 200)
      assert.equal(upstream.last().headers['x-gatehouse-user-id'], 'u-1')
      assert.ok(upstream.last().headers['x-gatehouse-assertion'])
    })

    it('method-override and path-override headers are removed', async () => {
      await rawRequest(port, '/public/a', { 'X-HTTP-Method-Override': 'DELETE', 'X-Original-URL': '/admin/x' })
      const seen = upstream.last().headers
      assert.equal(seen['x-http-method-override'], undefined)
      assert.equal(seen['x-original-url'], undefined)
    })

    it('forwarding headers from an untrusted peer are replaced', async () => {
      await rawRequest(port, '/public/a', { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https', 'X-Request-Id': 'spoofed' })
      const seen = upstream.last().headers
      assert.equal(seen['x-forwarded-for'], '127.0.0.1')
      assert.equal(seen['x-forwarded-proto'], 'http')
      assert.notEqual(seen['x-request-id'], 'spoofed')
    })
  })

  describe('path tricks never reach a route they should not', () => {
    // Each target would reach /admin/... (org Admin required) at a lax upstream if matched as /public or
    // /api; gatehouse must either refuse it (400) or match and forward the canonical form only.
    const tricks: [string, number, string?][] = [
      ['/public/../admin/x', 403, '/admin/x'],
      ['/public/%2e%2e/admin/x', 403, '/admin/x'],
      ['/public/.%2E/admin/x', 403, '/admin/x'],
      ['/public/%2e%2e%2fadmin/x', 400],
      ['/public/..%2Fadmin/x', 400],
      ['/public/x%2F..%2F..%2Fadmin', 400],
      ['//admin/x', 403, '/admin/x'],
      ['/public//../admin/x', 403, '/admin/x'],
      ['/admin;/x', 400],
      ['/public/x;/../../admin/x', 400],
      ['/public/..%3B/admin/x', 400],
      ['/public\\..\\admin/x', 400],
      ['/public/%5c..%5cadmin/x', 400],
      ['/public/a%00/../../admin/x', 400],
      ['http://evil.example/admin/x', 400],
      ['*', 400],
      ['/public/%ff', 400],
    ]
    for (const [target, expected, forwardedPath] of tricks) {
      it(`${target} → ${expected}`, async () => {
        const before = upstream.received.length
        const res = await rawRequest(port, target, { Authorization: `Bearer ${token}`, 'X-Org': 'org-1' })
        assert.equal(res.status, expected, res.body)
        if (expected >= 400) {
          assert.equal(upstream.received.length, before, 'refused requests never reach the upstream')
          assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/)
        } else {
          assert.equal(upstream.last().url, forwardedPath)
        }
      })
    }

    it('the matched path is the forwarded path', async () => {
      const res = await rawRequest(port, '/public/a/./b/../c/%7Euser?q=%2e%2e', {})
      assert.equal(res.status, 200)
      assert.equal(upstream.last().url, '/public/a/c/~user?q=%2e%2e')
    })
  })

  describe('token attacks', () => {
    it('a valid token passes (the baseline for the others)', async () => {
      assert.equal(await status(token), 200)
    })

    it('alg: none is refused', async () => {
      const unsigned = new UnsecuredJWT({ ...propelauthClaims('u-1'), aud: 'my-api' })
        .setIssuer(issuer.issuer)
        .setExpirationTime('5m')
        .encode()
      assert.equal(await status(unsigned), 401)
    })

    it('HS256 signed with the RSA public key (algorithm confusion) is refused', async () => {
      const rsa = issuer.keys.find((k) => k.alg === 'RS256')!
      const pem = createPublicKey({ key: rsa.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
      const forged = await new SignJWT({ ...propelauthClaims('u-1'), aud: 'my-api' })
        .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
        .setIssuer(issuer.issuer)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(String(pem)))
      assert.equal(await status(forged), 401)
    })

    it('an RS256 token verifies with its own key', async () => {
      const rsa = issuer.keys.find((k) => k.alg === 'RS256')!
      assert.equal(await status(await issuer.sign({ ...propelauthClaims('u-1'), aud: 'my-api' }, { key: rsa })), 200)
    })

    it('a key presented under another kid does not verify', async () => {
      const [es, rsa] = [issuer.keys[0]!, issuer.keys.find((k) => k.alg === 'RS256')!]
      const mixed = await issuer.sign({ ...propelauthClaims('u-1'), aud: 'my-api' }, { key: es, header: { kid: rsa.kid } })
      assert.equal(await status(mixed), 401)
    })

    it('wrong issuer and wrong audience are refused', async () => {
      assert.equal(await status(await issuer.sign({ ...propelauthClaims('u-1'), aud: 'my-api', iss: 'https://evil.example' })), 401)
      assert.equal(await status(await issuer.sign({ ...propelauthClaims('u-1'), aud: 'other-api' })), 401)
      assert.equal(await status(await issuer.sign({ ...propelauthClaims('u-1') })), 401)
    })

    it('expired beyond the 60 s leeway is refused; within it is accepted', async () => {
      assert.equal(await status(await issuer.sign({ ...propelauthClaims('u-1'), aud: 'my-api' }, { expiresIn: -120 })), 401)
      assert.equal(await status(await issuer.sign({ ...propelauthClaims('u-1'), aud: 'my-api' }, { expiresIn: -30 })), 200)
    })

    it('not yet valid beyond the leeway is refused', async () => {
      const nbf = Math.floor(Date.now() / 1000) + 600
      assert.equal(await status(await issuer.sign({ ...propelauthClaims('u-1'), aud: 'my-api', nbf })), 401)
    })

    it('a token without user_id is refused', async () => {
      assert.equal(await status(await issuer.sign({ email: 'x@example.com', aud: 'my-api' })), 401)
    })
  })
})
