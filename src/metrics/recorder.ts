import type { CompiledRoute } from '../rules/index.ts'

export type CacheName = 'token' | 'api_key'
export type CacheEviction = 'invalidated' | 'capacity'
export type KeyFetchSource = 'jwks' | 'discovery'
export type LimiterSource = 'redis' | 'local'
/** How a forward failed (src/forward's ForwardOutcome.error). */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'upstream' | 'client-closed'
export type ReloadResult = 'success' | 'failure'

/** What one credential cache reports; handed to the cache when it is built, so a lookup calls it directly. */
export type CacheEvents = {
  hit(): void
  miss(): void
  evicted(why: CacheEviction, count: number): void
}

/**
 * Everything gatehouse counts, as plain calls: the doors and the domains call these, and only
 * src/metrics knows that prom-client is behind them. Labels are bounded by construction: a route
 * is recorded by its pattern (or `none`), a method by its class, a reason by its stable code.
 */
export type Metrics = {
  /** One request through the gateway listener, once it is answered. */
  request(route: CompiledRoute | undefined, method: string, status: number, seconds: number): void
  /** The upstream part of an allowed request. */
  upstream(route: CompiledRoute, seconds: number, error: UpstreamErrorKind | undefined): void
  /** One decision that spent budgets (an explained request is not counted): `allowed`, or the deny's reason code. */
  decision(reason: string): void
  forwardAuth(allowed: boolean): void
  cache(name: CacheName): CacheEvents
  keyFetch(source: KeyFetchSource, ok: boolean): void
  /** One request's budgets decided together; `local` when the memory limiter decided (alone, or as Redis's fallback). */
  limit(decidedBy: LimiterSource, allowed: boolean): void
  /** A store call that failed with StoreUnavailableError. */
  storeError(): void
  /** Where the open-tunnel gauge reads its value at each scrape. */
  openTunnels(count: () => number): void
  /** `gatehouse_config_reloads_total{result}`: one attempt to reload the config and how it ended. */
  recordReload(result: ReloadResult): void
}

const noCacheEvents: CacheEvents = { hit() {}, miss() {}, evicted() {} }

/** The recorder when `metrics.enabled` is false, and for parts built without one (unit tests). */
export const noMetrics: Metrics = Object.freeze({
  request() {},
  upstream() {},
  decision() {},
  forwardAuth() {},
  cache: () => noCacheEvents,
  keyFetch() {},
  limit() {},
  storeError() {},
  openTunnels() {},
  recordReload() {},
})
