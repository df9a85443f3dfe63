import { Counter } from 'prom-client'
import type { Metric, Registry } from 'prom-client'

/**
 * A count kept as a plain number on the hot path and handed to prom-client when it is scraped:
 * a prom-client `inc` hashes its labels on every call (about 0.35 µs, measured), a property
 * increment costs nothing worth measuring.
 */
export type Slot = { n: number; readonly labels: Record<string, string> }

/** A prom-client counter whose series are slots, created once per label set and flushed at each scrape. */
export function slotCounter(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
  const slots: Slot[] = []
  const counter = new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const slot of slots) {
        if (slot.n === 0) continue
        this.inc(slot.labels, slot.n)
        slot.n = 0
      }
    },
  })
  return (labels: Record<string, string>): Slot => {
    const slot = { n: 0, labels }
    // At 0 from the start: a series that appears only with its first event breaks rate() over it.
    counter.inc(labels, 0)
    slots.push(slot)
    return slot
  }
}

/**
 * One series of a histogram as plain numbers: observations per bucket (not cumulative; the last
 * is above every bound), their sum and count. A prom-client histogram child hashes its labels on
 * every observe (about 0.35 µs, measured, twice per request); this is two array writes.
 */
export type HistogramSlot = {
  readonly labels: Record<string, string>
  readonly bounds: readonly number[]
  readonly buckets: Float64Array
  sum: number
  count: number
}

export function observe(slot: HistogramSlot, value: number): void {
  const { bounds } = slot
  let i = 0
  while (i < bounds.length && value > bounds[i]!) i++
  slot.buckets[i]!++
  slot.sum += value
  slot.count++
}

type ExportedValue = { labels: Record<string, string | number>; value: number; metricName: string }

/**
 * A histogram of slots, registered with prom-client as a metric object of its own: prom-client's
 * registry asks a metric for `name`, `help`, `type`, `aggregator` and `get()` only, and its cluster
 * aggregation registers such plain objects itself. The exposition is prom-client's histogram
 * format: cumulative `_bucket` series with `le`, then `_sum` and `_count`, for each series that
 * has been observed (as prom-client shows a labelled series from its first observation on).
 */
export function slotHistogram(registry: Registry, name: string, help: string, bounds: readonly number[]) {
  const slots: HistogramSlot[] = []
  const described = { name, help, type: 'histogram', aggregator: 'sum' } as const
  const metric = { ...described, get: async () => ({ ...described, values: slots.filter((slot) => slot.count > 0).flatMap(exported) }) }
  const exported = (slot: HistogramSlot): ExportedValue[] => {
    const values: ExportedValue[] = []
    let cumulative = 0
    bounds.forEach((le, i) => {
      cumulative += slot.buckets[i]!
      values.push({ labels: { ...slot.labels, le }, value: cumulative, metricName: `${name}_bucket` })
    })
    values.push(
      { labels: { ...slot.labels, le: '+Inf' }, value: slot.count, metricName: `${name}_bucket` },
      { labels: slot.labels, value: slot.sum, metricName: `${name}_sum` },
      { labels: slot.labels, value: slot.count, metricName: `${name}_count` },
    )
    return values
  }
  registry.registerMetric(metric as unknown as Metric)
  return (labels: Record<string, string>): HistogramSlot => {
    const slot = { labels, bounds, buckets: new Float64Array(bounds.length + 1), sum: 0, count: 0 }
    slots.push(slot)
    return slot
  }
}
