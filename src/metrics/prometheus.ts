import { AggregatorRegistry, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import type { CompiledRoute } from '../rules/index.ts'
import { observe, slotCounter, slotHistogram } from './slots.ts'
import type { HistogramSlot, Slot } from './slots.ts'
import type { CacheEvents, CacheName, KeyFetchSource, LimiterSource, Metrics, ReloadResult, UpstreamErrorKind } from './recorder.ts'

/** The label values a method is counted under: the usual ones by name, anything else as `other`. */
export const METHOD_CLASSES = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other'] as const

/** The deny reasons of src/decide (DenyReason), precreated so a dashboard shows them at 0 before the first refusal. */
export const DECISION_REASONS = [
  'allowed',
  'no_credential',
  'malformed_credential',
  'invalid_token',
  'invalid_api_key',
  'key_source_unavailable',
  'bad_request',
  'http_version_not_supported',
  'not_found',
  'method_not_allowed',
  'forbidden',
  'rate_limited',
  'store_unavailable',
] as const

const UPSTREAM_ERRORS: readonly UpstreamErrorKind[] = ['connect', 'timeout', 'upstream', 'client-closed']

/** Few buckets: each is one more number per route to keep and to scrape. From 1 ms (a cached decision) to 10 s (a slow upstream). */
const SECONDS_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10]

/** The series of one route pattern: its requests by method class and status, and its two latency histograms. */
type RouteSeries = {
  requests: Map<number, Slot>
  duration: HistogramSlot
  upstream: HistogramSlot
}

/** Builds the recorder over `registry`; nothing is registered anywhere else. */
export function createPrometheusMetrics(registry: Registry): Metrics {
  const requestSlot = slotCounter(registry, 'gatehouse_requests_total', 'Requests answered on the gateway listener', [
    'route',
    'method',
    'status',
  ])
  const duration = slotHistogram(
    registry,
    'gatehouse_request_duration_seconds',
    'Time from the request to its answer, the upstream included',
    SECONDS_BUCKETS,
  )
  const upstreamDuration = slotHistogram(
    registry,
    'gatehouse_upstream_duration_seconds',
    'Time the upstream took, from forwarding the request to the end of its response',
    SECONDS_BUCKETS,
  )

  // By route object, so the hot path makes no string; by pattern underneath, so routes sharing a
  // pattern (and a reloaded table's routes) share series.
  const byPattern = new Map<string, RouteSeries>()
  const byRoute = new WeakMap<CompiledRoute, RouteSeries>()
  const seriesOf = (pattern: string): RouteSeries => {
    let series = byPattern.get(pattern)
    if (!series) {
      series = { requests: new Map(), duration: duration({ route: pattern }), upstream: upstreamDuration({ route: pattern }) }
      byPattern.set(pattern, series)
    }
    return series
  }
  const noRoute = seriesOf('none')
  const routeSeries = (route: CompiledRoute | undefined): RouteSeries => {
    if (route === undefined) return noRoute
    let series = byRoute.get(route)
    if (!series) {
      series = seriesOf(route.pattern)
      byRoute.set(route, series)
    }
    return series
  }

  const labelled = <K extends string>(values: readonly K[], slot: (value: K) => Slot): Record<K, Slot> =>
    Object.fromEntries(values.map((value) => [value, slot(value)])) as Record<K, Slot>

  const decisionSlot = slotCounter(registry, 'gatehouse_decisions_total', 'Decisions by outcome and reason code (explain excluded)', [
    'outcome',
    'reason',
  ])
  const decisions = labelled(DECISION_REASONS, (reason) =>
    decisionSlot(reason === 'allowed' ? { outcome: 'allowed', reason: 'none' } : { outcome: 'denied', reason }),
  )
  // A reason this list does not know yet (a newer DenyReason) still counts, under its own code.
  const otherDecisions = new Map<string, Slot>()

  const upstreamErrorSlot = slotCounter(registry, 'gatehouse_upstream_errors_total', 'Forwards that failed, by kind', ['kind'])
  const upstreamErrors = labelled(UPSTREAM_ERRORS, (kind) => upstreamErrorSlot({ kind }))

  const forwardAuthSlot = slotCounter(registry, 'gatehouse_forward_auth_decisions_total', 'Forward-auth answers', ['outcome'])
  const forwardAuth = { allowed: forwardAuthSlot({ outcome: 'allowed' }), denied: forwardAuthSlot({ outcome: 'denied' }) }

  const hitSlot = slotCounter(registry, 'gatehouse_cache_hits_total', 'Credential cache lookups that found an entry', ['cache'])
  const missSlot = slotCounter(registry, 'gatehouse_cache_misses_total', 'Credential cache lookups that found none', ['cache'])
  const evictionSlot = slotCounter(registry, 'gatehouse_cache_evictions_total', 'Credential cache entries removed before their ttl', [
    'cache',
    'reason',
  ])
  const cacheEvents = (cache: CacheName): CacheEvents => {
    const hits = hitSlot({ cache })
    const misses = missSlot({ cache })
    const evictions = { invalidated: evictionSlot({ cache, reason: 'invalidated' }), capacity: evictionSlot({ cache, reason: 'capacity' }) }
    return {
      hit: () => void hits.n++,
      miss: () => void misses.n++,
      evicted: (why, count) => void (evictions[why].n += count),
    }
  }
  const caches = { token: cacheEvents('token'), api_key: cacheEvents('api_key') }

  const keyFetchSlot = slotCounter(registry, 'gatehouse_key_fetches_total', 'JWKS and OpenID Connect discovery fetches by result', [
    'source',
    'result',
  ])
  const keyFetches: Record<KeyFetchSource, Record<'success' | 'failure', Slot>> = {
    jwks: { success: keyFetchSlot({ source: 'jwks', result: 'success' }), failure: keyFetchSlot({ source: 'jwks', result: 'failure' }) },
    discovery: {
      success: keyFetchSlot({ source: 'discovery', result: 'success' }),
      failure: keyFetchSlot({ source: 'discovery', result: 'failure' }),
    },
  }

  const limitSlot = slotCounter(registry, 'gatehouse_ratelimit_decisions_total', "Rate-limit decisions (a request's budgets together)", [
    'decided_by',
    'result',
  ])
  const limits: Record<LimiterSource, Record<'allowed' | 'limited', Slot>> = {
    redis: {
      allowed: limitSlot({ decided_by: 'redis', result: 'allowed' }),
      limited: limitSlot({ decided_by: 'redis', result: 'limited' }),
    },
    local: {
      allowed: limitSlot({ decided_by: 'local', result: 'allowed' }),
      limited: limitSlot({ decided_by: 'local', result: 'limited' }),
    },
  }

  const storeErrors = slotCounter(
    registry,
    'gatehouse_store_errors_total',
    'Store calls that failed because the store was unavailable',
    [],
  )({})

  const reloadSlot = slotCounter(registry, 'gatehouse_config_reloads_total', 'Config reloads by result', ['result'])
  const reloads: Record<ReloadResult, Slot> = { success: reloadSlot({ result: 'success' }), failure: reloadSlot({ result: 'failure' }) }

  const tunnelCounts: (() => number)[] = []
  new Gauge({
    name: 'gatehouse_websocket_tunnels_open',
    help: 'WebSocket (Upgrade) tunnels open now',
    registers: [registry],
    collect() {
      this.set(tunnelCounts.reduce((sum, count) => sum + count(), 0))
    },
  })

  return {
    request(route, method, status, seconds) {
      const series = routeSeries(route)
      const key = methodClass(method) * 1000 + status
      let slot = series.requests.get(key)
      if (!slot) {
        slot = requestSlot({ route: route?.pattern ?? 'none', method: METHOD_CLASSES[methodClass(method)]!, status: String(status) })
        series.requests.set(key, slot)
      }
      slot.n++
      observe(series.duration, seconds)
    },
    upstream(route, seconds, error) {
      observe(routeSeries(route).upstream, seconds)
      if (error !== undefined) upstreamErrors[error].n++
    },
    decision(reason) {
      const known = (decisions as Record<string, Slot | undefined>)[reason]
      if (known) return void known.n++
      let slot = otherDecisions.get(reason)
      if (!slot) {
        slot = decisionSlot({ outcome: 'denied', reason })
        otherDecisions.set(reason, slot)
      }
      slot.n++
    },
    forwardAuth: (allowed) => void (allowed ? forwardAuth.allowed : forwardAuth.denied).n++,
    cache: (name) => caches[name],
    keyFetch: (source, ok) => void keyFetches[source][ok ? 'success' : 'failure'].n++,
    limit: (decidedBy, allowed) => void limits[decidedBy][allowed ? 'allowed' : 'limited'].n++,
    storeError: () => void storeErrors.n++,
    openTunnels: (count) => void tunnelCounts.push(count),
    recordReload: (result) => void reloads[result].n++,
  }
}

/** The index into METHOD_CLASSES; a switch, so the hot path looks nothing up. */
function methodClass(method: string): number {
  switch (method) {
    case 'GET':
      return 0
    case 'HEAD':
      return 1
    case 'POST':
      return 2
    case 'PUT':
      return 3
    case 'PATCH':
      return 4
    case 'DELETE':
      return 5
    case 'OPTIONS':
      return 6
    default:
      return 7
  }
}

/** What the admin listener serves at /metrics. */
export type MetricsExposition = { contentType: string; scrape(): Promise<string> }

export function expositionOf(registry: Registry): MetricsExposition {
  return { contentType: registry.contentType, scrape: () => registry.metrics() }
}

/** One process's metrics as values (prom-client's JSON form), for a scrape that adds up several processes. */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

/**
 * The exposition of a primary and its worker processes (server.workers): each series summed over
 * the processes (prom-client's cluster aggregation), so a scrape of the admin listener counts every
 * request whichever worker served it.
 */
export function aggregatedExpositionOf(registry: Registry, others: () => Promise<MetricsSnapshot[]>): MetricsExposition {
  return {
    contentType: registry.contentType,
    scrape: async () => {
      const [own, rest] = await Promise.all([registry.getMetricsAsJSON(), others()])
      return AggregatorRegistry.aggregate([own, ...rest]).metrics()
    },
  }
}
