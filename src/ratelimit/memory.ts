import { LRUCache } from 'lru-cache'
import type { RateSpec } from '../config/units.ts'
import { emissionInterval, gcraDecision } from './gcra.ts'
import type { LimitDecision, Limiter } from './limiter.ts'

export type MemoryLimiterOptions = {
  /** Most keys remembered; the least recently used is forgotten first, which only ever favours it. */
  maxTracked: number
}

/** The memory limiter answers synchronously, sparing the hot path a promise. */
export interface MemoryLimiter extends Limiter {
  take(key: string, spec: RateSpec, name: string, now?: number): LimitDecision
  /** Keys currently remembered. */
  size(): number
}

const US_PER_MS = 1000

/**
 * GCRA in process memory: one number per key, its theoretical arrival time (TAT) in integer
 * microseconds. Integers keep `limit` requests at one instant exact, where float milliseconds
 * drift by an ulp and can grant limit±1; Date.now() in µs stays below 2^53 until the year 2255.
 *
 * The emission interval T is the window divided by the limit (at least 1 µs, which caps a key at
 * one million requests a second). A request is allowed when the debt `TAT - now` is at most
 * (limit-1)·T and then adds T to it, so a fresh key gets exactly `limit` at once, then one per T,
 * and is back to a full budget once TAT has passed.
 *
 * The cache has no TTL: a TAT in the past reads the same as an absent key, so stale entries are
 * harmless and the LRU bound alone caps memory, without a clock read or timer per entry.
 */
export function createMemoryLimiter(options: MemoryLimiterOptions): MemoryLimiter {
  const tats = new LRUCache<string, number>({ max: options.maxTracked })

  function take(key: string, spec: RateSpec, name: string, now = Date.now()): LimitDecision {
    const nowUs = Math.floor(now * US_PER_MS)
    const interval = emissionInterval(spec)
    const stored = tats.get(key)
    const tat = stored === undefined || stored < nowUs ? nowUs : stored
    const decision = gcraDecision(spec, name, interval, tat - nowUs)
    if (decision.allowed) tats.set(key, tat + interval)
    return decision
  }

  return { take, size: () => tats.size }
}
