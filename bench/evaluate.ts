import type { MemoryPhase } from './memory.ts'
import type { Measurement } from './measure.ts'

export type Metric = 'cpu' | 'rps' | 'p99'
export type Threshold = { op: '<=' | '>='; value: number }
export type Status = 'PASS' | 'MISS' | 'info' | 'n/a'
/** A row of the results: a target under a scenario (variants differ by scenario, so this is unique). */
export type RowKey = { target: string; scenario: string }

export type Comparison = { numerator: RowKey; denominator: RowKey; metric: Metric; threshold?: Threshold }

export type RatioResult = Comparison & {
  numeratorValue: number | null
  denominatorValue: number | null
  ratio: number | null
  status: Status
}

export type CheckResult = { label: string; value: number | null; unit: string; threshold: Threshold; status: Status }

const HOT: RowKey = { target: 'gatehouse', scenario: 'jwt-hot' }
const HOT_NO_METRICS: RowKey = { target: 'gatehouse', scenario: 'jwt-hot-nometrics' }
const HOT_BIND: RowKey = { target: 'gatehouse', scenario: 'jwt-hot+bind' }
const HOT_LOG: RowKey = { target: 'gatehouse', scenario: 'jwt-hot+log' }
const COLD: RowKey = { target: 'gatehouse', scenario: 'jwt-cold' }
const NODE: RowKey = { target: 'node-proxy', scenario: 'public' }
const FASTIFY_HOT: RowKey = { target: 'fastify-stack', scenario: 'jwt-hot' }
const FASTIFY_COLD: RowKey = { target: 'fastify-stack', scenario: 'jwt-cold' }
const NGINX: RowKey = { target: 'nginx', scenario: 'public' }
const KEY_HOT: RowKey = { target: 'gatehouse', scenario: 'apikey-hot' }
const KEY_COLD: RowKey = { target: 'gatehouse', scenario: 'apikey-cold' }
const FORWARD_AUTH: RowKey = { target: 'gatehouse', scenario: 'forward-auth' }
const NGINX_ANSWER: RowKey = { target: 'nginx', scenario: 'forward-auth' }

/** issue 3's targets for a cached credential on the full pipeline; issue 5 holds API keys to the same. */
function hotTargets(hot: RowKey): Comparison[] {
  return [
    { numerator: hot, denominator: NODE, metric: 'cpu', threshold: { op: '<=', value: 1.0 } },
    { numerator: hot, denominator: NODE, metric: 'rps' },
    { numerator: hot, denominator: NODE, metric: 'p99', threshold: { op: '<=', value: 1.5 } },
    { numerator: hot, denominator: FASTIFY_HOT, metric: 'cpu', threshold: { op: '<=', value: 0.7 } },
    { numerator: hot, denominator: FASTIFY_HOT, metric: 'rps', threshold: { op: '>=', value: 1.3 } },
    { numerator: hot, denominator: FASTIFY_HOT, metric: 'p99' },
    { numerator: hot, denominator: NGINX, metric: 'cpu' },
    { numerator: hot, denominator: NGINX, metric: 'rps', threshold: { op: '>=', value: 0.6 } },
    { numerator: hot, denominator: NGINX, metric: 'p99' },
  ]
}

/**
 * Every ratio the run reports; those with a threshold are issue 3's targets (jwt-hot, jwt-cold)
 * and issue 5's (apikey-hot: the same as jwt-hot). apikey-cold has no target: what a store
 * lookup per request costs, beside the cached key and beside a signature check per request.
 */
export const COMPARISONS: readonly Comparison[] = [
  ...hotTargets(HOT),
  // What binding the assertion to each request costs: a signature per request instead of a cache hit.
  { numerator: HOT_BIND, denominator: HOT, metric: 'cpu' },
  // Issue 17: the access log is on by default, written to stdout as a pipe; it may cost at most 15%.
  { numerator: HOT_LOG, denominator: HOT, metric: 'cpu', threshold: { op: '<=', value: 1.15 } },
  { numerator: HOT_LOG, denominator: HOT, metric: 'rps', threshold: { op: '>=', value: 0.85 } },
  { numerator: COLD, denominator: FASTIFY_COLD, metric: 'cpu', threshold: { op: '<=', value: 1.1 } },
  { numerator: COLD, denominator: FASTIFY_COLD, metric: 'rps' },
  { numerator: COLD, denominator: FASTIFY_COLD, metric: 'p99' },
  ...hotTargets(KEY_HOT),
  { numerator: KEY_COLD, denominator: KEY_HOT, metric: 'cpu' },
  { numerator: KEY_COLD, denominator: KEY_HOT, metric: 'rps' },
  { numerator: KEY_COLD, denominator: COLD, metric: 'cpu' },
  // A decision without the proxying, beside nginx answering the same request itself and beside the proxied jwt-hot.
  { numerator: FORWARD_AUTH, denominator: NGINX_ANSWER, metric: 'cpu' },
  { numerator: FORWARD_AUTH, denominator: HOT, metric: 'cpu' },
]

export const RSS_LIMIT_MB = 250
/** issue 17: what counting a request may add to jwt-hot. */
export const METRICS_COST_LIMIT_US = 3
export const UPLOAD_GROWTH_LIMIT_MB = 30

export function metricValue(m: Measurement, metric: Metric): number | null {
  const value = metric === 'cpu' ? m.cpu.usPerRequest : metric === 'rps' ? m.rps : m.latencyMs.p99
  return Number.isFinite(value) ? value : null
}

export function findRow(measurements: readonly Measurement[], key: RowKey): Measurement | undefined {
  return measurements.find((m) => m.target === key.target && m.scenario === key.scenario)
}

export function meets(value: number, threshold: Threshold): boolean {
  return threshold.op === '<=' ? value <= threshold.value : value >= threshold.value
}

function status(value: number | null, threshold: Threshold | undefined): Status {
  if (value === null) return 'n/a'
  if (!threshold) return 'info'
  return meets(value, threshold) ? 'PASS' : 'MISS'
}

export function evaluateRatios(measurements: readonly Measurement[], comparisons: readonly Comparison[] = COMPARISONS): RatioResult[] {
  return comparisons.map((c) => {
    const num = findRow(measurements, c.numerator)
    const den = findRow(measurements, c.denominator)
    const numeratorValue = num ? metricValue(num, c.metric) : null
    const denominatorValue = den ? metricValue(den, c.metric) : null
    const ratio = numeratorValue !== null && denominatorValue ? numeratorValue / denominatorValue : null
    return { ...c, numeratorValue, denominatorValue, ratio, status: status(ratio, c.threshold) }
  })
}

/** The absolute targets: memory with many cached identities, and RSS growth while streaming uploads. */
export function evaluateChecks(
  measurements: readonly Measurement[],
  memory: MemoryPhase | undefined,
  /** bench/metrics-cost.ts: the recorder calls of one jwt-hot request, in-process. */
  recorderUs?: number,
): CheckResult[] {
  const upload = findRow(measurements, { target: 'gatehouse', scenario: 'upload' })
  const growth = upload ? upload.rssMB.maxInWindow - upload.rssMB.start : null
  const rss = memory ? memory.rssMB.end : null
  const rssThreshold: Threshold = { op: '<=', value: RSS_LIMIT_MB }
  const growthThreshold: Threshold = { op: '<=', value: UPLOAD_GROWTH_LIMIT_MB }
  const withMetrics = findRow(measurements, HOT)
  const withoutMetrics = findRow(measurements, HOT_NO_METRICS)
  const metricsCost = withMetrics && withoutMetrics ? withMetrics.cpu.usPerRequest - withoutMetrics.cpu.usPerRequest : null
  const metricsThreshold: Threshold = { op: '<=', value: METRICS_COST_LIMIT_US }
  return [
    {
      label: `gatehouse RSS with ${(memory?.identities ?? 100_000).toLocaleString('en-US')} distinct cached identities`,
      value: rss,
      unit: 'MB',
      threshold: rssThreshold,
      status: status(rss, rssThreshold),
    },
    {
      label: 'gatehouse RSS growth during upload (10 MB bodies)',
      value: growth,
      unit: 'MB',
      threshold: growthThreshold,
      status: status(growth, growthThreshold),
    },
    {
      label: 'metrics cost: CPU of jwt-hot minus jwt-hot with metrics off',
      value: metricsCost,
      unit: 'µs/request',
      threshold: metricsThreshold,
      status: status(metricsCost, metricsThreshold),
    },
    {
      label: 'metrics cost: the recorder calls of one jwt-hot request, in-process (bench/metrics-cost.ts)',
      value: recorderUs ?? null,
      unit: 'µs/request',
      threshold: metricsThreshold,
      status: status(recorderUs ?? null, metricsThreshold),
    },
  ]
}
