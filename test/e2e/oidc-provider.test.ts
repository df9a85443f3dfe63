import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { API, SERVICE_CLIENT, startOidcProvider } from '../support/oidc-provider.ts'
import type { TestProvider } from '../support/oidc-provider.ts'
import { freePort } from '../support/services.ts'
import { stringify } from 'yaml'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const COOLDOWN_MS = 500

// The whole issuer entry: discovery finds the JWKS; no jwks_url anywhere.
const issuerEntry = (issuer: string) => ({ issuer, audience: API, algorithms: ['ES256'], claims: 'oidc', token_type: 'access' })

const ROUTES = [
  { path: '/me', auth: 'user' },
  { path: '/jobs', auth: 'authenticated', credentials: ['service_token'] },
  { path: '/any', auth: 'authenticated' },
  { path: '/reports', auth: 'authenticated', scopes: ['write'] },
]

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** `gatehouse check --online` in a child process, as an operator runs it: its exit code and output. */
async function checkOnline(issuers: Record<string, unknown>[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-'))
  try {
    const file = join(dir, 'gatehouse.yaml')
    writeFileSync(file, stringify({ upstream: { url: 'http://127.0.0.1:1' }, tokens: { issuers }, routes: [{ path: '/x', auth: 'user' }] }))
    const env = { ...process.env }
    delete env.GATEHOUSE_CONFIG
    return await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'check', '--online', '--config', file], {
      cwd: ROOT,
      env,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

type Readiness = { status: string; checks: { token_keys: { ready: boolean; detail: { unready: { issuer: string; error?: string }[] } } } }

async function eventually<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const value = await attempt()
    if (value !== undefined) return value
    await delay(100)
  }
  throw new Error(`${what} never happened`)
}

describe('a real OpenID provider (oidc-provider) behind an issuer-only config', () => {
  let provider: TestProvider
  let upstream: TestUpstream
  let gateway: TestGateway

  before(async () => {
    upstream = await startUpstream()
    provider = await startOidcProvider(await freePort())
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: { jwks: { cooldown: `${COOLDOWN_MS}ms`, refresh: '10m', timeout: '2s' }, issuers: [issuerEntry(provider.issuer)] },
      routes: ROUTES,
    })
    await eventually('readiness', async () => ((await fetch(`${gateway.adminUrl}/readyz`)).status === 200 ? true : undefined))
  })

  after(async () => {
    await gateway.close()
    await provider.close()
    await upstream.close()
  })

  const call = (path: string, token: string) => fetch(gateway.url + path, { headers: { authorization: `Bearer ${token}` } })
  const status = async (path: string, token: string) => {
    const res = await call(path, token)
    await res.arrayBuffer()
    return res.status
  }

  it('a client-credentials token is principal service with its client id: service routes yes, user routes no', async () => {
    const token = await provider.clientCredentialsToken('read')
    assert.equal(await status('/jobs', token), 200)
    assert.equal(upstream.last().headers['x-gatehouse-principal'], 'service')
    assert.equal(upstream.last().headers['x-gatehouse-client-id'], SERVICE_CLIENT.id)
    assert.equal(upstream.last().headers['x-gatehouse-user-id'], undefined)
    assert.equal(await status('/any', token), 200)
    const logged = gateway.logs.filter((l) => l.msg === 'request' && l.path === '/any').at(-1)
    assert.deepEqual([logged?.client_id, logged?.user_id], [SERVICE_CLIENT.id, undefined])
    const me = await call('/me', token)
    assert.equal(me.status, 403)
    assert.equal(((await me.json()) as { detail: string }).detail, 'This route does not accept this kind of credential')
  })

  it("scopes: a service token needs the route's scopes in its scope claim", async () => {
    assert.equal(await status('/reports', await provider.clientCredentialsToken('read')), 403)
    assert.equal(await status('/reports', await provider.clientCredentialsToken('read write')), 200)
  })

  it('an authorization-code token (login and consent through the provider) is principal user with its sub', async () => {
    const token = await provider.userToken('alice', 'read')
    assert.equal(await status('/me', token), 200)
    assert.equal(upstream.last().headers['x-gatehouse-principal'], 'user')
    assert.equal(upstream.last().headers['x-gatehouse-user-id'], 'alice')
    assert.equal(upstream.last().headers['x-gatehouse-client-id'], undefined)
    assert.equal(await status('/jobs', token), 403, 'a user token is not a service token')
    // Granted read only: the user's token is narrowed to the scopes it states.
    assert.equal(await status('/reports', token), 403)
    assert.equal(await status('/reports', await provider.userToken('bob', 'read write')), 200)
  })

  it('check --online fetches discovery and JWKS without starting, and reports offered against pinned algorithms', async () => {
    const ok = await checkOnline([issuerEntry(provider.issuer)])
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, new RegExp(`issuer ${provider.issuer}\\n  discovery: ${provider.issuer}/\\.well-known/openid-configuration\\n`))
    assert.match(ok.stdout, new RegExp(`  jwks: ${provider.issuer}/jwks \\(1 key\\)\\n  algorithms offered: ES256; pinned: ES256\\n`))

    const unpinned = await checkOnline([{ ...issuerEntry(provider.issuer), algorithms: ['RS256'] }])
    assert.equal(unpinned.code, 1)
    assert.match(unpinned.stdout, /algorithms offered: ES256; pinned: RS256/)
    assert.match(unpinned.stderr, /none of the algorithms offered is pinned/)

    const nobody = `http://127.0.0.1:${await freePort()}`
    const down = await checkOnline([issuerEntry(nobody)])
    assert.equal(down.code, 1)
    assert.match(down.stderr, new RegExp(`error: fetching ${nobody}/\\.well-known/openid-configuration failed`))
  })

  it('two key rotations at the provider within a minute: no valid token is ever refused', async () => {
    const before = await provider.clientCredentialsToken('read')
    assert.equal(await status('/any', before), 200)
    const seen: number[] = []
    for (let rotation = 0; rotation < 2; rotation++) {
      await provider.rotate(1)
      const fresh = await provider.clientCredentialsToken('read')
      // The new kid is unknown to the gateway until it refetches; the cooldown since the last fetch has passed.
      await delay(COOLDOWN_MS + 100)
      seen.push(await status('/any', fresh))
      // A token of the key before is still published (the provider keeps one old key) and still valid.
      seen.push(await status('/any', await provider.userToken(`user-${rotation}`, 'read')))
    }
    assert.deepEqual(seen, [200, 200, 200, 200])
    assert.ok(provider.signingKid === 'key-3')
  })
})

describe('the provider down at start, then up, then down again', () => {
  let port: number
  let provider: TestProvider | undefined
  let upstream: TestUpstream
  let gateway: TestGateway

  before(async () => {
    port = await freePort()
    upstream = await startUpstream()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      tokens: {
        jwks: { cooldown: `${COOLDOWN_MS}ms`, refresh: '10m', timeout: '1s' },
        issuers: [issuerEntry(`http://127.0.0.1:${port}`)],
      },
      routes: ROUTES,
    })
  })

  after(async () => {
    await gateway.close()
    await provider?.close()
    await upstream.close()
  })

  it('at start: tokens are 503 with Retry-After, never 401, and /readyz names the issuer and the error', async () => {
    // A token this issuer really signed, minted while the gateway makes no request of it.
    provider = await startOidcProvider(port)
    const token = await provider.clientCredentialsToken('read')
    await provider.stop()
    await delay(COOLDOWN_MS + 100)
    const down = await fetch(gateway.url + '/any', { headers: { authorization: `Bearer ${token}` } })
    assert.equal(down.status, 503)
    assert.ok(Number(down.headers.get('retry-after')) >= 1)
    await down.arrayBuffer()

    const ready = await fetch(`${gateway.adminUrl}/readyz`)
    assert.equal(ready.status, 503)
    const body = (await ready.json()) as Readiness
    assert.equal(body.checks.token_keys.ready, false)
    assert.deepEqual(
      body.checks.token_keys.detail.unready.map((u) => u.issuer),
      [`http://127.0.0.1:${port}`],
    )
    assert.match(
      body.checks.token_keys.detail.unready[0]!.error ?? '',
      /OpenID Connect discovery for http:\/\/127\.0\.0\.1:\d+ failed: fetching http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration failed/,
    )
  })

  it('when the provider comes up the same token passes; when it goes down again, the fetched keys keep working', async () => {
    await provider!.start()
    const token = await provider!.clientCredentialsToken('read')
    const statusOf = async (t: string) => {
      const res = await fetch(gateway.url + '/any', { headers: { authorization: `Bearer ${t}` } })
      await res.arrayBuffer()
      return res.status
    }
    await eventually('the first key fetch', async () => ((await statusOf(token)) === 200 ? true : undefined))
    assert.equal((await fetch(`${gateway.adminUrl}/readyz`)).status, 200)

    const another = await provider!.clientCredentialsToken('read write')
    await provider!.stop()
    // Not cached (a token never seen), verified with the keys fetched before the outage.
    assert.equal(await statusOf(another), 200)
    assert.equal((await fetch(`${gateway.adminUrl}/readyz`)).status, 200)
  })
})
