export { noMetrics } from './recorder.ts'
export type {
  CacheEvents,
  CacheEviction,
  CacheName,
  KeyFetchSource,
  LimiterSource,
  Metrics,
  ReloadResult,
  UpstreamErrorKind,
} from './recorder.ts'
export { createPrometheusMetrics, DECISION_REASONS, expositionOf, METHOD_CLASSES } from './prometheus.ts'
export type { MetricsExposition } from './prometheus.ts'
export { Registry } from 'prom-client'
