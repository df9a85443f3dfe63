import { LRUCache } from 'lru-cache'
import { emissionInterval, gcraDecisions } from './gcra.ts'
import type { Budget, LimitDecision, Limiter } from './limiter.ts'
import type { Metrics } from '../metrics/index.ts'

export type MemoryLimiterOptions = {
  /** Most keys remembered; the least recently used is forgotten first, which only ever favours it. */
  maxTracked: number
  /** Told of each spending decision; left out where this limiter is Redis's fallback, which reports for it. */
  metrics?: Metrics
}

/** The memory limiter answers synchronously, sparing the hot path a promise. */
export interface MemoryLimiter extends Limiter {
  takeAll(budgets: readonly Budget[], now?: number): LimitDecision[]
  peekAll(budgets: readonly Budget[], now?: number): LimitDecision[]
  /**
   * Sets a key's debt (TAT − now, in µs) as another store last reported it: the Redis limiter
   * mirrors Redis's state here, so a fallback starts from what was already spent, not from full.
   */
  remember(key: string, debtUs: number, now?: number): void
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
 * and is back to a full budget once TAT has passed. A request's budgets are all read, decided,
 * and only then all charged, in one synchronous step, so no other request can come in between.
 *
 * The cache has no TTL: a TAT in the past reads the same as an absent key, so stale entries are
 * harmless and the LRU bound alone caps memory, without a clock read or timer per entry.
 */
export function createMemoryLimiter(options: MemoryLimiterOptions): MemoryLimiter {
  const tats = new LRUCache<string, number>({ max: options.maxTracked })

  function decideAll(budgets: readonly Budget[], now: number, spend: boolean): LimitDecision[] {
    const nowUs = Math.floor(now * US_PER_MS)
    const intervals = budgets.map(({ spec }) => emissionInterval(spec))
    const debts = budgets.map(({ key }) => {
      const stored = tats.get(key)
      return stored === undefined || stored < nowUs ? 0 : stored - nowUs
    })
    const decisions = gcraDecisions(budgets, intervals, debts)
    if (!spend || budgets.length === 0) return decisions
    const allowed = decisions.every((d) => d.allowed)
    if (allowed) {
      for (let i = 0; i < budgets.length; i++) tats.set(budgets[i]!.key, nowUs + debts[i]! + intervals[i]!)
    }
    options.metrics?.limit('local', allowed)
    return decisions
  }

  function remember(key: string, debtUs: number, now = Date.now()): void {
    if (debtUs > 0) tats.set(key, Math.floor(now * US_PER_MS) + debtUs)
    else tats.delete(key)
  }

  return {
    takeAll: (budgets, now = Date.now()) => decideAll(budgets, now, true),
    peekAll: (budgets, now = Date.now()) => decideAll(budgets, now, false),
    remember,
    size: () => tats.size,
  }
}
