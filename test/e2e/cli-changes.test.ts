import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { adminClient } from '../support/admin.ts'
import type { AdminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { freePort, redisUnavailable } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname
const ADMIN_KEY = 'cli-changes-admin-key-0123456789'

/** The CLI as a child process on the gateway's own config file (and so its store). */
async function gatehouse(gateway: TestGateway, args: string[]): Promise<{ stdout: string; stderr: string; ms: number }> {
  const startedAt = Date.now()
  const { stdout, stderr } = await run(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', ...args, '--config', join(gateway.dir, 'gatehouse.yaml')],
    {
      cwd: ROOT,
    },
  )
  return { stdout, stderr, ms: Date.now() - startedAt }
}

// Caches far longer than the test: a refusal within a second is the CLI's announcement, not expiry.
const CONFIG = {
  admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
  store: { url: 'sqlite:./shared.db' },
  tokens: { local_issuer: true, cache: { ttl: '5m' } },
  api_keys: { cache: { ttl: '10m' } },
  routes: [{ path: '/api/*', auth: 'user' }],
}

type Caller = { userId: string; keyId: string; secret: string; token: string }

async function newCaller(api: AdminClient): Promise<Caller> {
  const user = await api('POST', '/v1/users', { email: `${randomBytes(4).toString('hex')}@example.com` })
  const key = await api('POST', '/v1/api_keys', { user_id: user.body.user_id })
  const token = await api('POST', '/v1/access_tokens', { user_id: user.body.user_id, duration_in_minutes: 10 })
  assert.equal(key.status, 201, JSON.stringify(key.body))
  assert.equal(token.status, 200, JSON.stringify(token.body))
  return {
    userId: String(user.body.user_id),
    keyId: String(key.body.api_key_id),
    secret: String(key.body.api_key_token),
    token: String(token.body.access_token),
  }
}

const status = async (gateway: TestGateway, headers: Record<string, string>) => (await fetch(`${gateway.url}/api/x`, { headers })).status

/** Polls until the gateway refuses, for at most `withinMs`; how long it took, or undefined if it never did. */
async function refusedWithin(gateway: TestGateway, headers: Record<string, string>, withinMs: number): Promise<number | undefined> {
  const from = Date.now()
  do {
    if ((await status(gateway, headers)) === 401) return Date.now() - from
    await new Promise((r) => setTimeout(r, 20))
  } while (Date.now() - from < withinMs)
  return undefined
}

const redisReason = await redisUnavailable('CLI changes published over Redis')

describe('changes made with the CLI, with Redis configured: running gateways refuse at once', { skip: redisReason }, () => {
  let upstream: TestUpstream
  let gateway: TestGateway
  let api: AdminClient

  before(async () => {
    upstream = await startUpstream()
    // A channel of this test's own: other suites share the Redis server.
    const keyPrefix = `gh-cli-${randomBytes(4).toString('hex')}:`
    gateway = await startGateway({
      ...CONFIG,
      upstream: { url: upstream.url },
      redis: { url: process.env.GATEHOUSE_TEST_REDIS_URL, key_prefix: keyPrefix },
    })
    api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
  })
  after(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  it('keys archive: the cached key is refused by the next request', async () => {
    const caller = await newCaller(api)
    assert.equal(await status(gateway, { 'x-api-key': caller.secret }), 200)
    const cli = await gatehouse(gateway, ['keys', 'archive', caller.keyId, '--reason', 'leaked'])
    assert.equal(cli.stderr, '', 'no note of a delay: the change was published')
    const took = await refusedWithin(gateway, { 'x-api-key': caller.secret }, 1000)
    console.log(`# archived key refused ${took} ms after the CLI exited (CLI ran ${cli.ms} ms)`)
    assert.notEqual(took, undefined, 'the archived key was still accepted 1 s after the CLI exited')
  })

  it("users disable: the user's cached token and key are refused by the next requests", async () => {
    const caller = await newCaller(api)
    assert.equal(await status(gateway, { authorization: `Bearer ${caller.token}` }), 200)
    assert.equal(await status(gateway, { 'x-api-key': caller.secret }), 200)
    const cli = await gatehouse(gateway, ['users', 'disable', caller.userId])
    assert.equal(cli.stderr, '')
    const tokenTook = await refusedWithin(gateway, { authorization: `Bearer ${caller.token}` }, 1000)
    const keyTook = await refusedWithin(gateway, { 'x-api-key': caller.secret }, 1000)
    console.log(`# disabled user's token refused after ${tokenTook} ms, key after ${keyTook} more ms`)
    assert.notEqual(tokenTook, undefined, "the disabled user's token was still accepted 1 s after the CLI exited")
    assert.notEqual(keyTook, undefined, "the disabled user's key was still accepted 1 s after the CLI exited")
  })

  it('a command that changes nothing publishes nothing and prints no note', async () => {
    const caller = await newCaller(api)
    const cli = await gatehouse(gateway, ['keys', 'get', caller.keyId])
    assert.equal(JSON.parse(cli.stdout).api_key_id, caller.keyId)
    assert.equal(cli.stderr, '')
  })
})

describe('changes made with the CLI, without Redis: the delay is named', () => {
  let upstream: TestUpstream
  let gateway: TestGateway
  let api: AdminClient

  before(async () => {
    upstream = await startUpstream()
    gateway = await startGateway({ ...CONFIG, upstream: { url: upstream.url } })
    api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
  })
  after(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  it('keys archive prints that running gateways honour it within the configured cache ttls, and the cached key still passes', async () => {
    const caller = await newCaller(api)
    assert.equal(await status(gateway, { 'x-api-key': caller.secret }), 200)
    const cli = await gatehouse(gateway, ['keys', 'archive', caller.keyId])
    assert.equal(
      cli.stderr,
      'note: running gateways honour this change within their cache ttl: tokens.cache.ttl (5m) for access tokens, ' +
        'api_keys.cache.ttl (10m) for API keys; set redis.url to make changes made with the CLI take effect at once\n',
    )
    // What the note says: the gateway has the key cached and nobody told it.
    assert.equal(await status(gateway, { 'x-api-key': caller.secret }), 200)
  })
})

describe('changes made with the CLI, Redis configured but unreachable', () => {
  let upstream: TestUpstream
  let gateway: TestGateway
  let unreachable: string

  before(async () => {
    upstream = await startUpstream()
    gateway = await startGateway({ ...CONFIG, upstream: { url: upstream.url } })
    unreachable = `redis://127.0.0.1:${await freePort()}`
  })
  after(async () => {
    await gateway?.close()
    await upstream?.close()
  })

  it('makes the change, warns with the delay and exits 0 promptly', async () => {
    const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)
    const caller = await newCaller(api)
    // The same store, a config naming a Redis nobody listens on.
    const file = join(gateway.dir, 'gatehouse.yaml')
    writeFileSync(join(gateway.dir, 'unreachable.yaml'), `${readFileSync(file, 'utf8')}redis:\n  url: ${unreachable}\n`)
    const startedAt = Date.now()
    const { stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'users', 'disable', caller.userId, '--config', join(gateway.dir, 'unreachable.yaml')],
      { cwd: ROOT },
    )
    const took = Date.now() - startedAt
    assert.match(
      stderr,
      /^warning: the change is made, but telling running gateways over Redis failed \(.+\); running gateways honour this change within their cache ttl: tokens\.cache\.ttl \(5m\)/,
    )
    assert.ok(!stderr.includes(unreachable), 'the Redis url is not echoed')
    assert.equal((await api('GET', `/v1/users/${caller.userId}`)).body.enabled, false)
    console.log(`# the CLI with an unreachable Redis ran ${took} ms`)
    assert.ok(took < 10_000, `took ${took} ms`)
  })
})
