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
export { aggregatedExpositionOf, createPrometheusMetrics, DECISION_REASONS, expositionOf, METHOD_CLASSES } from './prometheus.ts'
export type { MetricsExposition, MetricsSnapshot } from './prometheus.ts'
export { Registry } from 'prom-client'
