import type { MemoryPhase } from './memory.ts'
import type { Measurement } from './measure.ts'

export type Metric = 'cpu' | 'rps' | 'p99'
export type Threshold = { op: '<=' | '>='; value: number }
export type Status = 'PASS' | 'MISS' | 'info' | 'n/a'
/** A row of the results: a target under a scenario (variants differ by scenario, so this is unique). */
export type RowKey = { target: string; scenario: string }

export type Comparison = { numerator: RowKey; denominator: RowKey; metric: Metric; threshold?: Threshold }

export type RatioResult = Comparison & {
  /** The two rows' figures in the run's first round. */
  numeratorValue: number | null
  denominatorValue: number | null
  /** The ratio of every round that measured both rows, first round first. */
  samples: number[]
  /** The median of `samples`: one noisy round on a shared machine does not decide a PASS. */
  ratio: number | null
  status: Status
}

export type CheckResult = { label: string; value: number | null; unit: string; threshold: Threshold; status: Status }

const HOT: RowKey = { target: 'gatehouse', scenario: 'jwt-hot' }
const HOT_NO_METRICS: RowKey = { target: 'gatehouse', scenario: 'jwt-hot-nometrics' }
const HOT_BIND: RowKey = { target: 'gatehouse', scenario: 'jwt-hot+bind' }
const HOT_LOG: RowKey = { target: 'gatehouse', scenario: 'jwt-hot+log' }
const COLD: RowKey = { target: 'gatehouse', scenario: 'jwt-cold' }
const HAPROXY_JWT: RowKey = { target: 'haproxy-jwt', scenario: 'jwt-cold' }
const HAPROXY: RowKey = { target: 'haproxy', scenario: 'public' }
const NODE: RowKey = { target: 'node-proxy', scenario: 'public' }
const UNDICI: RowKey = { target: 'undici-proxy', scenario: 'public' }
const PUBLIC: RowKey = { target: 'gatehouse', scenario: 'public' }
const FASTIFY_HOT: RowKey = { target: 'fastify-stack', scenario: 'jwt-hot' }
const FASTIFY_COLD: RowKey = { target: 'fastify-stack', scenario: 'jwt-cold' }
const NGINX: RowKey = { target: 'nginx', scenario: 'public' }
const KEY_HOT: RowKey = { target: 'gatehouse', scenario: 'apikey-hot' }
const KEY_HOT_PACED: RowKey = { target: 'gatehouse', scenario: 'apikey-hot-paced' }
const KEY_COLD: RowKey = { target: 'gatehouse', scenario: 'apikey-cold' }
const KEY_COLD_PG: RowKey = { target: 'gatehouse', scenario: 'apikey-cold-pg' }
const FORWARD_AUTH: RowKey = { target: 'gatehouse', scenario: 'forward-auth' }
const NGINX_ANSWER: RowKey = { target: 'nginx', scenario: 'forward-auth' }

/**
 * The targets for a cached credential on the full pipeline (issue 3; issue 18 tightened the one
 * beside node-proxy to 0.8× once node-proxy ran without a loader); issue 5 holds API keys to the same.
 */
function hotTargets(hot: RowKey): Comparison[] {
  return [
    { numerator: hot, denominator: NODE, metric: 'cpu', threshold: { op: '<=', value: 0.8 } },
    { numerator: hot, denominator: NODE, metric: 'rps' },
    { numerator: hot, denominator: NODE, metric: 'p99', threshold: { op: '<=', value: 1.5 } },
    { numerator: hot, denominator: UNDICI, metric: 'cpu' },
    { numerator: hot, denominator: FASTIFY_HOT, metric: 'cpu', threshold: { op: '<=', value: 0.7 } },
    { numerator: hot, denominator: FASTIFY_HOT, metric: 'rps', threshold: { op: '>=', value: 1.3 } },
    { numerator: hot, denominator: FASTIFY_HOT, metric: 'p99' },
    { numerator: hot, denominator: NGINX, metric: 'cpu' },
    { numerator: hot, denominator: NGINX, metric: 'rps', threshold: { op: '>=', value: 0.6 } },
    { numerator: hot, denominator: NGINX, metric: 'p99' },
  ]
}

/**
 * Every ratio the run reports; those with a threshold are issue 3's targets (jwt-hot, jwt-cold),
 * issue 5's (apikey-hot: the same as jwt-hot), issue 17's (the access log) and issue 18's (the
 * cold paths beside their own hot path and beside a peer that verifies in C).
 */
export const COMPARISONS: readonly Comparison[] = [
  ...hotTargets(HOT),
  // node:http + an undici Pool, no auth (the best off-the-shelf Node client): what node-proxy's
  // http.request costs beyond it, and gatehouse without a credential beside it (with one: above).
  { numerator: NODE, denominator: UNDICI, metric: 'cpu' },
  { numerator: PUBLIC, denominator: UNDICI, metric: 'cpu' },
  // What binding the assertion to each request costs: a signature per request instead of a cache hit.
  { numerator: HOT_BIND, denominator: HOT, metric: 'cpu' },
  // Issue 17: the access log is on by default, written to stdout as a pipe; it may cost at most 15%.
  { numerator: HOT_LOG, denominator: HOT, metric: 'cpu', threshold: { op: '<=', value: 1.15 } },
  { numerator: HOT_LOG, denominator: HOT, metric: 'rps', threshold: { op: '>=', value: 0.85 } },
  // Issue 18: logging as deployed still leaves gatehouse cheaper than a bare Node proxy.
  { numerator: HOT_LOG, denominator: NODE, metric: 'cpu', threshold: { op: '<=', value: 0.9 } },
  { numerator: COLD, denominator: FASTIFY_COLD, metric: 'cpu', threshold: { op: '<=', value: 1.1 } },
  { numerator: COLD, denominator: FASTIFY_COLD, metric: 'rps' },
  { numerator: COLD, denominator: FASTIFY_COLD, metric: 'p99' },
  // Issue 18: HAProxy verifies every token in C (OpenSSL); gatehouse pays jose's verify plus its pipeline.
  { numerator: COLD, denominator: HAPROXY_JWT, metric: 'cpu', threshold: { op: '<=', value: 1.3 } },
  { numerator: COLD, denominator: HAPROXY_JWT, metric: 'rps' },
  { numerator: COLD, denominator: HAPROXY_JWT, metric: 'p99' },
  // What a signature check costs each stack on top of its own cheapest request: gatehouse's
  // jwt-cold over its cached jwt-hot, HAProxy's token check over HAProxy proxying with none, and
  // the two proxies side by side without a token (the run's note: signatureCostNotes).
  { numerator: COLD, denominator: HOT, metric: 'cpu' },
  { numerator: HAPROXY_JWT, denominator: HAPROXY, metric: 'cpu' },
  { numerator: PUBLIC, denominator: HAPROXY, metric: 'cpu' },
  ...hotTargets(KEY_HOT),
  // Issue 18: a key not in cache costs one indexed store query on top of the hot path.
  { numerator: KEY_COLD, denominator: KEY_HOT, metric: 'cpu', threshold: { op: '<=', value: 2.0 } },
  { numerator: KEY_COLD, denominator: KEY_HOT, metric: 'rps' },
  // The same beside the cached key paced to apikey-cold's rate: the uncached key's work at one request rate.
  { numerator: KEY_COLD, denominator: KEY_HOT_PACED, metric: 'cpu' },
  { numerator: KEY_COLD, denominator: COLD, metric: 'cpu' },
  // `--postgres`: the same scenario on PostgreSQL, beside the cached key and beside SQLite.
  { numerator: KEY_COLD_PG, denominator: KEY_HOT, metric: 'cpu' },
  { numerator: KEY_COLD_PG, denominator: KEY_COLD, metric: 'cpu' },
  { numerator: KEY_COLD_PG, denominator: KEY_COLD, metric: 'p99' },
  // A decision without the proxying, beside nginx answering the same request itself and beside the proxied jwt-hot.
  { numerator: FORWARD_AUTH, denominator: NGINX_ANSWER, metric: 'cpu' },
  { numerator: FORWARD_AUTH, denominator: HOT, metric: 'cpu' },
]

export const RSS_LIMIT_MB = 250
/** issue 17: what counting a request may add to jwt-hot. */
export const METRICS_COST_LIMIT_US = 3
export const UPLOAD_GROWTH_LIMIT_MB = 30
/** issue 18: apikey-cold's p99.9 at most this many times its p50 (the usage flush never holds a lookup). */
export const COLD_KEY_TAIL_LIMIT = 10

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

/**
 * Every comparison, judged on the median of its rounds: `measurements` is the run's first round
 * (every row), `repeats` the later rounds (the rows of the headline ratios only, see `headlineRows`).
 */
export function evaluateRatios(
  measurements: readonly Measurement[],
  comparisons: readonly Comparison[] = COMPARISONS,
  repeats: readonly (readonly Measurement[])[] = [],
): RatioResult[] {
  return comparisons.map((c) => {
    const [first, ...later] = [measurements, ...repeats].map((round) => roundValues(round, c))
    const samples = [first!, ...later].flatMap((v) => (v.ratio === null ? [] : [v.ratio]))
    const ratio = median(samples)
    return {
      ...c,
      numeratorValue: first!.numerator,
      denominatorValue: first!.denominator,
      samples,
      ratio,
      status: status(ratio, c.threshold),
    }
  })
}

function roundValues(round: readonly Measurement[], c: Comparison) {
  const num = findRow(round, c.numerator)
  const den = findRow(round, c.denominator)
  const numerator = num ? metricValue(num, c.metric) : null
  const denominator = den ? metricValue(den, c.metric) : null
  return { numerator, denominator, ratio: numerator !== null && denominator ? numerator / denominator : null }
}

/** The middle value (the mean of the two middle ones for an even count); null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Rows measured in every round though no thresholded ratio names them: the two whose difference
 * is the metrics-cost check (a difference of single rounds swung 3–20 µs on this machine), the
 * undici floor beside gatehouse public, HAProxy without its token check beside haproxy-jwt, and
 * the cached key paced to apikey-cold's rate (which it takes from apikey-cold's row of the same round).
 */
export const REPEATED_ROWS: readonly RowKey[] = [HOT_NO_METRICS, UNDICI, PUBLIC, HAPROXY, KEY_HOT_PACED]

/** The rows a thresholded ratio compares, and {@link REPEATED_ROWS}: those a full run measures again in its later rounds. */
export function headlineRows(comparisons: readonly Comparison[] = COMPARISONS): RowKey[] {
  const rows = [...comparisons.filter((c) => c.threshold).flatMap((c) => [c.numerator, c.denominator]), ...REPEATED_ROWS]
  return rows.filter((row, i) => rows.findIndex((r) => r.target === row.target && r.scenario === row.scenario) === i)
}

function cpuOf(round: readonly Measurement[], key: RowKey): number | undefined {
  return findRow(round, key)?.cpu.usPerRequest
}

/** The median over the rounds of `key`'s CPU per request. */
function medianCpu(rounds: readonly (readonly Measurement[])[], key: RowKey): number | null {
  return median(rounds.flatMap((round) => cpuOf(round, key) ?? []))
}

/** The median over the rounds of `a`'s CPU per request minus `b`'s, where a round measured both. */
function medianCpuDifference(rounds: readonly (readonly Measurement[])[], a: RowKey, b: RowKey): number | null {
  return median(
    rounds.flatMap((round) => {
      const first = cpuOf(round, a)
      const second = cpuOf(round, b)
      return first !== undefined && second !== undefined ? [first - second] : []
    }),
  )
}

/**
 * jwt-cold ÷ haproxy-jwt taken apart, from the same rounds: what a signature check adds to each
 * stack's own request, and the floor that gatehouse's cached request plus HAProxy's check would
 * already make. The target is out of reach whenever that floor is above it.
 */
export function signatureCostNotes(rounds: readonly (readonly Measurement[])[]): string[] {
  const gatehouse = medianCpuDifference(rounds, COLD, HOT)
  const haproxy = medianCpuDifference(rounds, HAPROXY_JWT, HAPROXY)
  const hot = medianCpu(rounds, HOT)
  const peer = medianCpu(rounds, HAPROXY_JWT)
  if (gatehouse === null || haproxy === null || hot === null || peer === null) return []
  const us = (value: number) => `${value.toFixed(1)} µs`
  return [
    `A signature check adds ${us(gatehouse)} CPU per request to gatehouse (jwt-cold minus jwt-hot) and ${us(haproxy)} to HAProxy ` +
      `(haproxy-jwt minus haproxy), medians of the rounds. jwt-hot plus HAProxy's own check is ${us(hot + haproxy)}, ` +
      `${((hot + haproxy) / peer).toFixed(2)}× haproxy-jwt (${us(peer)}), against the 1.3× target.`,
  ]
}

/** The absolute targets: memory with many cached identities, and RSS growth while streaming uploads. */
export function evaluateChecks(
  measurements: readonly Measurement[],
  memory: MemoryPhase | undefined,
  /** bench/metrics-cost.ts: the recorder calls of one jwt-hot request, in-process. */
  recorderUs?: number,
  /** The later rounds: the metrics cost is the median of every round's difference. */
  repeats: readonly (readonly Measurement[])[] = [],
): CheckResult[] {
  const upload = findRow(measurements, { target: 'gatehouse', scenario: 'upload' })
  const growth = upload ? upload.rssMB.maxInWindow - upload.rssMB.start : null
  const rss = memory ? memory.rssMB.end : null
  const rssThreshold: Threshold = { op: '<=', value: RSS_LIMIT_MB }
  const growthThreshold: Threshold = { op: '<=', value: UPLOAD_GROWTH_LIMIT_MB }
  const metricsCost = medianCpuDifference([measurements, ...repeats], HOT, HOT_NO_METRICS)
  const metricsThreshold: Threshold = { op: '<=', value: METRICS_COST_LIMIT_US }
  const keyCold = findRow(measurements, KEY_COLD)
  const tail = keyCold && keyCold.latencyMs.p50 > 0 ? keyCold.latencyMs.p999 / keyCold.latencyMs.p50 : null
  const tailThreshold: Threshold = { op: '<=', value: COLD_KEY_TAIL_LIMIT }
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
      label: 'metrics cost: CPU of jwt-hot minus jwt-hot with metrics off (median of the rounds)',
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
    {
      label: 'apikey-cold latency tail: p99.9 ÷ p50',
      value: tail,
      unit: '×',
      threshold: tailThreshold,
      status: status(Number.isFinite(tail) ? tail : null, tailThreshold),
    },
  ]
}
