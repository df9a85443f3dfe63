import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { createAccountsDoor } from './accounts/index.ts'
import type { AccountsDoor } from './accounts/index.ts'
import { adminDepsOf, createAdminApp } from './admin/index.ts'
import { createApiKeyAuthenticator, createUsageCounter, createValidationMeter } from './apikeys/index.ts'
import type { ApiKeyAuthenticator, UsageCounter } from './apikeys/index.ts'
import { createTokenVerifier } from './authn/index.ts'
import type { TokenVerifier } from './authn/index.ts'
import { createWorkerPool, WORKER_USAGE_SHIPMENT_MS } from './cluster/index.ts'
import type { PrimaryLink, WorkerPool } from './cluster/index.ts'
import { ConfigError, loadConfig } from './config/index.ts'
import type { GatehouseConfig, ListenAddress, LoadedConfig } from './config/index.ts'
import {
  createAssertionSigner,
  createIdentityFields,
  createUpstreamHeaders,
  createUpstreamProxy,
  createUpstreamReachability,
  loadOrCreateAssertionKeys,
} from './forward/index.ts'
import type { AssertionKeys, UpstreamProxy } from './forward/index.ts'
import { createDecider, readSession } from './decide/index.ts'
import type { Decide } from './decide/index.ts'
import { createDirectoryOperations, openDirectory, signInSettingsOf } from './directory/index.ts'
import type { Directory, DirectoryChange } from './directory/index.ts'
import { createRoleTable } from './identity/index.ts'
import type { RoleTable } from './identity/index.ts'
import { explainRequest } from './explain/index.ts'
import { createPipeline, createSocketAnswers } from './gateway.ts'
import type { SocketAnswers } from './gateway.ts'
import { createGracefulServer } from './http/index.ts'
import type { GracefulServer } from './http/index.ts'
import { createLogger } from './log.ts'
import { createMailer } from './mail/index.ts'
import type { Logger } from './log.ts'
import { createRedisInvalidationBus, createLocalInvalidationBus, invalidationChannel } from './invalidation/index.ts'
import type { InvalidationEvent } from './invalidation/index.ts'
import { aggregatedExpositionOf, createPrometheusMetrics, expositionOf, noMetrics, Registry } from './metrics/index.ts'
import { createPagesDoor } from './pages/index.ts'
import type { PagesDoor } from './pages/index.ts'
import type { Metrics } from './metrics/index.ts'
import { createMemoryLimiter, createRedisLimiter } from './ratelimit/index.ts'
import type { Limiter } from './ratelimit/index.ts'
import { createGenerations, restartOnlyChanges, settingsKey, watchConfigFile } from './reload/index.ts'
import type { Generations } from './reload/index.ts'
import { connectRedis } from './redis-connections.ts'
import { reportingUnavailable, watchStoreHealth } from './store/index.ts'
import type { Store, StoreHealth } from './store/index.ts'
import { createTunnelDoor, createTunnelRegistry } from './tunnel/index.ts'
import type { TunnelDoor, TunnelRegistry } from './tunnel/index.ts'

export type RunningGatehouse = {
  /** In a cluster's primary, the address its workers serve on. */
  gateway: AddressInfo
  /** In a cluster's worker, the configured admin address, which its primary serves. */
  admin: AddressInfo
  log: Logger
  /**
   * Reloads the config file (SIGHUP, `config.watch`): applied as a whole or not at all; the
   * restart-only settings it changes are named and keep their running values.
   */
  reload(): Promise<ReloadResult>
  /** Stops accepting, lets in-flight requests finish (bounded by server.shutdown_timeout), frees everything. */
  close(): Promise<void>
}

export type StartOptions = {
  log?: Logger
  /** Wraps the store the config names; tests use it to control when store calls answer. */
  wrapStore?: (store: Store) => Store
  /** Told the outcome of every reload, after it is logged: where a metric counts them. */
  onReload?: (outcome: ReloadOutcome) => void
  /**
   * This process's side of a cluster (server.workers > 1). The primary runs the admin listener,
   * the usage flush and the limiter of record, and forks the workers; a worker serves the gateway
   * listener and reaches the primary through its link.
   */
  cluster?: { role: 'primary' } | { role: 'worker'; primary: PrimaryLink }
}

export type ReloadResult = {
  outcome: ReloadOutcome
  /** `FILE:LINE:COL key: message` lines of a config that was refused, or the error of a build that failed. */
  problems: readonly string[]
  /** Changed settings that apply only with a restart (their names). */
  restartOnly: readonly string[]
}

/** A listener that could not bind: names the config key and the address, for a one-line message. */
export class ListenError extends Error {
  constructor(
    readonly key: 'server.listen' | 'admin.listen',
    address: ListenAddress,
    cause: NodeJS.ErrnoException,
  ) {
    const why = cause.code === 'EADDRINUSE' ? 'the address is already in use' : cause.message
    const host = address.host.includes(':') ? `[${address.host}]` : address.host
    super(`${key} ${host}:${address.port}: cannot listen: ${why}`, { cause })
  }
}

/**
 * Builds every part from a loaded config and starts the gateway and admin listeners. A start that
 * fails part-way (a port in use, an unreadable key file) closes what it had opened before it
 * rejects, so nothing keeps the process alive or holds a port.
 */
export async function startGatehouse(loaded: LoadedConfig, options: StartOptions = {}): Promise<RunningGatehouse> {
  const log = options.log ?? createLogger(loaded.config.log.level)
  const opened = createCloseStack(log)
  try {
    return await build(loaded, log, opened, options)
  } catch (err) {
    await opened.closeAll()
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'gatehouse failed to start')
    await flushLog(log)
    throw err
  }
}

async function build(loaded: LoadedConfig, log: Logger, opened: CloseStack, options: StartOptions): Promise<RunningGatehouse> {
  const { config } = loaded
  const worker = options.cluster?.role === 'worker' ? options.cluster.primary : undefined
  // Its own registry, not prom-client's global one: two gatehouses in one process (tests, an
  // embedding) each count their own requests.
  const registry = new Registry()
  const metrics = config.metrics.enabled ? createPrometheusMetrics(registry) : noMetrics
  // First: a key file that does not fit the config stops the start before anything is opened.
  const assertion = config.identity.assertion
  const keys = await loadOrCreateAssertionKeys({
    algorithm: assertion.algorithm,
    keyFile: resolve(loaded.dir, assertion.keyFile),
    secret: assertion.secret,
  })
  let storeHealth: StoreHealth | undefined
  const watchStore = (store: Store) => {
    // An outage is logged when it starts and when it ends, not with every refused request.
    storeHealth = watchStoreHealth(reportingUnavailable(options.wrapStore?.(store) ?? store, metrics.storeError), (err) =>
      err ? log.error({ err: err.message }, 'store unavailable: requests that need it get 503') : log.info('store available again'),
    )
    return storeHealth.store
  }
  const directory = opened.add(await openDirectory(loaded, { warn: (message) => log.warn(message), wrapStore: watchStore }))
  const upstreamReachability = createUpstreamReachability(config.upstream.url, config.upstream.connectTimeoutMs)
  // A worker ships its counts to the primary, whose flush alone writes them.
  const usage = createUsageCounter({
    store: worker?.usage ?? directory.store,
    flushMs: worker ? Math.min(config.apiKeys.usageFlushMs, WORKER_USAGE_SHIPMENT_MS) : config.apiKeys.usageFlushMs,
    onError: (err) => log.warn({ err: String(err) }, 'writing usage failed; kept for the next flush'),
  })
  // Closed after the listeners and before the store: its last flush writes to the store.
  opened.add(usage)
  const { shared, redisLimiter, limiter } = await openLimiter(config, log, opened, metrics, worker)
  const fixed: FixedParts = {
    keys,
    assertionAlgorithm: assertion.algorithm,
    directory,
    usage,
    limiter,
    tunnels: createTunnelRegistry(config.rateLimits.websocketConnections),
    holds: createPartHolds(),
    metrics,
    log,
  }
  metrics.openTunnels(() => fixed.tunnels.size)
  // Assigned once the first generation is built, which needs the sign-in door, which announces
  // changes; before then nothing is cached, so an early change has nothing to evict.
  const live: { generations?: Generations<Generation> } = {}

  /** Evicts what a directory change makes stale, whichever replica it was made on, and ends the tunnels it opened. */
  const evict = (change: InvalidationEvent) => {
    fixed.tunnels.revoke(change)
    if (!live.generations) return
    const { verifier, apiKeys } = live.generations.current()
    if (change.userId) {
      verifier.evictUser(change.userId)
      apiKeys.evictUser(change.userId)
    }
    if (change.kind === 'org' && change.orgId) apiKeys.evictOrg(change.orgId)
    if (change.apiKeyId) apiKeys.evictKey(change.apiKeyId)
  }
  const publish = (change: InvalidationEvent) =>
    bus
      .publish(change)
      .catch((err: unknown) =>
        log.warn({ err: String(err) }, 'publishing an invalidation failed; other replicas catch up within the cache ttl'),
      )
  // Stopped before the usage counter's last flush, which writes what the workers shipped last.
  const pool =
    options.cluster?.role === 'primary'
      ? opened.add(
          createWorkerPool({
            count: config.server.workers,
            log,
            shutdownTimeoutMs: config.server.shutdownTimeoutMs,
            limiter,
            usage,
            onChange: (change) => (evict(change), void publish(change)),
          }),
        )
      : undefined
  // The workers hear of changes from the primary, which alone listens on Redis for other replicas'.
  const bus = worker
    ? { publish: async (change: InvalidationEvent) => worker.announce(change), close: async () => {} }
    : shared
      ? createRedisInvalidationBus({
          publisher: shared.client,
          subscriber: shared.subscriber,
          channel: invalidationChannel(config.redis!.keyPrefix),
          onMessage: (change) => (evict(change), void pool?.evict(change)),
        })
      : createLocalInvalidationBus()
  opened.add(bus)
  // A change must not be outlived by a cached token or key validation, here, in a worker or on any replica.
  const announce = (change: DirectoryChange) => {
    evict(change)
    void pool?.evict(change)
    void publish(change)
  }
  const endUsers = config.endUsers
  const signIn = signInSettingsOf(endUsers)
  const mailer = config.mail && createMailer(config.mail, log)
  if (mailer) opened.add({ close: async () => mailer.close() })
  const endUserDirectory = createDirectoryOperations({
    store: directory.store,
    roles: directory.roles,
    tokens: directory.localIssuer,
    onChange: announce,
    signIn,
    mailer,
  })
  // Who a browser's session cookie signs in, by the running generation's verifier: the same
  // verification as a route's cookie credential.
  const sessionOf = (rawHeaders: readonly string[]) =>
    readSession(live.generations!.current().verifier, endUsers.session.cookie, rawHeaders)
  fixed.accounts = endUsers.enabled
    ? createAccountsDoor({
        directory: endUserDirectory,
        limiter,
        loginFailures: endUsers.loginFailures,
        session: endUsers.session,
        redirectOrigins: signIn.redirectOrigins,
        trustProxy: config.server.trustProxy,
        identifyCaller: async (req) => (await sessionOf(req.rawHeaders))?.identity,
        mailsLinks: mailer !== undefined,
        log,
      })
    : undefined
  // end_users needs tokens.local_issuer (the config says so), whose key the pages' secrets are derived from.
  const pageSecrets = directory.localIssuer
  fixed.pages =
    endUsers.enabled && pageSecrets
      ? createPagesDoor({
          directory: endUserDirectory,
          session: sessionOf,
          sessionCookie: endUsers.session.cookie,
          orgKeysPermission: endUsers.accountPage.orgKeysPermission,
          mail: mailer !== undefined,
          secrets: {
            csrf: pageSecrets.deriveSecret('account page csrf'),
            oneTimeSecret: pageSecrets.deriveSecret('account page one-time secret'),
          },
          trustProxy: config.server.trustProxy,
        })
      : undefined
  const generations = createGenerations(await buildGeneration(loaded, fixed), (err) =>
    log.warn({ err: String(err) }, 'closing a replaced config generation failed'),
  )
  live.generations = generations
  // Retired after the listeners drained: the last requests finish under it.
  opened.add(generations)

  const listenerTimeouts = {
    headersTimeoutMs: config.server.headersTimeoutMs,
    keepAliveTimeoutMs: config.server.keepAliveTimeoutMs,
  }
  // In a cluster the primary serves the admin listener and its workers the gateway listener.
  const gateway = pool ? undefined : createGatewayListener(generations, fixed.tunnels, listenerTimeouts)
  const admin = worker ? undefined : createAdminListener()
  function createAdminListener(): GracefulServer {
    const adminApp = createAdminApp({
      ...adminDepsOf(directory),
      jwks: () => keys.jwks(),
      checks: [
        // Names each issuer whose keys cannot be had yet and why: a discovery or JWKS outage at start.
        {
          name: 'token_keys',
          ready: () => generations.current().verifier.ready(),
          detail: () => ({ unready: generations.current().verifier.unready() }),
        },
        // Falling back to local limits keeps serving, so it is reported but not unready.
        ...(redisLimiter ? [{ name: 'redis', ready: () => true, detail: () => ({ rate_limits: redisLimiter.state() }) }] : []),
        ...(storeHealth ? [{ name: 'store', ready: storeHealth.ready, detail: storeHealth.detail }] : []),
        // An upstream that starts after gatehouse is normal for a sidecar: a detail, never unready.
        { name: 'upstream', ready: async () => (await upstreamReachability.probe(), true), detail: upstreamReachability.detail },
        // Ready while every worker serves; one restarting after a crash makes the replica unready until it does.
        ...(pool
          ? [
              {
                name: 'workers',
                ready: () => pool.serving() === config.server.workers,
                detail: () => ({ serving: pool.serving(), configured: config.server.workers }),
              },
            ]
          : []),
      ],
      apiKey: config.admin.apiKey,
      metrics: config.metrics.enabled
        ? pool
          ? aggregatedExpositionOf(registry, () => pool.metrics())
          : expositionOf(registry)
        : undefined,
      // A validate call is the key's use, as PropelAuth counts it: the proxy's budgets and usage counter.
      meter: createValidationMeter({
        roles: directory.roles,
        orgKeyRole: config.apiKeys.orgKeyRole,
        limiter,
        limits: config.rateLimits,
        usage,
      }),
      // The running generation's decision, held until the explanation is made, as a request holds it.
      explain: async (input) => {
        const generation = generations.acquire()
        try {
          return await explainRequest({ decide: generation.decide, routes: generation.loaded.routes }, input)
        } finally {
          generations.release(generation)
        }
      },
      // The audit trail of key deletions goes to the log, like every other line: never a secret.
      audit: (event) => log.info({ audit: event }, 'audit'),
      onChange: announce,
      signIn,
      mailer,
    })
    // A change made through the admin API answers once every worker has evicted what it makes stale.
    const adminFetch: typeof adminApp.fetch = pool
      ? async (...args) => {
          const response = await adminApp.fetch(...args)
          await pool.settled()
          return response
        }
      : adminApp.fetch
    // Leave the process's global Request/Response alone: gatehouse may be embedded (tests, SDKs).
    return createGracefulServer({ request: getRequestListener(adminFetch, { overrideGlobalObjects: false }) }, listenerTimeouts)
  }

  // Serving before Redis answers would decide the first requests on this replica alone.
  if (shared && !(await shared.ready(config.redis!.startTimeoutMs))) {
    log.warn({ waited_ms: config.redis!.startTimeoutMs }, 'Redis not connected yet: serving with local rate limits until it is')
  }

  // Drained together, each listener as soon as it listens: one after the other, so that when the
  // admin address fails the gateway listener is already there to be closed.
  // In a cluster the primary listens on the admin address and its workers on the gateway's.
  const listening: GracefulServer[] = []
  opened.add({ close: () => Promise.all(listening.map((listener) => listener.drain(config.server.shutdownTimeoutMs))) })
  let gatewayAddress: AddressInfo | undefined
  if (gateway) {
    gatewayAddress = await listen(gateway.server, 'server.listen', config.server.listen)
    listening.push(gateway)
  }
  // A worker names the admin address its primary listens on.
  let adminAddress: AddressInfo = { address: config.admin.listen.host, port: config.admin.listen.port, family: '' }
  if (admin) {
    adminAddress = await listen(admin.server, 'admin.listen', config.admin.listen)
    listening.push(admin)
  }
  if (pool) gatewayAddress = await pool.start()
  if (!worker) {
    log.info(
      {
        gateway: `${gatewayAddress!.address}:${gatewayAddress!.port}`,
        admin: `${adminAddress.address}:${adminAddress.port}`,
        routes: loaded.routes.routes.length,
        ...(pool && { workers: config.server.workers }),
      },
      'gatehouse started',
    )
  }
  // The primary alone reports it: the workers reach the same upstream.
  const probed = worker ? Promise.resolve(undefined) : upstreamReachability.probe()
  void probed.then((unreachable) => {
    if (unreachable !== undefined) {
      log.warn(
        { upstream: config.upstream.url.origin, err: unreachable },
        'the upstream is not reachable: proxied requests get 502 until it is',
      )
    }
  })

  let closing: Promise<void> | undefined
  const reloader = createReloader(generations, fixed, (outcome) => {
    // The primary counts a cluster's reload once.
    if (!worker) metrics.recordReload(outcome === 'applied' ? 'success' : 'failure')
    options.onReload?.(outcome)
  })
  const reload = pool ? () => reloadCluster(reloader.reload, pool, log) : reloader.reload
  // A worker reloads when the primary, which watches the file, asks it.
  const watches = (c: GatehouseConfig) => c.configFile.watch && !worker
  let watcher = watches(config) ? watchConfigFile(loaded.file, () => void reload()) : undefined
  reloader.onApplied((next) => {
    if (closing) return
    if (watches(next) && !watcher) watcher = watchConfigFile(loaded.file, () => void reload())
    if (!watches(next) && watcher) {
      watcher.close()
      watcher = undefined
    }
  })
  const close = () =>
    (closing ??= (async () => {
      watcher?.close()
      await reloader.idle()
      await opened.closeAll()
      log.info('gatehouse stopped')
      await flushLog(log)
    })())
  if (worker) {
    worker.serve({ evict, reload: reloader.reload, metrics: () => registry.getMetricsAsJSON() })
    await worker.listening(gatewayAddress!)
  }
  return { gateway: gatewayAddress!, admin: adminAddress, log, reload, close }
}

/**
 * A cluster's reload: the primary loads and validates the file first (a refused file stops
 * there, every process keeps its config), then every worker reloads it. The outcome is failed
 * when any process failed, with each failure's problems.
 */
async function reloadCluster(reloadPrimary: () => Promise<ReloadResult>, pool: WorkerPool, log: Logger): Promise<ReloadResult> {
  const own = await reloadPrimary()
  if (own.outcome === 'failed') return own
  const failed = (await pool.reload()).filter((result) => result.outcome === 'failed')
  if (failed.length === 0) return own
  const problems = failed.flatMap((result) => result.problems)
  log.error({ problems, workers_failed: failed.length }, 'config reload failed in a worker: it keeps its running config')
  return { outcome: 'failed', problems, restartOnly: own.restartOnly }
}

/** What every config generation shares: built once at start from the restart-only settings. */
type FixedParts = {
  keys: AssertionKeys
  assertionAlgorithm: GatehouseConfig['identity']['assertion']['algorithm']
  directory: Directory
  usage: UsageCounter
  limiter: Limiter
  tunnels: TunnelRegistry
  holds: PartHolds
  metrics: Metrics
  log: Logger
  /** The end-user sign-in door (end_users.enabled): built once, as its settings are restart-only. */
  accounts?: AccountsDoor
  /** The self-service pages (end_users.enabled): built once, like the sign-in door. */
  pages?: PagesDoor
}

/**
 * The parts built from the reloadable settings of one config, behind the listeners' handlers.
 * `held` are the closable parts it uses, counted in {@link PartHolds}: a part the next generation
 * reuses (an unchanged verifier, with its warm identity cache and JWKS) is closed only once no
 * generation, serving or still finishing requests, holds it.
 */
type Generation = {
  loaded: LoadedConfig
  roles: RoleTable
  verifier: TokenVerifier
  apiKeys: ApiKeyAuthenticator
  proxy: UpstreamProxy
  decide: Decide
  pipeline: ReturnType<typeof createPipeline>
  socketAnswers: SocketAnswers
  tunnels: TunnelDoor
  held: Closable[]
  retire(): Promise<void>
}

/**
 * Builds a generation from a loaded config, reusing the previous generation's verifier, API-key
 * authenticator and upstream pool while the settings each was built from are unchanged. A
 * verifier (and its identity cache) is rebuilt when the token settings or the roles change:
 * cached identities carry the roles and permissions mapped under the old table, so keeping them
 * would let a removed permission outlive the reload by the cache ttl. The same holds for the
 * API-key cache, which also depends on api_keys.*. The limiter's budgets are kept: a reload must
 * not hand every caller a fresh budget.
 */
async function buildGeneration(loaded: LoadedConfig, fixed: FixedParts, previous?: Generation): Promise<Generation> {
  const held: Closable[] = []
  const hold = <T extends Closable>(part: T): T => {
    fixed.holds.hold(part)
    held.push(part)
    return part
  }
  try {
    return await assembleGeneration(loaded, fixed, hold, held, previous)
  } catch (err) {
    // A build that fails leaves the running generation as it was: what this one opened is closed.
    for (const part of held) await fixed.holds.release(part)
    throw err
  }
}

async function assembleGeneration(
  loaded: LoadedConfig,
  fixed: FixedParts,
  hold: <T extends Closable>(part: T) => T,
  held: Closable[],
  previous?: Generation,
): Promise<Generation> {
  const { config } = loaded
  const { log } = fixed
  const { roles, verifier, apiKeys, decide } = await buildDecision(loaded, fixed, hold, previous)
  const proxy = hold(unchangedSince(previous, config)((c) => c.upstream) ? previous!.proxy : createUpstreamProxy(config.upstream))
  const assertion = config.identity.assertion
  const signer = createAssertionSigner({
    keys: fixed.keys,
    algorithm: fixed.assertionAlgorithm,
    issuer: assertion.issuer,
    audience: assertion.audience,
    ttlMs: assertion.ttlMs,
    bindRequest: assertion.bindRequest,
    pathPrefix: config.upstream.url.pathname.replace(/\/$/, ''),
  })
  const policy = { identityPrefix: config.identity.headerPrefix, assertionHeader: assertion.header }
  const identityFields = createIdentityFields({ ...policy, signer })
  const upstreamHeaders = createUpstreamHeaders({
    ...policy,
    hideCredentials: config.upstream.hideCredentials,
    identityFields,
    ...(config.endUsers.enabled ? { sessionCookie: config.endUsers.session.cookie } : {}),
  })
  const { usage } = fixed
  const tunnels = createTunnelDoor({ config, decide, upstreamHeaders, usage, log, registry: fixed.tunnels })
  const pipeline = createPipeline({
    config,
    decide,
    identityFields,
    upstreamHeaders,
    usage,
    proxy,
    log,
    metrics: fixed.metrics,
    accounts: fixed.accounts,
    pages: fixed.pages,
  })
  return {
    loaded,
    roles,
    verifier,
    apiKeys,
    proxy,
    decide,
    pipeline,
    socketAnswers: createSocketAnswers({ config, decide, log, metrics: fixed.metrics }),
    tunnels,
    held,
    async retire() {
      for (const part of held.splice(0)) await fixed.holds.release(part)
    },
  }
}

/**
 * The one decision of a config and what it is built from. A part the previous generation built
 * from the same settings is reused; each closable part is held (`hold`) for the new generation.
 */
async function buildDecision(
  loaded: LoadedConfig,
  parts: Pick<FixedParts, 'directory' | 'limiter' | 'metrics' | 'log'>,
  hold: <T extends Closable>(part: T) => T,
  previous?: Generation,
): Promise<Pick<Generation, 'roles' | 'verifier' | 'apiKeys' | 'decide'>> {
  const { config, routes, dir } = loaded
  const { directory, log } = parts
  const sameAsBefore = unchangedSince(previous, config)
  // The first generation shares the directory's table; a reload that changes the roles maps the gateway's credentials under the new one.
  const roles = !previous ? directory.roles : sameAsBefore((c) => c.roles) ? previous.roles : createRoleTable(config.roles)
  let verifier: TokenVerifier
  if (sameAsBefore((c) => [c.tokens, c.roles])) verifier = hold(previous!.verifier)
  else {
    verifier = await createTokenVerifier({
      issuers: config.tokens.issuers,
      leewayMs: config.tokens.leewayMs,
      cache: config.tokens.cache,
      jwks: config.tokens.jwks,
      roles,
      configDir: dir,
      log,
      localIssuer: directory.localIssuer?.verifier,
      metrics: parts.metrics,
    })
    hold(verifier)
  }
  const apiKeys = sameAsBefore((c) => [c.apiKeys, c.roles])
    ? previous!.apiKeys
    : createApiKeyAuthenticator({
        store: directory.store,
        roles,
        prefixes: config.apiKeys.prefixes,
        orgKeyRole: config.apiKeys.orgKeyRole,
        acceptImported: config.apiKeys.acceptImported,
        cache: config.apiKeys.cache,
        metrics: parts.metrics,
      })
  // One decision for every door: the proxy, forward-auth and the WebSocket handshake.
  const decide = createDecider({
    routes,
    verifier,
    apiKeys,
    limiter: parts.limiter,
    limits: config.rateLimits,
    trustProxy: config.server.trustProxy,
    metrics: parts.metrics,
  })
  return { roles, verifier, apiKeys, decide }
}

/** Whether the settings `of` picks are the same in the previous generation's config (false without one). */
function unchangedSince(previous: Generation | undefined, config: GatehouseConfig) {
  return (of: (c: GatehouseConfig) => unknown) =>
    previous !== undefined && settingsKey(of(previous.loaded.config)) === settingsKey(of(config))
}

/** How many generations hold each closable part: closed when the last one lets go. */
type PartHolds = { hold(part: Closable): void; release(part: Closable): Promise<void> }

function createPartHolds(): PartHolds {
  const holds = new Map<Closable, number>()
  return {
    hold: (part) => void holds.set(part, (holds.get(part) ?? 0) + 1),
    async release(part) {
      const left = (holds.get(part) ?? 1) - 1
      if (left > 0) return void holds.set(part, left)
      holds.delete(part)
      await part.close()
    },
  }
}

type ReloadOutcome = 'applied' | 'failed'

/**
 * Reloads the config file the running config came from, one reload at a time: loaded and
 * validated completely, then built, then swapped in. Any failure leaves the running generation
 * serving and is logged with the file's lines.
 */
function createReloader(generations: Generations<Generation>, fixed: FixedParts, onReload: StartOptions['onReload']) {
  const { log } = fixed
  let queue: Promise<unknown> = Promise.resolve()
  const applied: ((config: GatehouseConfig) => void)[] = []
  async function attempt(): Promise<ReloadResult> {
    const running = generations.current()
    const started = performance.now()
    let next: LoadedConfig
    try {
      next = loadConfig(running.loaded.file)
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      log.error({ file: err.file, problems: err.message.split('\n') }, 'config reload failed: the running config stays')
      return { outcome: 'failed', problems: err.message.split('\n'), restartOnly: [] }
    }
    const restartOnly = restartOnlyChanges(running.loaded.config, next.config)
    let generation
    try {
      generation = await buildGeneration(next, fixed, running)
    } catch (err) {
      const problem = err instanceof Error ? err.message : String(err)
      log.error({ file: next.file, err: problem }, 'config reload failed: the running config stays')
      return { outcome: 'failed', problems: [problem], restartOnly }
    }
    generations.swap(generation)
    log.level = next.config.log.level
    if (restartOnly.length > 0) {
      log.warn({ keys: restartOnly }, 'config reload: these settings change only with a restart; the running values stay')
    }
    for (const listener of applied) listener(next.config)
    log.info({ file: next.file, routes: next.routes.routes.length, took_ms: Math.round(performance.now() - started) }, 'config reloaded')
    return { outcome: 'applied', problems: [], restartOnly }
  }
  return {
    reload(): Promise<ReloadResult> {
      const result = queue.then(attempt).catch((err: unknown): ReloadResult => {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'config reload failed: the running config stays')
        return { outcome: 'failed', problems: [String(err)], restartOnly: [] }
      })
      queue = result.then((r) => onReload?.(r.outcome))
      return result
    },
    onApplied: (listener: (config: GatehouseConfig) => void) => void applied.push(listener),
    idle: () => queue.then(() => undefined),
  }
}

/**
 * The gateway listener over the generations: each request runs under the generation it started
 * in. The proxied path is a plain node:http handler: Hono's Request/Response adapter costs about
 * 16 µs of CPU per request (measured: ~92 vs ~108 µs with one cached token) and the pipeline
 * uses none of it. Hono serves the admin API, where its routing and validation pay off.
 */
function createGatewayListener(
  generations: Generations<Generation>,
  tunnels: TunnelRegistry,
  timeouts: { headersTimeoutMs: number; keepAliveTimeoutMs: number },
): GracefulServer {
  const serve = (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => {
    const generation = generations.acquire()
    const release = () => generations.release(generation)
    const handled = generation.pipeline(req, res, expectsContinue)
    if (handled) void handled.finally(release)
    else release()
  }
  const gateway = createGracefulServer(
    {
      request: (req, res) => serve(req, res),
      checkContinue: (req, res) => serve(req, res, true),
      upgrade: {
        handle: (req, socket, head) => generations.current().tunnels.handle(req, socket, head),
        closeAll: () => tunnels.closeAll(),
      },
    },
    timeouts,
  )
  // Node keeps only the first 2,000 header lines and drops the rest without a word; the 16 KiB
  // header-size limit already bounds them, and every check must see every line.
  gateway.server.maxHeadersCount = 0
  gateway.server.on('connect', (req: IncomingMessage, socket: Duplex) => generations.current().socketAnswers.connect(req, socket))
  gateway.server.on('clientError', (err: Error, socket: Duplex) => generations.current().socketAnswers.clientError(err, socket))
  return gateway
}

/**
 * The limiter of a config: budgets shared over Redis when `redis.url` is set (local while it is
 * unreachable), else local — in a cluster's worker, the primary's over IPC.
 */
async function openLimiter(config: GatehouseConfig, log: Logger, opened: CloseStack, metrics: Metrics, worker?: PrimaryLink) {
  const shared = config.redis ? opened.add(await connectRedis(config.redis, log)) : undefined
  if (worker && !shared) return { shared, redisLimiter: undefined, limiter: worker.limiter }
  // With Redis, the Redis limiter reports for its fallback too.
  const memoryLimiter = createMemoryLimiter({ maxTracked: config.rateLimits.maxTracked, metrics: shared ? undefined : metrics })
  const redisLimiter =
    shared &&
    createRedisLimiter({
      redis: shared.client,
      fallback: memoryLimiter,
      timeoutMs: config.redis!.timeoutMs,
      breakerTimeouts: config.redis!.breakerTimeouts,
      retryAfterMs: config.redis!.breakerCooldownMs,
      // Each worker of each replica decides alone while Redis is away.
      replicas: config.redis!.replicas * (worker ? config.server.workers : 1),
      keyPrefix: `${config.redis!.keyPrefix}rl:`,
      metrics,
      onStateChange: (state, err) =>
        state === 'fallback'
          ? log.warn({ err: String(err) }, 'Redis unavailable: rate limits fall back to this replica alone')
          : log.info('Redis back: rate limits are shared again'),
    })
  if (redisLimiter) opened.add(redisLimiter)
  const limiter = redisLimiter ?? memoryLimiter
  return { shared, redisLimiter, limiter }
}

/**
 * The decision of a config without listeners, for `gatehouse explain`: the store (API keys), the
 * issuers' keys (tokens) and the limiter (Redis when configured) opened as `start` opens them.
 */
export async function openDecision(loaded: LoadedConfig, log: Logger): Promise<{ decide: Decide; close(): Promise<void> }> {
  const opened = createCloseStack(log)
  try {
    const directory = opened.add(await openDirectory(loaded, { warn: (message) => log.warn(message) }))
    const { shared, limiter } = await openLimiter(loaded.config, log, opened, noMetrics)
    if (shared && loaded.config.redis) await shared.ready(loaded.config.redis.startTimeoutMs)
    const { decide } = await buildDecision(loaded, { directory, limiter, metrics: noMetrics, log }, (part) => opened.add(part))
    return { decide, close: () => opened.closeAll() }
  } catch (err) {
    await opened.closeAll()
    throw err
  }
}

type Closable = { close(): unknown }
type CloseStack = { add<T extends Closable>(resource: T): T; closeAll(): Promise<void> }

/**
 * What a start has opened, closed in the reverse order: listeners first (they drain), the store
 * last. A close that fails is logged and the others still run.
 */
function createCloseStack(log: Logger): CloseStack {
  const resources: Closable[] = []
  return {
    add(resource) {
      resources.push(resource)
      return resource
    },
    async closeAll() {
      for (const resource of resources.splice(0).reverse()) {
        try {
          await resource.close()
        } catch (err) {
          log.warn({ err: String(err) }, 'closing a part of gatehouse failed')
        }
      }
    },
  }
}

function flushLog(log: Logger): Promise<void> {
  return new Promise<void>((done) => log.flush(() => done()))
}

function listen(server: Server, key: ListenError['key'], address: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolveListen, rejectListen) => {
    const fail = (err: NodeJS.ErrnoException) => rejectListen(new ListenError(key, address, err))
    server.once('error', fail)
    server.listen(address.port, address.host, () => {
      server.off('error', fail)
      resolveListen(server.address() as AddressInfo)
    })
  })
}
