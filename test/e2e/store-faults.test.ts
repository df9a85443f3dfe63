import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { get } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { stringify } from 'yaml'
import { adminClient } from '../support/admin.ts'
import { startGateway, TEST_ROLES } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { freePort, serviceUrl } from '../support/services.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import type { TcpProxy } from '../support/tcp-proxy.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

/**
 * PostgreSQL failing under a running gateway: its TCP path cut, its sessions terminated, the
 * network going silent. Whatever needs the store answers 503 problem+json (never 401, never 200),
 * the process lives (an unhandled 'error' event from a pg client would end this test process
 * itself), and once PostgreSQL is back requests succeed again without a restart.
 */
const ADMIN_KEY = 'test-admin-key-0123456789'
const QUERY_TIMEOUT_MS = 3_000
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const postgres = serviceUrl('POSTGRES')

type Reply = { status: number; type: string | null; ms: number }

/** One PostgreSQL-backed gatehouse behind a proxy: its schema, its session name, its API keys. */
type Setup = { proxy: TcpProxy; schema: string; appName: string; storeUrl: string }

async function setUp(label: string): Promise<Setup> {
  const target = new URL(postgres.url!)
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
  const suffix = randomBytes(4).toString('hex')
  const schema = `gh_faults_${label}_${suffix}`
  // Its own application_name, so terminating "gatehouse's sessions" spares other suites' gateways.
  const appName = `gatehouse_faults_${label}_${suffix}`
  target.host = `127.0.0.1:${proxy.port}`
  target.searchParams.set('schema', schema)
  target.searchParams.set('application_name', appName)
  return { proxy, schema, appName, storeUrl: target.href }
}

function gatewayConfig(setup: Setup, upstreamUrl: string): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
    upstream: { url: upstreamUrl },
    store: { url: setup.storeUrl, query_timeout: `${QUERY_TIMEOUT_MS}ms`, connect_timeout: `${QUERY_TIMEOUT_MS}ms`, pool_size: 8 },
    api_keys: { usage_flush: '1h' },
    routes: [{ path: '/api/*', auth: 'user' }],
  }
}

async function direct<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgres.url })
  await client.connect()
  try {
    return (await client.query<T>(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Keys never validated yet, so each request for one needs the store (a 503 caches nothing). */
async function freshKeys(adminUrl: string, count: number): Promise<string[]> {
  const api = adminClient(() => adminUrl, ADMIN_KEY)
  const user = await api('POST', '/v1/users', { email: `${randomBytes(4).toString('hex')}@example.com` })
  assert.equal(user.status, 201, JSON.stringify(user.body))
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    const key = await api('POST', '/v1/api_keys', { user_id: user.body.user_id })
    assert.equal(key.status, 201, JSON.stringify(key.body))
    keys.push(String(key.body.api_key_token))
  }
  return keys
}

/** One request on a connection of its own, so concurrent calls reach the gateway together. */
function call(gatewayUrl: string, secret: string): Promise<Reply> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    get(`${gatewayUrl}/api/x`, { agent: false, headers: { 'x-api-key': secret } }, (res) => {
      res.resume().once('end', () => {
        const type = res.headers['content-type'] ?? null
        resolve({ status: res.statusCode ?? 0, type, ms: Math.round(performance.now() - started) })
      })
    }).once('error', reject)
  })
}

function assertUnavailable(reply: Reply, what: string): void {
  assert.equal(reply.status, 503, `${what}: ${JSON.stringify(reply)}`)
  assert.match(reply.type ?? '', /^application\/problem\+json/, what)
}

/**
 * Requests whose key lookups are on the wire when the fault strikes: a transaction of the test's
 * own locks api_keys, so the gateway's lookups wait inside PostgreSQL until it is released.
 */
async function inFlight(
  setup: Setup,
  gatewayUrl: string,
  secrets: string[],
): Promise<{ replies: Promise<Reply[]>; release(): Promise<void> }> {
  const locker = new pg.Client({ connectionString: postgres.url })
  locker.on('error', () => {})
  await locker.connect()
  await locker.query('begin')
  await locker.query(`lock table "${setup.schema}".api_keys in access exclusive mode`)
  // One at a time: pg-pool queues a request that finds an idle connection about to be lent out,
  // and that one would wait in the pool (until connect_timeout) rather than inside PostgreSQL.
  const started: Promise<Reply>[] = []
  const waitingNow = async () =>
    Number(
      (
        await locker.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
          [setup.appName],
        )
      ).rows[0]!.n,
    )
  // Leaves a second of the query timeout for the fault to strike while they wait.
  const deadline = Date.now() + QUERY_TIMEOUT_MS - 1_000
  let waiting = 0
  for (const secret of secrets) {
    started.push(call(gatewayUrl, secret))
    while (waiting < started.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10))
      waiting = await waitingNow()
    }
  }
  const replies = Promise.all(started)
  const release = async () => {
    await locker.query('rollback').catch(() => {})
    await locker.end().catch(() => {})
  }
  // At least one lookup must be inside PostgreSQL; the others may be queued in the pool (see above).
  if (waiting < 1) {
    const seen = await locker.query(`select state, wait_event_type, query from pg_stat_activity where application_name = $1`, [
      setup.appName,
    ])
    await release()
    assert.fail(`${waiting} of ${secrets.length} lookups wait inside PostgreSQL: ${JSON.stringify(seen.rows)}`)
  }
  return { replies, release }
}

/** Calls with fresh keys until one gets 200; every other answer must be 503. Returns how long it took. */
async function recovers(gatewayUrl: string, secrets: string[], withinMs: number): Promise<number> {
  const started = Date.now()
  for (const secret of secrets) {
    const reply = await call(gatewayUrl, secret)
    if (reply.status === 200) return Date.now() - started
    assertUnavailable(reply, 'while recovering')
    if (Date.now() - started > withinMs) break
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.fail(`no 200 within ${withinMs} ms`)
}

describe('PostgreSQL faults under a running gateway', { skip: postgres.skip }, () => {
  let upstream: TestUpstream
  let setup: Setup
  let gateway: TestGateway
  let keys: string[]
  const take = (n: number) => keys.splice(0, n)

  before(async () => {
    upstream = await startUpstream()
    setup = await setUp('inproc')
    gateway = await startGateway(gatewayConfig(setup, upstream.url))
    keys = await freshKeys(gateway.adminUrl, 80)
  })

  after(async () => {
    await gateway?.close()
    await setup?.proxy.close()
    await upstream?.close()
    if (setup) await direct(`drop schema if exists "${setup.schema}" cascade`)
  })

  it('cut with lookups in flight: they and the requests after get 503, then 200 after heal', async () => {
    assert.equal((await call(gateway.url, take(1)[0]!)).status, 200)
    const flight = await inFlight(setup, gateway.url, take(4))
    try {
      setup.proxy.cut()
      for (const reply of await flight.replies) assertUnavailable(reply, 'in flight at the cut')
    } finally {
      await flight.release()
    }
    for (const secret of take(3)) {
      const reply = await call(gateway.url, secret)
      assertUnavailable(reply, 'after the cut')
      assert.ok(reply.ms < 1000, `a refused connection fails fast (${reply.ms} ms)`)
    }
    setup.proxy.heal()
    const took = await recovers(gateway.url, take(20), 5_000)
    console.log(`# cut: recovered ${took} ms after heal`)
  })

  it('pg_terminate_backend on its sessions: lookups in flight get 503, the pool reconnects by itself', async () => {
    assert.equal((await call(gateway.url, take(1)[0]!)).status, 200)
    const flight = await inFlight(setup, gateway.url, take(4))
    let terminated: number
    try {
      // Two statements, so no plan can call pg_terminate_backend on a session of another name.
      const pids = (await direct<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [setup.appName])).map(
        (r) => r.pid,
      )
      const rows = await direct<{ ok: boolean }>('select pg_terminate_backend(pid) as ok from unnest($1::int[]) as pid', [pids])
      terminated = rows.filter((r) => r.ok).length
      for (const reply of await flight.replies) assertUnavailable(reply, 'in flight at the termination')
    } finally {
      await flight.release()
    }
    assert.ok(terminated >= 1, `terminated ${terminated} sessions`)
    const took = await recovers(gateway.url, take(20), 5_000)
    console.log(`# terminate: ${terminated} sessions ended, 200 again ${took} ms later`)
  })

  it('blackholed: a lookup on a pooled connection gets 503 within query_timeout, then 200 after heal', async () => {
    // Warm the pool, so the lookups below go out on connections that were open before the partition.
    const warm = await Promise.all(take(4).map((secret) => call(gateway.url, secret)))
    assert.deepEqual(
      warm.map((r) => r.status),
      [200, 200, 200, 200],
    )
    setup.proxy.blackhole()
    try {
      const replies = await Promise.all(take(6).map((secret) => call(gateway.url, secret)))
      for (const reply of replies) {
        assertUnavailable(reply, 'blackholed')
        assert.ok(reply.ms < QUERY_TIMEOUT_MS + 2_000, `503 after ${reply.ms} ms`)
      }
      const next = await call(gateway.url, take(1)[0]!)
      assertUnavailable(next, 'blackholed, on a fresh connection')
      assert.ok(next.ms < QUERY_TIMEOUT_MS + 2_000, `503 after ${next.ms} ms`)
      console.log(`# blackhole: 503 after ${replies.map((r) => r.ms).join(', ')} ms (pooled), ${next.ms} ms (new connection)`)
    } finally {
      setup.proxy.heal()
    }
    const took = await recovers(gateway.url, take(20), 5_000)
    console.log(`# blackhole: recovered ${took} ms after heal`)
  })
})

describe('PostgreSQL cut under gatehouse start (a child process)', { skip: postgres.skip }, () => {
  let upstream: TestUpstream
  let setup: Setup
  let dir: string

  before(async () => {
    upstream = await startUpstream()
    setup = await setUp('cli')
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-faults-'))
  })

  after(async () => {
    await setup?.proxy.close()
    await upstream?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
    if (setup) await direct(`drop schema if exists "${setup.schema}" cascade`)
  })

  it('survives a cut with lookups in flight and answers 200 after heal', { timeout: 60_000 }, async () => {
    const port = await freePort()
    const adminPort = await freePort()
    const config = gatewayConfig(setup, upstream.url)
    const file = join(dir, 'gatehouse.yaml')
    writeFileSync(
      file,
      stringify({
        ...config,
        server: { listen: `127.0.0.1:${port}` },
        admin: { listen: `127.0.0.1:${adminPort}`, api_key: ADMIN_KEY },
        roles: TEST_ROLES,
      }),
    )
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', file], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      const adminUrl = `http://127.0.0.1:${adminPort}`
      const gatewayUrl = `http://127.0.0.1:${port}`
      for (let i = 0; ; i++) {
        const up = await fetch(`${adminUrl}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
        if (up) break
        assert.ok(i < 150 && child.exitCode === null, `gatehouse did not come up: ${stderr}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      const keys = await freshKeys(adminUrl, 30)
      assert.equal((await call(gatewayUrl, keys.pop()!)).status, 200)
      const flight = await inFlight(setup, gatewayUrl, keys.splice(0, 4))
      try {
        setup.proxy.cut()
        for (const reply of await flight.replies) assertUnavailable(reply, 'in flight at the cut')
      } finally {
        await flight.release()
      }
      assertUnavailable(await call(gatewayUrl, keys.pop()!), 'after the cut')
      // An unhandled 'error' event ends the process a tick after the socket dies; give it the chance.
      await new Promise((r) => setTimeout(r, 500))
      assert.equal(child.exitCode, null, `gatehouse exited: ${stderr}`)
      assert.doesNotMatch(stderr, /Unhandled 'error' event/)
      setup.proxy.heal()
      const took = await recovers(gatewayUrl, keys, 5_000)
      console.log(`# child process: alive after the cut, 200 ${took} ms after heal`)
    } finally {
      child.kill('SIGTERM')
      await exited
    }
  })
})
