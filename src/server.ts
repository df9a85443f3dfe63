import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { adminDepsOf, createAdminApp } from './admin/index.ts'
import { createApiKeyAuthenticator, createUsageCounter, createValidationMeter } from './apikeys/index.ts'
import { createTokenVerifier } from './authn/index.ts'
import type { ListenAddress, LoadedConfig } from './config/index.ts'
import {
  createAssertionSigner,
  createIdentityFields,
  createUpstreamHeaders,
  createUpstreamProxy,
  createUpstreamReachability,
  loadOrCreateAssertionKeys,
} from './forward/index.ts'
import { createDecider } from './decide/index.ts'
import { openDirectory } from './directory/index.ts'
import { createPipeline } from './gateway.ts'
import { answerClientError, createGracefulServer, refuseConnect } from './http/index.ts'
import type { GracefulServer } from './http/index.ts'
import { createLogger } from './log.ts'
import type { Logger } from './log.ts'
import { createRedisInvalidationBus, createLocalInvalidationBus, invalidationChannel } from './invalidation/index.ts'
import type { InvalidationEvent } from './invalidation/index.ts'
import { createMemoryLimiter, createRedisLimiter } from './ratelimit/index.ts'
import { connectRedis } from './redis-connections.ts'
import { watchStoreHealth } from './store/index.ts'
import type { Store, StoreHealth } from './store/index.ts'
import { createTunnelDoor } from './tunnel/index.ts'

export type RunningGatehouse = {
  gateway: AddressInfo
  admin: AddressInfo
  log: Logger
  /** Stops accepting, lets in-flight requests finish (bounded by server.shutdown_timeout), frees everything. */
  close(): Promise<void>
}

export type StartOptions = {
  log?: Logger
  /** Wraps the store the config names; tests use it to control when store calls answer. */
  wrapStore?: (store: Store) => Store
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
    return await build(loaded, log, opened, options.wrapStore)
  } catch (err) {
    await opened.closeAll()
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'gatehouse failed to start')
    await flushLog(log)
    throw err
  }
}

async function build(
  loaded: LoadedConfig,
  log: Logger,
  opened: CloseStack,
  wrapStore: StartOptions['wrapStore'],
): Promise<RunningGatehouse> {
  const { config, routes, dir } = loaded
  // First: a key file that does not fit the config stops the start before anything is opened.
  const assertion = config.identity.assertion
  const keys = await loadOrCreateAssertionKeys({
    algorithm: assertion.algorithm,
    keyFile: resolve(dir, assertion.keyFile),
    secret: assertion.secret,
  })
  let storeHealth: StoreHealth | undefined
  const watchStore = (store: Store) => {
    // An outage is logged when it starts and when it ends, not with every refused request.
    storeHealth = watchStoreHealth(wrapStore ? wrapStore(store) : store, (err) =>
      err ? log.error({ err: err.message }, 'store unavailable: requests that need it get 503') : log.info('store available again'),
    )
    return storeHealth.store
  }
  const directory = opened.add(await openDirectory(loaded, { warn: (message) => log.warn(message), wrapStore: watchStore }))
  const upstreamReachability = createUpstreamReachability(config.upstream.url, config.upstream.connectTimeoutMs)
  const { roles, localIssuer } = directory
  const verifier = await createTokenVerifier({
    issuers: config.tokens.issuers,
    leewayMs: config.tokens.leewayMs,
    cache: config.tokens.cache,
    jwks: config.tokens.jwks,
    roles,
    configDir: dir,
    log,
    localIssuer: localIssuer?.verifier,
  })
  opened.add(verifier)
  const signer = createAssertionSigner({
    keys,
    algorithm: assertion.algorithm,
    issuer: assertion.issuer,
    audience: assertion.audience,
    ttlMs: assertion.ttlMs,
    bindRequest: assertion.bindRequest,
    pathPrefix: config.upstream.url.pathname.replace(/\/$/, ''),
  })
  const apiKeys = createApiKeyAuthenticator({
    store: directory.store,
    roles,
    prefixes: config.apiKeys.prefixes,
    orgKeyRole: config.apiKeys.orgKeyRole,
    acceptImported: config.apiKeys.acceptImported,
    cache: config.apiKeys.cache,
  })
  const usage = createUsageCounter({
    store: directory.store,
    flushMs: config.apiKeys.usageFlushMs,
    onError: (err) => log.warn({ err: String(err) }, 'writing usage failed; kept for the next flush'),
  })
  // Closed after the listeners and before the store: its last flush writes to the store.
  opened.add(usage)
  const proxy = opened.add(createUpstreamProxy(config.upstream))
  const shared = config.redis ? opened.add(connectRedis(config.redis, log)) : undefined
  const memoryLimiter = createMemoryLimiter({ maxTracked: config.rateLimits.maxTracked })
  const redisLimiter =
    shared &&
    createRedisLimiter({
      redis: shared.client,
      fallback: memoryLimiter,
      timeoutMs: config.redis!.timeoutMs,
      breakerTimeouts: config.redis!.breakerTimeouts,
      retryAfterMs: config.redis!.breakerCooldownMs,
      replicas: config.redis!.replicas,
      keyPrefix: `${config.redis!.keyPrefix}rl:`,
      onStateChange: (state, err) =>
        state === 'fallback'
          ? log.warn({ err: String(err) }, 'Redis unavailable: rate limits fall back to this replica alone')
          : log.info('Redis back: rate limits are shared again'),
    })
  if (redisLimiter) opened.add(redisLimiter)
  const limiter = redisLimiter ?? memoryLimiter

  // One decision for every door: the proxy, forward-auth and the WebSocket handshake.
  const decide = createDecider({ routes, verifier, apiKeys, limiter, limits: config.rateLimits, trustProxy: config.server.trustProxy })
  const policy = { identityPrefix: config.identity.headerPrefix, assertionHeader: config.identity.assertion.header }
  const identityFields = createIdentityFields({ ...policy, signer })
  const upstreamHeaders = createUpstreamHeaders({ ...policy, hideCredentials: config.upstream.hideCredentials, identityFields })
  const tunnels = createTunnelDoor({ config, decide, upstreamHeaders, usage, log })

  /** Evicts what a directory change makes stale, whichever replica it was made on, and ends the tunnels it opened. */
  const evict = (change: InvalidationEvent) => {
    tunnels.revoke(change)
    if (change.userId) {
      verifier.evictUser(change.userId)
      apiKeys.evictUser(change.userId)
    }
    if (change.kind === 'org' && change.orgId) apiKeys.evictOrg(change.orgId)
    if (change.apiKeyId) apiKeys.evictKey(change.apiKeyId)
  }
  const bus = shared
    ? createRedisInvalidationBus({
        publisher: shared.client,
        subscriber: shared.subscriber,
        channel: invalidationChannel(config.redis!.keyPrefix),
        onMessage: evict,
      })
    : createLocalInvalidationBus()
  opened.add(bus)

  // The proxied path is a plain node:http handler: Hono's Request/Response adapter costs about
  // 16 µs of CPU per request (measured: ~92 vs ~108 µs with one cached token) and the pipeline
  // uses none of it. Hono serves the admin API, where its routing and validation pay off.
  const pipeline = createPipeline({ config, decide, identityFields, upstreamHeaders, usage, proxy, log })
  const listenerTimeouts = {
    headersTimeoutMs: config.server.headersTimeoutMs,
    keepAliveTimeoutMs: config.server.keepAliveTimeoutMs,
  }
  const gateway = createGracefulServer(
    { request: (req, res) => void pipeline(req, res), checkContinue: (req, res) => void pipeline(req, res, true), upgrade: tunnels },
    listenerTimeouts,
  )
  const gatewayServer = gateway.server
  // Node keeps only the first 2,000 header lines and drops the rest without a word; the 16 KiB
  // header-size limit already bounds them, and every check must see every line.
  gatewayServer.maxHeadersCount = 0
  gatewayServer.on('connect', refuseConnect)
  gatewayServer.on('clientError', answerClientError)
  const adminApp = createAdminApp({
    ...adminDepsOf(directory),
    jwks: () => keys.jwks(),
    checks: [
      // Names each issuer whose keys cannot be had yet and why: a discovery or JWKS outage at start.
      { name: 'token_keys', ready: () => verifier.ready(), detail: () => ({ unready: verifier.unready() }) },
      // Falling back to local limits keeps serving, so it is reported but not unready.
      ...(redisLimiter ? [{ name: 'redis', ready: () => true, detail: () => ({ rate_limits: redisLimiter.state() }) }] : []),
      ...(storeHealth ? [{ name: 'store', ready: storeHealth.ready, detail: storeHealth.detail }] : []),
      // An upstream that starts after gatehouse is normal for a sidecar: a detail, never unready.
      { name: 'upstream', ready: async () => (await upstreamReachability.probe(), true), detail: upstreamReachability.detail },
    ],
    apiKey: config.admin.apiKey,
    // A validate call is the key's use, as PropelAuth counts it: the proxy's budgets and usage counter.
    meter: createValidationMeter({
      store: directory.store,
      roles,
      orgKeyRole: config.apiKeys.orgKeyRole,
      limiter,
      limits: config.rateLimits,
      usage,
    }),
    // The audit trail of key deletions goes to the log, like every other line: never a secret.
    audit: (event) => log.info({ audit: event }, 'audit'),
    // A change must not be outlived by a cached token or key validation, here or on any replica.
    onChange: (change) => {
      evict(change)
      bus
        .publish(change)
        .catch((err: unknown) =>
          log.warn({ err: String(err) }, 'publishing an invalidation failed; other replicas catch up within the cache ttl'),
        )
    },
  })
  // Leave the process's global Request/Response alone: gatehouse may be embedded (tests, SDKs).
  const admin = createGracefulServer({ request: getRequestListener(adminApp.fetch, { overrideGlobalObjects: false }) }, listenerTimeouts)

  // Serving before Redis answers would decide the first requests on this replica alone.
  if (shared && !(await shared.ready(config.redis!.startTimeoutMs))) {
    log.warn({ waited_ms: config.redis!.startTimeoutMs }, 'Redis not connected yet: serving with local rate limits until it is')
  }

  // Drained together, each listener as soon as it listens: one after the other, so that when the
  // admin address fails the gateway listener is already there to be closed.
  const listening: GracefulServer[] = []
  opened.add({ close: () => Promise.all(listening.map((listener) => listener.drain(config.server.shutdownTimeoutMs))) })
  const gatewayAddress = await listen(gatewayServer, 'server.listen', config.server.listen)
  listening.push(gateway)
  const adminAddress = await listen(admin.server, 'admin.listen', config.admin.listen)
  listening.push(admin)
  log.info(
    {
      gateway: `${gatewayAddress.address}:${gatewayAddress.port}`,
      admin: `${adminAddress.address}:${adminAddress.port}`,
      routes: routes.routes.length,
    },
    'gatehouse started',
  )
  void upstreamReachability.probe().then((unreachable) => {
    if (unreachable !== undefined) {
      log.warn(
        { upstream: config.upstream.url.origin, err: unreachable },
        'the upstream is not reachable: proxied requests get 502 until it is',
      )
    }
  })

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await opened.closeAll()
      log.info('gatehouse stopped')
      await flushLog(log)
    })())
  return { gateway: gatewayAddress, admin: adminAddress, log, close }
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
