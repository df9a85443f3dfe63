import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'

describe('examples/python-upstream behind the real gateway (HS256 assertion)', () => {
  let python: ChildProcess
  let pythonUrl: string
  let issuer: TestIssuer
  let gateway: TestGateway

  before(async () => {
    python = spawn('python3', ['examples/python-upstream/server.py'], {
      env: { ...process.env, GATEHOUSE_ASSERTION_SECRET: SECRET, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('python upstream did not start')), 10_000)
      python.stdout!.on('data', (chunk: Buffer) => {
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(chunk.toString())
        if (m) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      })
    })
    pythonUrl = `http://127.0.0.1:${port}`
    issuer = await startIssuer()
    gateway = await startGateway({
      upstream: { url: pythonUrl },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      identity: { assertion: { algorithm: 'HS256', secret: SECRET } },
      routes: [
        { path: '/api/whoami', auth: 'user' },
        { path: '/org/:org_id/admin', auth: 'org_member', min_role: 'Admin' },
      ],
    })
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    python.kill()
  })

  it('the Python service verifies the assertion with hmac and answers who called', async () => {
    const token = await issuer.sign(propelauthClaims('u-py', { 'org-py': { role: 'Admin' } }))
    const res = await fetch(`${gateway.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 200)
    const body = (await res.json()) as Record<string, string>
    assert.equal(body.upstream, 'python')
    assert.equal(body.user_id, 'u-py')
    assert.equal(body.principal, 'user')
    const org = (await (
      await fetch(`${gateway.url}/org/org-py/admin`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as Record<string, string>
    assert.equal(org.org_id, 'org-py')
    assert.equal(org.org_role, 'Admin')
  })

  it('refuses a request around gatehouse: forged headers, no or forged assertion', async () => {
    const forged = await fetch(`${pythonUrl}/api/whoami`, { headers: { 'x-gatehouse-user-id': 'u-evil' } })
    assert.equal(forged.status, 401)
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'gatehouse', aud: 'upstream', exp: Math.floor(Date.now() / 1000) + 60, identity: { principal: 'user', user: { userId: 'u-evil' } } })}`
    const wrongKey = `${input}.${createHmac('sha256', 'not-the-secret').update(input).digest('base64url')}`
    const res = await fetch(`${pythonUrl}/api/whoami`, { headers: { 'x-gatehouse-assertion': wrongKey } })
    assert.equal(res.status, 401)
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${input.split('.')[1]}.`
    assert.equal((await fetch(`${pythonUrl}/api/whoami`, { headers: { 'x-gatehouse-assertion': none } })).status, 401)
  })

  it('holds an assertion bound to a request (bind_request) to its method and path', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const claims = {
      iss: 'gatehouse',
      aud: 'upstream',
      exp: Math.floor(Date.now() / 1000) + 30,
      identity: { principal: 'user', user: { userId: 'u-py' } },
    }
    const signed = (extra: object) => {
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, ...extra })}`
      return { 'x-gatehouse-assertion': `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}` }
    }
    const bound = signed({ htm: 'GET', htp: '/api/whoami?view=full', jti: 'req-1' })
    assert.equal((await fetch(`${pythonUrl}/api/whoami?view=full`, { headers: bound })).status, 200)
    const elsewhere = await fetch(`${pythonUrl}/api/whoami`, { headers: bound })
    assert.equal(elsewhere.status, 401)
    assert.equal(((await elsewhere.json()) as { detail: string }).detail, 'bound to another request')
    const partial = signed({ htm: 'GET', htp: '/api/whoami' })
    assert.equal((await fetch(`${pythonUrl}/api/whoami`, { headers: partial })).status, 401)
  })
})
