import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { pino } from 'pino'
import { stringify } from 'yaml'
import { loadConfig } from '../../src/config/index.ts'
import { ListenError, startGatehouse } from '../../src/server.ts'
import { freePort, redisUnavailable } from '../support/services.ts'
import { TEST_ROLES } from '../support/gateway.ts'

/** A port held by another listener for the whole test. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as { port: number }).port, server }
}

/** The handles that keep a process alive (listeners, sockets, ref'd timers), by kind. */
function liveHandles(): string {
  return process
    .getActiveResourcesInfo()
    .filter((kind) => kind !== 'FSReqCallback')
    .sort()
    .join(',')
}

async function settlesTo(expected: string): Promise<string> {
  for (let i = 0; i < 40 && liveHandles() !== expected; i++) await delay(50)
  return liveHandles()
}

/** The handles once those of earlier steps (a probe, a closed listener) are gone: the same twice, 100 ms apart. */
async function settledHandles(): Promise<string> {
  let previous = liveHandles()
  for (;;) {
    await delay(100)
    const now = liveHandles()
    if (now === previous) return now
    previous = now
  }
}

const redisReason = await redisUnavailable('a failed start with Redis configured')

describe('a start that fails part-way closes what it opened', () => {
  let dir: string
  let held: { port: number; server: Server }
  const logs: Record<string, unknown>[] = []
  const log = pino(
    { level: 'info', base: undefined },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>)
        done()
      },
    }),
  )

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'))
    held = await occupy()
  })
  after(async () => {
    await new Promise<void>((resolve) => held.server.close(() => resolve()))
    rmSync(dir, { recursive: true, force: true })
  })

  function config(name: string, gateway: number, admin: number, extra: Record<string, unknown> = {}): string {
    const file = join(dir, `${name}.yaml`)
    writeFileSync(
      file,
      stringify({
        server: { listen: `127.0.0.1:${gateway}` },
        admin: { listen: `127.0.0.1:${admin}`, api_key: 'admin-key-0123456789abcdef' },
        upstream: { url: 'http://127.0.0.1:9' },
        store: { url: `sqlite:./${name}.db` },
        roles: TEST_ROLES,
        tokens: { local_issuer: true },
        api_keys: { usage_flush: '50ms' },
        routes: [{ path: '/*', auth: 'none' }],
        ...extra,
      }),
    )
    return file
  }

  async function failedStart(file: string, key: 'server.listen' | 'admin.listen'): Promise<void> {
    const error = await startGatehouse(loadConfig(file), { log }).then(
      () => assert.fail('the start succeeded on a port in use'),
      (err: unknown) => err,
    )
    assert.ok(error instanceof ListenError, String(error))
    assert.equal(error.key, key)
    assert.equal(error.message, `${key} 127.0.0.1:${held.port}: cannot listen: the address is already in use`)
  }

  it('the gateway port in use: rejects naming server.listen, leaves no handle and closes the store', async () => {
    const baseline = await settledHandles()
    await failedStart(config('gateway-busy', held.port, 0), 'server.listen')
    assert.equal(await settlesTo(baseline), baseline)
    // SQLite removes the -wal file when its last connection closes.
    assert.ok(existsSync(join(dir, 'gateway-busy.db')))
    assert.ok(!existsSync(join(dir, 'gateway-busy.db-wal')), 'the store is still open')
    assert.ok(logs.some((line) => line.msg === 'gatehouse failed to start' && String(line.err).startsWith('server.listen ')))
  })

  it('the admin port in use after the gateway listened: the gateway listener is closed again', async () => {
    const gatewayPort = await freePort()
    const baseline = await settledHandles()
    await failedStart(config('admin-busy', gatewayPort, held.port), 'admin.listen')
    assert.equal(await settlesTo(baseline), baseline)
    assert.ok(!existsSync(join(dir, 'admin-busy.db-wal')), 'the store is still open')
    // The port is free: nothing of the failed start holds it.
    const again = createServer()
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(gatewayPort, '127.0.0.1', resolve))
    await new Promise<void>((resolve) => again.close(() => resolve()))
  })

  it('with Redis configured: its connections are closed too', { skip: redisReason }, async () => {
    const baseline = await settledHandles()
    const file = config('redis-busy', await freePort(), held.port, { redis: { url: process.env.GATEHOUSE_TEST_REDIS_URL } })
    await failedStart(file, 'admin.listen')
    assert.equal(await settlesTo(baseline), baseline)
  })
})
