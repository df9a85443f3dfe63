import { createPrometheusMetrics, Registry } from '../src/metrics/index.ts'
import type { CompiledRoute } from '../src/rules/index.ts'

const ITERATIONS = 1_000_000

/**
 * CPU µs per request of the recorder calls one jwt-hot request makes (the token cache hit, the
 * limiter, the decision, the upstream timing with its two clock reads, the request), in this
 * process against a real registry, scraped every 100,000 requests as Prometheus would. The
 * jwt-hot-nometrics row measures the same end to end, but two processes on a shared 2-core
 * machine differ by more than the few µs in question; this figure does not depend on that.
 */
export async function metricsRecorderCost(): Promise<number> {
  const registry = new Registry()
  const metrics = createPrometheusMetrics(registry)
  const route = { pattern: '/api/*' } as CompiledRoute
  const tokens = metrics.cache('token')
  const oneRequest = () => {
    tokens.hit()
    metrics.limit('local', true)
    metrics.decision('allowed')
    const forwarded = performance.now()
    metrics.upstream(route, (performance.now() - forwarded) / 1000, undefined)
    metrics.request(route, 'GET', 200, 0.0004)
  }
  for (let i = 0; i < ITERATIONS / 10; i++) oneRequest()
  const start = process.cpuUsage()
  for (let i = 1; i <= ITERATIONS; i++) {
    oneRequest()
    if (i % 100_000 === 0) await registry.metrics()
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / ITERATIONS
}
