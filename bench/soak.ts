// `npm run soak [-- --phase-seconds N]`: gatehouse as a child process on PostgreSQL (through a
// TCP proxy the script controls) and its own Redis, under mixed traffic, with faults in turn.
// Prints, per phase, the status counts, the child's RSS and open descriptors, and whether it is
// alive; exits 1 when the process died, leaked descriptors or answered 200/401 where the store was
// needed and unreachable. Bounded (about 8 phases × 20 s); not part of `npm test`.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { stringify } from 'yaml'
import { freePort, startRedisServer } from '../test/support/services.ts'
import { startTcpProxy } from '../test/support/tcp-proxy.ts'
import { startUpstream } from '../test/support/upstream.ts'

const ROOT = new URL('..', import.meta.url).pathname
const ADMIN_KEY = 'soak-admin-key-0123456789'
const POSTGRES = process.env.GATEHOUSE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const DATABASE = 'gatehouse_soak'

type Counts = Record<string, number>

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'phase-seconds': { type: 'string', default: '20' } } })
  const phaseMs = Number(values['phase-seconds']) * 1000
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-soak-'))
  const cleanup: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })]
  try {
    await freshDatabase()
    const pgUrl = new URL(POSTGRES)
    const pgProxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) })
    cleanup.push(() => pgProxy.close())
    let redis = await startRedisServer()
    const redisPort = redis.port
    cleanup.push(() => redis.stop())
    const upstream = await startUpstream()
    cleanup.push(() => upstream.close())

    const [gatewayPort, adminPort] = [await freePort(), await freePort()]
    const storeUrl = new URL(POSTGRES)
    storeUrl.port = String(pgProxy.port)
    storeUrl.pathname = `/${DATABASE}`
    writeFileSync(
      join(dir, 'gatehouse.yaml'),
      stringify({
        server: { listen: `127.0.0.1:${gatewayPort}`, shutdown_timeout: '5s', headers_timeout: '2s', request_timeout: '5s' },
        admin: { listen: `127.0.0.1:${adminPort}`, api_key: ADMIN_KEY },
        upstream: { url: upstream.url },
        roles: [{ name: 'Admin', permissions: [] }, { name: 'Member' }],
        store: { url: storeUrl.toString(), query_timeout: '2s', connect_timeout: '2s' },
        redis: { url: redis.url, key_prefix: 'soak:' },
        tokens: { local_issuer: true, cache: { ttl: '1s' } },
        api_keys: { cache: { ttl: '1s' } },
        rate_limits: { user: '100000/1m' },
        log: { level: 'warn', access_log: false },
        routes: [
          { path: '/big', auth: 'user' },
          { path: '/*', auth: 'user' },
        ],
      }),
    )
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'start', '--config', join(dir, 'gatehouse.yaml')], {
      // From the checkout, so that `--import tsx` resolves; every path in the config is absolute or relative to it.
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let crashed: string | undefined
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
    child.on('exit', (code, signal) => (crashed ??= `exited with ${signal ?? code}`))
    cleanup.push(() => child.kill('SIGKILL'))
    await waitForHttp(`http://127.0.0.1:${adminPort}/healthz`).catch((err: Error) => {
      throw new Error(`${err.message}; gatehouse ${crashed ?? 'is running'}; stderr: ${stderr}`)
    })

    const admin = adminClient(`http://127.0.0.1:${adminPort}`)
    const user = await admin('POST', '/v1/users', { email: 'soak@example.com' })
    const userId = String(user.user_id)
    const token = String((await admin('POST', '/v1/access_tokens', { user_id: userId, duration_in_minutes: 600 })).access_token)
    const keys: string[] = []
    for (let i = 0; i < 20; i++) keys.push(String((await admin('POST', '/v1/api_keys', { user_id: userId })).api_key_token))

    const gateway = `http://127.0.0.1:${gatewayPort}`
    const phases: { name: string; start?: () => unknown; during?: () => unknown; end?: () => unknown; storeDown?: boolean }[] = [
      { name: 'baseline' },
      { name: 'postgres cut', start: () => pgProxy.cut(), end: () => pgProxy.heal(), storeDown: true },
      { name: 'recovered' },
      { name: 'postgres blackholed', start: () => pgProxy.blackhole(), end: () => pgProxy.heal(), storeDown: true },
      { name: 'pg_terminate_backend every 2 s', during: () => terminateBackends() },
      { name: 'redis killed', start: () => redis.stop(), end: async () => (redis = await startRedisServer(redisPort)) },
      { name: 'recovered again' },
    ]
    const fdsAtStart = descriptors(child)
    console.log(`soak: gatehouse pid ${child.pid}, ${phases.length} phases of ${phaseMs / 1000} s, fds at start ${fdsAtStart}`)
    console.log('phase                            requests  statuses                                   rss MB  fds  alive')
    const problems: string[] = []
    for (const phase of phases) {
      await phase.start?.()
      const timer = phase.during ? setInterval(() => void phase.during!(), 2000) : undefined
      const counts = await traffic(gateway, token, keys, phaseMs, phase.storeDown === true)
      if (timer) clearInterval(timer)
      await phase.end?.()
      const alive = crashed === undefined
      const rss = rssMb(child)
      const fds = descriptors(child)
      console.log(
        `${phase.name.padEnd(32)} ${String(total(counts)).padStart(8)}  ${format(counts).padEnd(42)} ${rss.padStart(6)} ${String(fds).padStart(4)}  ${alive ? 'yes' : `NO (${crashed})`}`,
      )
      if (!alive) problems.push(`${phase.name}: gatehouse ${crashed}; stderr: ${stderr}`)
      const stale = (counts['uncached-key:200'] ?? 0) + (counts['uncached-key:401'] ?? 0)
      if (phase.storeDown && stale > 0)
        problems.push(`${phase.name}: ${stale} API-key requests answered 200/401 while the store was unreachable`)
    }
    await new Promise((r) => setTimeout(r, 2000))
    const fdsAtEnd = descriptors(child)
    if (fdsAtEnd > fdsAtStart + 50) problems.push(`descriptors grew from ${fdsAtStart} to ${fdsAtEnd}`)
    child.kill('SIGTERM')
    const exit = await new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve),
    )
    console.log(`SIGTERM → exit ${exit}; fds at start ${fdsAtStart}, before SIGTERM ${fdsAtEnd}`)
    if (exit !== 0) problems.push(`exit code ${exit} after SIGTERM`)
    for (const p of problems) console.log(`PROBLEM: ${p}`)
    console.log(problems.length === 0 ? 'soak: no crash, no leak, no stale answer' : 'soak: FAILED')
    process.exitCode = problems.length === 0 ? 0 : 1
  } finally {
    for (const step of cleanup.reverse()) await step()
  }
}

/**
 * One phase of mixed traffic: token requests, API-key requests (1 s cache ttl, so the store is
 * asked), 256 KiB uploads, downloads aborted after the first chunk, and slowloris connections.
 * With the store down, key answers that must have needed the store are counted apart.
 */
async function traffic(gateway: string, token: string, keys: string[], ms: number, storeDown: boolean): Promise<Counts> {
  const counts: Counts = {}
  const note = (kind: string, status: number | string) => (counts[`${kind}:${status}`] = (counts[`${kind}:${status}`] ?? 0) + 1)
  const deadline = Date.now() + ms
  // Past the 1 s cache ttl (and the 2 s query timeout) every key lookup needs the store.
  const uncachedFrom = Date.now() + 3500
  const upload = Buffer.alloc(256 * 1024, 97)
  const slow: Socket[] = []
  const workers = Array.from({ length: 16 }, async (_, w) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const kind = ['token', 'key', 'key', 'upload', 'abort'][(i + w) % 5]!
      try {
        const headers = { authorization: `Bearer ${kind === 'token' ? token : keys[(i * 7 + w) % keys.length]!}` }
        if (kind === 'abort') {
          const controller = new AbortController()
          const res = await fetch(`${gateway}/big?mb=20`, { headers, signal: controller.signal })
          if (res.body) await res.body.getReader().read()
          controller.abort()
          note(kind, res.status)
        } else {
          const res = await fetch(`${gateway}/x`, {
            method: kind === 'upload' ? 'POST' : 'GET',
            headers,
            body: kind === 'upload' ? upload : undefined,
            signal: AbortSignal.timeout(10_000),
          })
          await res.arrayBuffer()
          note(storeDown && kind === 'key' && Date.now() > uncachedFrom ? 'uncached-key' : kind, res.status)
        }
      } catch (err) {
        note(kind, (err as Error).name === 'AbortError' ? 'aborted' : 'error')
      }
      if (i % 50 === 0) slow.push(slowloris(gateway))
    }
  })
  await Promise.all(workers)
  for (const socket of slow) socket.destroy()
  return counts
}

function slowloris(gateway: string): Socket {
  const { hostname, port } = new URL(gateway)
  const socket = connect(Number(port), hostname)
  socket.on('error', () => {})
  socket.write('GET /x HTTP/1.1\r\nHost: soak\r\nX-Slow: ')
  return socket
}

async function terminateBackends(): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES })
  try {
    await client.connect()
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [DATABASE])
  } finally {
    await client.end().catch(() => {})
  }
}

async function freshDatabase(): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES })
  await client.connect()
  try {
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [DATABASE])
    await client.query(`DROP DATABASE IF EXISTS ${DATABASE}`)
    await client.query(`CREATE DATABASE ${DATABASE}`)
  } finally {
    await client.end()
  }
}

function adminClient(base: string) {
  return async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const json = (await res.json()) as Record<string, unknown>
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }
}

async function waitForHttp(url: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url} did not answer`)
}

function rssMb(child: ChildProcess): string {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]
    return kb ? (Number(kb) / 1024).toFixed(0) : '-'
  } catch {
    return '-'
  }
}

function descriptors(child: ChildProcess): number {
  try {
    return readdirSync(`/proc/${child.pid}/fd`).length
  } catch {
    return -1
  }
}

const total = (counts: Counts) => Object.values(counts).reduce((a, b) => a + b, 0)
const format = (counts: Counts) =>
  Object.entries(counts)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')

await main()
