import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { benchAdminKey, createBenchKeys } from '../../bench/apikeys.ts'
import { gatehouseConfig } from '../../bench/targets/gatehouse.ts'

type Call = { path: string; authorization: string | undefined; body: Record<string, unknown> }

/** A stand-in for gatehouse's admin API: answers what the harness calls, records every call. */
async function stubAdmin(fail?: string): Promise<{ origin: string; calls: Call[]; close(): Promise<void> }> {
  const calls: Call[] = []
  let users = 0
  let keys = 0
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (chunk: Buffer) => (text += chunk.toString()))
    req.on('end', () => {
      const path = req.url ?? ''
      calls.push({ path, authorization: req.headers.authorization, body: JSON.parse(text) as Record<string, unknown> })
      const answer = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      if (path === fail) return answer(409, { error: 'conflict' })
      if (path === '/v1/orgs') return answer(201, { org_id: 'org-1', name: 'x' })
      if (path === '/v1/users') return answer(201, { user_id: `user-${users++}` })
      if (path === '/v1/orgs/org-1/members') return answer(201, {})
      if (path === '/v1/api_keys') return answer(201, { api_key_id: `key-${keys}`, api_key_token: `gtu_secret${keys++}` })
      answer(404, {})
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return { origin: `http://127.0.0.1:${port}`, calls, close: () => new Promise((done) => server.close(() => done())) }
}

describe('createBenchKeys', () => {
  it('creates an org, its members and personal keys spread over them, with the admin key', async () => {
    const admin = await stubAdmin()
    try {
      const secrets = await createBenchKeys(admin.origin, 'admin-key-0123456789', { users: 3, keys: 7, label: 'cold' })
      assert.equal(secrets.length, 7)
      assert.equal(new Set(secrets).size, 7)
      assert.ok(admin.calls.every((c) => c.authorization === 'Bearer admin-key-0123456789'))
      const members = admin.calls.filter((c) => c.path === '/v1/orgs/org-1/members')
      assert.equal(members.length, 3)
      assert.ok(members.every((c) => c.body.role === 'Member'))
      const owners = admin.calls.filter((c) => c.path === '/v1/api_keys').map((c) => c.body.user_id as string)
      assert.equal(owners.length, 7)
      assert.deepEqual(new Set(owners), new Set(['user-0', 'user-1', 'user-2']))
    } finally {
      await admin.close()
    }
  })

  it('fails the run on any answer but 201', async () => {
    const admin = await stubAdmin('/v1/api_keys')
    try {
      await assert.rejects(
        createBenchKeys(admin.origin, 'admin-key-0123456789', { users: 1, keys: 1, label: 'hot' }),
        /POST \/v1\/api_keys: 409/,
      )
    } finally {
      await admin.close()
    }
  })
})

describe('gatehouseConfig', () => {
  const base = {
    upstream: 'http://127.0.0.1:1',
    issuer: 'https://auth.bench.example',
    publicKeyPem: 'PEM',
    cacheEntries: 100_000,
    apiKeyCacheEntries: 100,
    accessLog: false,
    storeFile: 'gatehouse-apikey-cold.db',
  }

  it('turns the management API on only with an admin key, and gives each process its own store', () => {
    const key = benchAdminKey()
    assert.ok(key.length >= 16)
    const withAdmin = gatehouseConfig({ ...base, adminApiKey: key })
    assert.deepEqual(withAdmin.admin, { listen: '127.0.0.1:0', api_key: key })
    assert.deepEqual(withAdmin.api_keys, { cache: { max_entries: 100, ttl: '5m' } })
    assert.deepEqual(withAdmin.store, { url: 'sqlite:./gatehouse-apikey-cold.db' })
    assert.deepEqual(gatehouseConfig(base).admin, { listen: '127.0.0.1:0' })
  })
})
