import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { spawnChild, waitForLine } from '../children.ts'
import { nodeCommand, ROOT } from './launch.ts'
import type { Target, Wrapper } from './launch.ts'

export type GatehouseOptions = {
  upstream: string
  issuer: string
  publicKeyPem: string
  /** tokens.cache.max_entries: 100 for jwt-cold, so that rotating 3,000 tokens never hits. */
  cacheEntries: number
  accessLog: boolean
  /** api_keys.cache.max_entries: 100 for apikey-cold, so that rotating 2,000 keys never hits. */
  apiKeyCacheEntries: number
  /** admin.api_key: the management API is on only where a scenario creates users and keys through it. */
  adminApiKey?: string
  /** The sqlite store, relative to the config's folder: one per process, so no run sees another's keys. */
  storeFile: string
  /** A PostgreSQL store URL (with a schema of the run's own) instead of the sqlite file. */
  storeUrl?: string
  /** identity.assertion.bind_request: an assertion signed for every request instead of one cached per identity. */
  bindRequest?: boolean
  /** forward_auth.enabled, with the bench's own address (the load generator) as the trusted ingress. */
  forwardAuth?: boolean
  /** metrics.enabled (default on, as deployed): off only for the row that measures what metrics cost. */
  metrics?: boolean
  /** server.workers (default 1): gateway processes sharing the port (bench/workers.ts). */
  workers?: number
  /** rate_limits.user (default on): off only for the row that measures what deciding a budget costs. */
  userBudget?: boolean
}

/** Paths the scenarios request; the routes below give each its rule. */
export const GATEHOUSE_PATHS = { public: '/public', user: '/api/bench', limited: '/limited', forwardAuth: '/.gatehouse/auth' } as const

/** The config a scenario runs with, as the object written to YAML. */
export function gatehouseConfig(options: GatehouseOptions): Record<string, unknown> {
  return {
    server: {
      listen: '127.0.0.1:0',
      shutdown_timeout: '1s',
      workers: options.workers ?? 1,
      ...(options.forwardAuth ? { trust_proxy: ['127.0.0.1'] } : {}),
    },
    ...(options.forwardAuth ? { forward_auth: { enabled: true } } : {}),
    upstream: { url: options.upstream },
    admin: { listen: '127.0.0.1:0', ...(options.adminApiKey ? { api_key: options.adminApiKey } : {}) },
    roles: [{ name: 'Owner' }, { name: 'Admin' }, { name: 'Member' }],
    tokens: {
      cache: { max_entries: options.cacheEntries, ttl: '5m' },
      issuers: [{ issuer: options.issuer, public_key: options.publicKeyPem, algorithms: ['ES256'], claims: 'propelauth' }],
    },
    api_keys: { cache: { max_entries: options.apiKeyCacheEntries, ttl: '5m' } },
    store: { url: options.storeUrl ?? `sqlite:./${options.storeFile}` },
    // High enough never to trip: the limiter runs on every request but admits.
    rate_limits: options.userBudget === false ? {} : { user: '100000000/1m' },
    identity: { assertion: { key_file: 'assertion-keys.json', bind_request: options.bindRequest ?? false } },
    // Level info, not warn: the "gatehouse started" line that carries the port is logged at info.
    // Nothing else is logged per request unless access_log is on (errors aside).
    log: { level: 'info', access_log: options.accessLog },
    metrics: { enabled: options.metrics ?? true },
    routes: [
      { path: GATEHOUSE_PATHS.public, auth: 'none' },
      { path: GATEHOUSE_PATHS.limited, auth: 'user', rate_limit: '1/1h' },
      { path: '/api/*', methods: ['GET', 'POST'], auth: 'user' },
    ],
  }
}

/** `node dist/cli.js start` (the built gateway, as deployed) with a config written into `dir`. */
export async function startGatehouse(name: string, options: GatehouseOptions, dir: string, wrapper?: Wrapper): Promise<Target> {
  const configFile = join(dir, `${name}.yaml`)
  writeFileSync(configFile, stringify(gatehouseConfig(options)))
  // GATEHOUSE_BENCH_NODE_ARGS: flags for each gatehouse process's node (`--cpu-prof --cpu-prof-dir=/tmp/p`,
  // `--heapsnapshot-signal=SIGUSR2`), for profiling a scenario; NODE_OPTIONS refuses most of them.
  const nodeArgs = process.env.GATEHOUSE_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const child = spawnChild(name, ...nodeCommand([...nodeArgs, join(ROOT, 'dist', 'cli.js'), 'start', '--config', configFile], wrapper), {
    dir,
    cwd: ROOT,
    // The access log goes to stdout, which in a container is a pipe.
    stdoutPipe: true,
  })
  try {
    const { gateway, admin } = await waitForLine(child, parseStarted, wrapper?.readyTimeoutMs)
    return { name, pid: child.pid, origin: `http://${gateway}`, adminOrigin: `http://${admin}`, exited: child.exited, stop: child.stop }
  } catch (error) {
    await child.stop()
    throw error
  }
}

function parseStarted(line: string): { gateway: string; admin: string } | undefined {
  if (!line.includes('"gatehouse started"')) return undefined
  const { gateway, admin } = JSON.parse(line) as { gateway?: string; admin?: string }
  return gateway && admin ? { gateway, admin } : undefined
}
