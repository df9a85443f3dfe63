import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { adminClient } from '../support/admin.ts'
import { TEST_ROLES } from '../support/gateway.ts'
import { rawRequest } from '../support/http.ts'
import { canConnect, freePort, serviceUrl } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const ADMIN_KEY = 'workers-admin-key-0123456789'
const USER_BUDGET = 12
const redis = serviceUrl('REDIS')

type Line = Record<string, unknown>

/** `gatehouse start` with server.workers: 2, run through the real CLI: a primary and two worker processes. */
type Cluster = {
  child: ChildProcess
  port: number
  adminPort: number
  dir: string
  lines(): Line[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  writeConfig(routes: unknown[]): void
}

/** Starts `gatehouse start` on a cluster config; resolves once it logged its start (`started: false`: at once, for a start that fails). */
async function startCluster(
  upstreamUrl: string,
  routes: unknown[],
  extra: Record<string, unknown> = {},
  { port: fixedPort, started = true }: { port?: number; started?: boolean } = {},
): Promise<Cluster & { stderr(): string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'))
  const port = fixedPort ?? (await freePort())
  const adminPort = await freePort()
  const writeConfig = (routesNow: unknown[]) =>
    writeFileSync(
      join(dir, 'gatehouse.yaml'),
      stringify({
        server: { listen: `127.0.0.1:${port}`, workers: 2, shutdown_timeout: '2s' },
        admin: { listen: `127.0.0.1:${adminPort}`, api_key: ADMIN_KEY },
        upstream: { url: upstreamUrl },
        store: { url: 'sqlite:./gatehouse.db' },
        roles: TEST_ROLES,
        rate_limits: { user: `${USER_BUDGET}/1h` },
        api_keys: { usage_flush: '300ms' },
        routes: routesNow,
        ...extra,
      }),
    )
  writeConfig(routes)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', join(dir, 'gatehouse.yaml')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  const lines = () =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Line)
  const cluster = { child, port, adminPort, dir, lines, exited, writeConfig, stderr: () => err }
  if (started) await waitFor(`the cluster to start (stderr: ${err})`, () => lines().some((l) => l.msg === 'gatehouse started'), 60_000)
  return cluster
}

/** A run of the CLI on the cluster's config, in a process of its own; resolves with its exit code. */
function runCli(cluster: Cluster, args: string[]): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args, '--config', join(cluster.dir, 'gatehouse.yaml')], {
    cwd: ROOT,
    stdio: 'ignore',
  })
  return new Promise((resolve) => child.once('close', (code) => resolve(code)))
}

async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(25)
  }
}

/** The worker (its pid) that served each request id, from the workers' access-log lines. */
function servedBy(cluster: Cluster, requestIds: readonly string[]): Map<string, number> {
  const wanted = new Set(requestIds)
  const served = new Map<string, number>()
  for (const line of cluster.lines()) {
    if (line.msg === 'request' && wanted.has(String(line.request_id))) served.set(String(line.request_id), Number(line.pid))
  }
  return served
}

/** Requests on fresh connections, which the primary hands to the workers in turn. */
async function send(cluster: Cluster, count: number, path: string, secret?: string) {
  const answers = []
  for (let i = 0; i < count; i++) answers.push(await rawRequest(cluster.port, path, secret ? { authorization: `Bearer ${secret}` } : {}))
  return answers
}

/** Waits until the access-log lines of these answers are written (flushed within 250 ms), and returns the distinct pids that served them. */
async function pidsServing(cluster: Cluster, answers: readonly { headers: Record<string, string> }[]): Promise<Set<number>> {
  const ids = answers.map((a) => a.headers['x-request-id']!)
  await waitFor('the access-log lines', () => servedBy(cluster, ids).size === ids.length)
  return new Set(servedBy(cluster, ids).values())
}

describe('server.workers: 2 through gatehouse start', { timeout: 180_000 }, () => {
  let upstream: TestUpstream
  let cluster: Cluster
  const api = adminClient(() => `http://127.0.0.1:${cluster.adminPort}`, ADMIN_KEY)
  const routes = [{ path: '/api/*', auth: 'user' }]

  before(async () => {
    upstream = await startUpstream()
    cluster = await startCluster(upstream.url, routes)
  })
  after(async () => {
    if (cluster.child.exitCode === null) cluster.child.kill('SIGKILL')
    await upstream.close()
    rmSync(cluster.dir, { recursive: true, force: true })
  })

  async function personalKey(email: string): Promise<{ id: string; secret: string; userId: string }> {
    const userId = String((await api('POST', '/v1/users', { email })).body.user_id)
    const res = await api('POST', '/v1/api_keys', { user_id: userId })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    return { id: String(res.body.api_key_id), secret: String(res.body.api_key_token), userId }
  }

  it('two worker processes serve the one port, and the upstream sees the requests of both', async () => {
    const started = cluster.lines().find((l) => l.msg === 'gatehouse started')!
    assert.equal(started.workers, 2)
    const workerPids = new Set(
      cluster
        .lines()
        .filter((l) => l.msg === 'worker serving')
        .map((l) => Number(l.worker_pid)),
    )
    assert.equal(workerPids.size, 2)
    assert.ok(!workerPids.has(cluster.child.pid!), 'the primary serves no gateway request')
    const key = await personalKey('both@example.com')
    const answers = await send(cluster, 6, '/api/both', key.secret)
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200, 200],
    )
    const seen = new Set(upstream.received.filter((r) => r.url === '/api/both').map((r) => String(r.headers['x-request-id'])))
    assert.deepEqual(seen, new Set(answers.map((a) => a.headers['x-request-id'])))
    assert.deepEqual(await pidsServing(cluster, answers), workerPids)

    // The primary's scrape sums both workers' counts; its readiness names them.
    const scrape = await (await fetch(`http://127.0.0.1:${cluster.adminPort}/metrics`)).text()
    assert.match(scrape, /^gatehouse_requests_total\{route="\/api\/\*",method="GET",status="200"\} 6$/m)
    assert.match(scrape, /^gatehouse_request_duration_seconds_count\{route="\/api\/\*"\} 6$/m)
    const ready = await fetch(`http://127.0.0.1:${cluster.adminPort}/readyz`)
    assert.equal(ready.status, 200)
    const { checks } = (await ready.json()) as { checks: Record<string, { detail?: unknown }> }
    assert.deepEqual(checks.workers?.detail, { serving: 2, configured: 2 })
  })

  it(`a per-user budget of ${USER_BUDGET} over both workers allows exactly ${USER_BUDGET}, without Redis`, async () => {
    const key = await personalKey('budget@example.com')
    const answers = await send(cluster, USER_BUDGET * 2, '/api/budget', key.secret)
    const statuses = answers.map((a) => a.status)
    assert.deepEqual(statuses, [...Array<number>(USER_BUDGET).fill(200), ...Array<number>(USER_BUDGET).fill(429)])
    assert.equal((await pidsServing(cluster, answers)).size, 2, 'both workers drew on the one budget')
  })

  it('usage counted in both workers reaches the store through the primary’s flush', async () => {
    const key = await personalKey('usage@example.com')
    const answers = await send(cluster, 4, '/api/usage', key.secret)
    assert.equal((await pidsServing(cluster, answers)).size, 2)
    const today = new Date().toISOString().slice(0, 10)
    await waitFor('the usage to be written', async () => {
      const usage = await api('GET', `/v1/api_keys/usage?date=${today}&api_key_id=${key.id}`)
      return usage.body.count === 4
    })
  })

  it('revoking an API key through the admin API: the next request on any worker is 401', async () => {
    const key = await personalKey('revoked@example.com')
    // Both workers have the key's validation cached.
    const warm = await send(cluster, 4, '/api/warm', key.secret)
    assert.ok(warm.every((a) => a.status === 200))
    assert.equal((await pidsServing(cluster, warm)).size, 2)
    assert.equal((await api('POST', `/v1/api_keys/${key.id}/archive`, { reason: 'leaked' })).status, 200)
    const after = await send(cluster, 4, '/api/warm', key.secret)
    assert.deepEqual(
      after.map((a) => a.status),
      [401, 401, 401, 401],
    )
    assert.equal((await pidsServing(cluster, after)).size, 2)
  })

  it('SIGHUP reloads every worker with the file the primary validated; a refused file changes none', async () => {
    const reloaded = () => cluster.lines().filter((l) => l.msg === 'config reloaded')
    const before = reloaded().length
    cluster.writeConfig([...routes, { path: '/open/*', auth: 'none' }])
    cluster.child.kill('SIGHUP')
    await waitFor('the primary and both workers to reload', () => reloaded().length === before + 3)
    assert.equal(
      new Set(
        reloaded()
          .slice(before)
          .map((l) => l.pid),
      ).size,
      3,
    )
    const open = await send(cluster, 4, '/open/x')
    assert.deepEqual(
      open.map((a) => a.status),
      [200, 200, 200, 200],
    )
    assert.equal((await pidsServing(cluster, open)).size, 2)

    writeFileSync(join(cluster.dir, 'gatehouse.yaml'), 'routes: [unclosed\n')
    cluster.child.kill('SIGHUP')
    await waitFor('the refusal', () => cluster.lines().some((l) => l.msg === 'config reload failed: the running config stays'))
    await delay(300)
    assert.equal(reloaded().length, before + 3, 'no worker reloaded a file the primary refused')
    const still = await send(cluster, 2, '/open/x')
    assert.deepEqual(
      still.map((a) => a.status),
      [200, 200],
    )
    cluster.writeConfig([...routes, { path: '/open/*', auth: 'none' }])
  })

  it('a worker that dies is logged and replaced, and the port keeps serving', async () => {
    const serving = () => cluster.lines().filter((l) => l.msg === 'worker serving')
    const victim = Number(serving().at(-1)!.worker_pid)
    const before = serving().length
    process.kill(victim, 'SIGKILL')
    await waitFor('the replacement to serve', () => serving().length === before + 1, 60_000)
    const death = cluster.lines().find((l) => l.msg === 'worker exited: starting another')!
    assert.equal(death.worker_pid, victim)
    assert.equal(death.signal, 'SIGKILL')
    const replacement = Number(serving().at(-1)!.worker_pid)
    assert.notEqual(replacement, victim)
    const answers = await send(cluster, 4, '/open/after')
    assert.ok(answers.every((a) => a.status === 200))
    const pids = await pidsServing(cluster, answers)
    assert.ok(pids.has(replacement) && !pids.has(victim), `served by ${[...pids].join(', ')}`)
  })

  it('SIGTERM drains the workers and the primary exits 0 with every process gone', async () => {
    const pids = [
      cluster.child.pid!,
      ...new Set(
        cluster
          .lines()
          .filter((l) => l.msg === 'worker serving')
          .map((l) => Number(l.worker_pid)),
      ),
    ]
    cluster.child.kill('SIGTERM')
    const { code } = await cluster.exited
    assert.equal(code, 0)
    assert.ok(cluster.lines().some((l) => l.msg === 'gatehouse stopped' && l.pid === cluster.child.pid))
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is gone`)
    assert.equal(await canConnect(cluster.port), false)
  })
})

describe('server.workers: 2 with Redis', { skip: redis.skip, timeout: 120_000 }, () => {
  let upstream: TestUpstream
  let cluster: Cluster
  const api = adminClient(() => `http://127.0.0.1:${cluster.adminPort}`, ADMIN_KEY)

  before(async () => {
    upstream = await startUpstream()
    cluster = await startCluster(upstream.url, [{ path: '/api/*', auth: 'user' }], {
      redis: { url: redis.url, key_prefix: `gh:workers:${process.pid}:${Date.now()}:` },
    })
  })
  after(async () => {
    if (cluster.child.exitCode === null) {
      cluster.child.kill('SIGTERM')
      await cluster.exited
    }
    await upstream.close()
    rmSync(cluster.dir, { recursive: true, force: true })
  })

  async function personalKey(email: string): Promise<{ id: string; secret: string }> {
    const userId = String((await api('POST', '/v1/users', { email })).body.user_id)
    const res = await api('POST', '/v1/api_keys', { user_id: userId })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    return { id: String(res.body.api_key_id), secret: String(res.body.api_key_token) }
  }

  it(`the workers share the user budget through Redis: exactly ${USER_BUDGET}`, async () => {
    const key = await personalKey('redis-budget@example.com')
    const answers = await send(cluster, USER_BUDGET * 2, '/api/budget', key.secret)
    assert.deepEqual(
      answers.map((a) => a.status),
      [...Array<number>(USER_BUDGET).fill(200), ...Array<number>(USER_BUDGET).fill(429)],
    )
    assert.equal((await pidsServing(cluster, answers)).size, 2)
  })

  it('a key archived by another process (the CLI, over Redis) is refused on every worker within a second', async () => {
    const key = await personalKey('redis-revoked@example.com')
    const warm = await send(cluster, 4, '/api/warm', key.secret)
    assert.ok(warm.every((a) => a.status === 200))
    assert.equal((await pidsServing(cluster, warm)).size, 2)
    assert.equal(await runCli(cluster, ['keys', 'archive', key.id]), 0)
    const archived = Date.now()
    await waitFor('both workers to refuse the key', async () => {
      const answers = await send(cluster, 4, '/api/warm', key.secret)
      return answers.every((a) => a.status === 401) && (await pidsServing(cluster, answers)).size === 2
    })
    assert.ok(Date.now() - archived < 1000, `refused after ${Date.now() - archived} ms`)
  })
})

describe('server.workers: 2 that cannot start', { timeout: 60_000 }, () => {
  it('a gateway port in use: the worker says so, the primary stops the others and exits 1', async () => {
    const upstream = await startUpstream()
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const cluster = await startCluster(
      upstream.url,
      [{ path: '/*', auth: 'none' }],
      {},
      { port: (taken.address() as AddressInfo).port, started: false },
    )
    try {
      const { code } = await cluster.exited
      assert.equal(code, 1)
      assert.match(cluster.stderr(), /^gatehouse: server\.listen 127\.0\.0\.1:\d+: cannot listen: the address is already in use$/m)
      assert.ok(!cluster.lines().some((l) => l.msg === 'gatehouse started'))
      assert.equal(await canConnect(cluster.adminPort), false, 'the admin listener is closed')
    } finally {
      taken.close()
      await upstream.close()
      rmSync(cluster.dir, { recursive: true, force: true })
    }
  })
})
