import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { spawnChild, waitForLine } from '../children.ts'
import { ROOT } from './launch.ts'
import type { Target } from './launch.ts'

export type GatehouseOptions = {
  upstream: string
  issuer: string
  publicKeyPem: string
  /** tokens.cache.max_entries: 100 for jwt-cold, so that rotating 3,000 tokens never hits. */
  cacheEntries: number
  accessLog: boolean
}

/** Paths the scenarios request; the routes below give each its rule. */
export const GATEHOUSE_PATHS = { public: '/public', user: '/api/bench', limited: '/limited' } as const

/** The config a scenario runs with, as the object written to YAML. */
export function gatehouseConfig(options: GatehouseOptions): Record<string, unknown> {
  return {
    server: { listen: '127.0.0.1:0', shutdown_timeout: '1s' },
    upstream: { url: options.upstream },
    admin: { listen: '127.0.0.1:0' },
    roles: [{ name: 'Owner' }, { name: 'Admin' }, { name: 'Member' }],
    tokens: {
      cache: { max_entries: options.cacheEntries, ttl: '5m' },
      issuers: [{ issuer: options.issuer, public_key: options.publicKeyPem, algorithms: ['ES256'], claims: 'propelauth' }],
    },
    // High enough never to trip: the limiter runs on every request but admits.
    rate_limits: { user: '100000000/1m' },
    identity: { assertion: { key_file: 'assertion-keys.json' } },
    // Level info, not warn: the "gatehouse started" line that carries the port is logged at info.
    // Nothing else is logged per request unless access_log is on (errors aside).
    log: { level: 'info', access_log: options.accessLog },
    routes: [
      { path: GATEHOUSE_PATHS.public, auth: 'none' },
      { path: GATEHOUSE_PATHS.limited, auth: 'user', rate_limit: '1/1h' },
      { path: '/api/*', methods: ['GET', 'POST'], auth: 'user' },
    ],
  }
}

/** `node dist/cli.js start` (the built gateway, as deployed) with a config written into `dir`. */
export async function startGatehouse(name: string, options: GatehouseOptions, dir: string): Promise<Target> {
  const configFile = join(dir, `${name}.yaml`)
  writeFileSync(configFile, stringify(gatehouseConfig(options)))
  const child = spawnChild(name, process.execPath, [join(ROOT, 'dist', 'cli.js'), 'start', '--config', configFile], {
    dir,
    cwd: ROOT,
  })
  try {
    const gateway = await waitForLine(child, parseStarted)
    return { name, pid: child.pid, origin: `http://${gateway}`, exited: child.exited, stop: child.stop }
  } catch (error) {
    await child.stop()
    throw error
  }
}

function parseStarted(line: string): string | undefined {
  if (!line.includes('"gatehouse started"')) return undefined
  const { gateway } = JSON.parse(line) as { gateway?: string }
  return gateway
}
