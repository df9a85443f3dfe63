import pg from 'pg'
import { benchAdminKey, createBenchKeys } from './apikeys.ts'
import { findRow } from './evaluate.ts'
import { sendEachOnce } from './load.ts'
import type { MeasureSpec, Measurement } from './measure.ts'
import type { BenchSettings } from './settings.ts'
import { GATEHOUSE_PATHS, startGatehouse } from './targets/gatehouse.ts'
import type { GatehouseOptions } from './targets/gatehouse.ts'
import { startNodeServer } from './targets/launch.ts'
import type { Target } from './targets/launch.ts'
import { startHaproxy } from './targets/haproxy.ts'
import { nginxAnswerConfig, nginxConfig, startNginx } from './targets/nginx.ts'
import { rotation } from './tokens.ts'
import type { BenchIssuer } from './tokens.ts'

export type BenchContext = {
  settings: BenchSettings
  /** The run's temporary folder: configs, keys and every child's log. */
  dir: string
  upstream: Target
  issuer: BenchIssuer
  publicKeyFile: string
  hotToken: string
  /** Tokens of distinct users; jwt-cold, jwt-many and the memory phase take slices of it. */
  pool: readonly string[]
  nginx: string | undefined
  haproxy: string | undefined
  /** `--postgres`: the PostgreSQL database apikey-cold is measured on too (GATEHOUSE_TEST_POSTGRES_URL). */
  postgresUrl: string | undefined
  /** Tokens a verifier must refuse, by what is wrong with each (bench/tokens.ts `mintRefusedTokens`). */
  refusedTokens: Record<string, string>
}

/**
 * One measurement: a fresh target process, unmeasured preparation, then `measure`. Preparation may
 * return what it made for the load (API keys exist only once their gatehouse runs): merged into
 * `spec.load`. It is given the rows its round has measured so far (a paced row takes its rate from one).
 */
export type Run = {
  spec: MeasureSpec
  start(): Promise<Target>
  prepare?(target: Target, earlier: readonly Measurement[]): Promise<Partial<MeasureSpec['load']> | void>
  /** After the target stopped: what the run made outside its folder (a PostgreSQL schema). */
  cleanUp?(): Promise<void>
}

/**
 * Every measurement of a run, each against a fresh process (a clean cache, and RSS figures that
 * belong to the scenario). Comparable rows are adjacent, so drift on a shared machine hits both.
 */
export function benchRuns(ctx: BenchContext): Run[] {
  const { settings } = ctx
  const hot = { authorization: `Bearer ${ctx.hotToken}` }
  const get = (path: string, extra: Partial<MeasureSpec['load']> = {}) => ({ path, connections: settings.connections, ...extra })
  const upload = {
    path: GATEHOUSE_PATHS.user,
    method: 'POST' as const,
    connections: settings.uploadConnections,
    body: Buffer.alloc(settings.uploadBytes, 'a'),
  }
  const coldTokens = ctx.pool.slice(0, settings.coldTokens)
  const manyTokens = ctx.pool.slice(0, settings.manyUsers)

  const gatehouse =
    (name: string, overrides: Partial<GatehouseOptions> = {}) =>
    () =>
      startBenchGatehouse(ctx, name, overrides)
  // API keys are created through the management API of the very process that is then measured.
  const adminApiKey = benchAdminKey()
  const keysFor = async (target: Target, users: number, keys: number, label: string): Promise<string[]> => {
    if (!target.adminOrigin) throw new Error(`${target.name} has no admin listener`)
    const created = Date.now()
    const secrets = await createBenchKeys(target.adminOrigin, adminApiKey, { users, keys, label })
    process.stdout.write(
      `(${keys.toLocaleString('en-US')} key${keys === 1 ? '' : 's'} of ${users} user${users === 1 ? '' : 's'} created in ${((Date.now() - created) / 1000).toFixed(1)} s) `,
    )
    return secrets
  }
  const oneKey = async (target: Target, label: string) => {
    const [key] = await keysFor(target, 1, 1, label)
    return { headers: { 'x-api-key': key! } }
  }
  const nodeProxy = () => startNodeServer('node-proxy', 'node-proxy.js', [ctx.upstream.origin], ctx.dir)
  const fastify = (cache: boolean) => () =>
    startNodeServer(
      cache ? 'fastify-stack' : 'fastify-stack-nocache',
      'fastify-stack.js',
      [ctx.upstream.origin, ctx.issuer.issuer, cache ? 'cache' : 'nocache', ctx.publicKeyFile],
      ctx.dir,
    )

  const runs: Run[] = [
    { spec: { target: 'node-proxy', scenario: 'public', load: get(GATEHOUSE_PATHS.public) }, start: nodeProxy },
    {
      spec: { target: 'undici-proxy', scenario: 'public', load: get(GATEHOUSE_PATHS.public) },
      start: () => startNodeServer('undici-proxy', 'undici-proxy.js', [ctx.upstream.origin], ctx.dir),
    },
  ]
  const nginx = ctx.nginx
  if (nginx) {
    runs.push({
      spec: { target: 'nginx', scenario: 'public', load: get(GATEHOUSE_PATHS.public) },
      start: () => startNginx(nginx, ctx.dir, (port) => nginxConfig(ctx.dir, port, Number(new URL(ctx.upstream.origin).port))),
    })
  }
  runs.push(
    { spec: { target: 'gatehouse', scenario: 'public', load: get(GATEHOUSE_PATHS.public) }, start: gatehouse('public') },
    { spec: { target: 'gatehouse', scenario: 'jwt-hot', load: get(GATEHOUSE_PATHS.user, { headers: hot }) }, start: gatehouse('jwt-hot') },
    // Adjacent to jwt-hot: the access log on, written to stdout, a pipe (as in a container).
    {
      spec: { target: 'gatehouse', variant: 'access log on', scenario: 'jwt-hot+log', load: get(GATEHOUSE_PATHS.user, { headers: hot }) },
      start: gatehouse('jwt-hot-log', { accessLog: true }),
    },
    // Adjacent to jwt-hot: the difference of the two is what metrics cost per request.
    {
      spec: {
        target: 'gatehouse',
        variant: 'metrics off',
        scenario: 'jwt-hot-nometrics',
        load: get(GATEHOUSE_PATHS.user, { headers: hot }),
      },
      start: gatehouse('jwt-hot-nometrics', { metrics: false }),
    },
    {
      spec: {
        target: 'gatehouse',
        variant: 'bind_request on',
        scenario: 'jwt-hot+bind',
        load: get(GATEHOUSE_PATHS.user, { headers: hot }),
      },
      start: gatehouse('jwt-hot-bind', { bindRequest: true }),
    },
    {
      spec: { target: 'fastify-stack', variant: 'cache on', scenario: 'jwt-hot', load: get(GATEHOUSE_PATHS.user, { headers: hot }) },
      start: fastify(true),
    },
    {
      spec: { target: 'gatehouse', scenario: 'apikey-hot', load: get(GATEHOUSE_PATHS.user) },
      start: gatehouse('apikey-hot', { adminApiKey }),
      prepare: (target) => oneKey(target, 'apikey-hot'),
    },
    {
      spec: { target: 'gatehouse', scenario: 'jwt-cold', load: get(GATEHOUSE_PATHS.user, { nextToken: rotation(coldTokens) }) },
      start: gatehouse('jwt-cold', { cacheEntries: settings.coldCacheEntries }),
    },
  )
  const haproxy = ctx.haproxy
  if (haproxy) {
    const upstreamPort = Number(new URL(ctx.upstream.origin).port)
    // Adjacent to jwt-cold: the peer that verifies the same tokens in C, one per request; then the
    // same HAProxy with no check, so that the run measures what the check itself costs it.
    runs.push(
      {
        spec: { target: 'haproxy-jwt', scenario: 'jwt-cold', load: get(GATEHOUSE_PATHS.user, { nextToken: rotation(coldTokens) }) },
        start: () => startHaproxy(haproxy, ctx.dir, upstreamPort, { issuer: ctx.issuer.issuer, publicKeyFile: ctx.publicKeyFile }),
        prepare: (target) => expectRefusals(target, ctx.refusedTokens),
      },
      {
        spec: { target: 'haproxy', scenario: 'public', load: get(GATEHOUSE_PATHS.public) },
        start: () => startHaproxy(haproxy, ctx.dir, upstreamPort),
      },
    )
  }
  runs.push(
    {
      spec: {
        target: 'fastify-stack',
        variant: 'no cache',
        scenario: 'jwt-cold',
        load: get(GATEHOUSE_PATHS.user, { nextToken: rotation(coldTokens) }),
      },
      start: fastify(false),
    },
    {
      spec: { target: 'gatehouse', scenario: 'apikey-cold', load: get(GATEHOUSE_PATHS.user, { tokenHeader: 'x-api-key' }) },
      start: gatehouse('apikey-cold', { adminApiKey, apiKeyCacheEntries: settings.coldCacheEntries }),
      prepare: async (target) => {
        const keys = await keysFor(target, settings.coldKeyUsers, settings.coldKeys, 'apikey-cold')
        return { nextToken: rotation(keys) }
      },
    },
    // Right after apikey-cold: the cached key at the rate apikey-cold reached, so that the ratio of
    // the two is the uncached key's work alone, apart from what serving fewer requests costs by itself.
    {
      spec: { target: 'gatehouse', variant: 'paced', scenario: 'apikey-hot-paced', load: get(GATEHOUSE_PATHS.user) },
      start: gatehouse('apikey-hot-paced', { adminApiKey }),
      prepare: async (target, earlier) => {
        const cold = findRow(earlier, { target: 'gatehouse', scenario: 'apikey-cold' })
        if (!cold) throw new Error('apikey-hot-paced runs at the rate apikey-cold reached in the same round: measure apikey-cold with it')
        return { ...(await oneKey(target, 'apikey-hot-paced')), ratePerSecond: Math.round(cold.rps) }
      },
    },
  )
  const postgresUrl = ctx.postgresUrl
  if (postgresUrl) {
    // Beside apikey-cold on SQLite: the same keys and cache, the store a PostgreSQL schema of this run's own.
    const schema = `gatehouse_bench_${Date.now().toString(36)}`
    runs.push({
      spec: {
        target: 'gatehouse',
        variant: 'postgres',
        scenario: 'apikey-cold-pg',
        load: get(GATEHOUSE_PATHS.user, { tokenHeader: 'x-api-key' }),
      },
      start: gatehouse('apikey-cold-pg', {
        adminApiKey,
        apiKeyCacheEntries: settings.coldCacheEntries,
        storeUrl: withSchema(postgresUrl, schema),
      }),
      prepare: async (target) => {
        const keys = await keysFor(target, settings.coldKeyUsers, settings.coldKeys, 'apikey-cold-pg')
        return { nextToken: rotation(keys) }
      },
      cleanUp: () => dropSchema(postgresUrl, schema),
    })
  }
  runs.push(
    {
      spec: { target: 'gatehouse', scenario: 'jwt-many', load: get(GATEHOUSE_PATHS.user, { nextToken: rotation(manyTokens) }) },
      start: gatehouse('jwt-many'),
      prepare: async (target) => {
        const warm = await sendEachOnce(target.origin, GATEHOUSE_PATHS.user, manyTokens, settings.connections)
        expectAll(warm.statusCounts, 200, manyTokens.length, 'jwt-many warm-through')
      },
    },
    {
      spec: { target: 'gatehouse', scenario: 'rate-limited', expectedStatus: 429, load: get(GATEHOUSE_PATHS.limited, { headers: hot }) },
      start: gatehouse('rate-limited'),
      // The route allows 1 request an hour: spend it, and every measured request takes the 429 path.
      prepare: async (target) => {
        const first = await fetch(target.origin + GATEHOUSE_PATHS.limited, { headers: hot })
        await first.arrayBuffer()
        if (first.status !== 200) throw new Error(`rate-limited: the first request got ${first.status}, expected 200`)
      },
    },
  )
  // The decision call an ingress makes for a GET of the jwt-hot path: decided, never proxied.
  const decisionCall = get(GATEHOUSE_PATHS.forwardAuth, {
    headers: { ...hot, 'x-forwarded-method': 'GET', 'x-forwarded-uri': GATEHOUSE_PATHS.user },
  })
  if (nginx) {
    runs.push({
      spec: { target: 'nginx', variant: 'return 200', scenario: 'forward-auth', load: decisionCall },
      start: () => startNginx(nginx, ctx.dir, (port) => nginxAnswerConfig(ctx.dir, port), 'nginx-return-200'),
    })
  }
  runs.push(
    {
      spec: { target: 'gatehouse', scenario: 'forward-auth', load: decisionCall },
      start: gatehouse('forward-auth', { forwardAuth: true }),
    },
    { spec: { target: 'gatehouse', scenario: 'upload', load: { ...upload, headers: hot } }, start: gatehouse('upload') },
    { spec: { target: 'node-proxy', scenario: 'upload', load: upload }, start: nodeProxy },
  )
  return runs
}

// Each start gets a store file of its own: a scenario measured again in a later round starts empty,
// as its first round did (its preparation creates the same users again).
let starts = 0

/** gatehouse in front of the bench's upstream, trusting the bench's issuer; default cache unless overridden. */
export function startBenchGatehouse(ctx: BenchContext, name: string, overrides: Partial<GatehouseOptions> = {}): Promise<Target> {
  starts++
  return startGatehouse(
    `gatehouse-${name}`,
    {
      upstream: ctx.upstream.origin,
      issuer: ctx.issuer.issuer,
      publicKeyPem: ctx.issuer.publicKeyPem,
      cacheEntries: 100_000,
      apiKeyCacheEntries: 100_000,
      accessLog: false,
      storeFile: `gatehouse-${name}-${starts}.db`,
      ...overrides,
    },
    ctx.dir,
  )
}

/** Preparation that silently half-failed would make the measurement mean something else. */
export function expectAll(statusCounts: Record<string, number>, status: number, count: number, what: string): void {
  const got = statusCounts[status] ?? 0
  if (got !== count) throw new Error(`${what}: ${got} of ${count} responses were ${status} (${JSON.stringify(statusCounts)})`)
}

/**
 * A peer measured as a verifier must verify: before its window, every refused token (and no
 * token at all) must get a 401, or the run stops — a peer that admits them would be fast for
 * checking less than gatehouse does.
 */
export async function expectRefusals(target: Target, refusedTokens: Record<string, string>): Promise<void> {
  const cases: [string, Record<string, string>][] = [
    ['no token', {}],
    ...Object.entries(refusedTokens).map(([what, token]): [string, Record<string, string>] => [what, { authorization: `Bearer ${token}` }]),
  ]
  for (const [what, headers] of cases) {
    const response = await fetch(target.origin + GATEHOUSE_PATHS.user, { headers })
    await response.arrayBuffer()
    if (response.status !== 401) throw new Error(`${target.name} answered ${response.status} to a token with ${what}, expected 401`)
  }
}

/** `url` with `?schema=` set (gatehouse creates a missing schema). */
function withSchema(url: string, schema: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('schema', schema)
  return parsed.toString()
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`drop schema if exists ${schema} cascade`)
  } finally {
    await client.end()
  }
}
