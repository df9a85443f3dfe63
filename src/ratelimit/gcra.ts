import type { RateSpec } from '../config/units.ts'
import type { LimitDecision } from './limiter.ts'

const US_PER_MS = 1000
const US_PER_S = 1_000_000

/** The emission interval T in integer µs: the window over the limit, at least 1 µs. */
export function emissionInterval(spec: RateSpec): number {
  return Math.max(1, Math.round((spec.windowMs * US_PER_MS) / spec.limit))
}

/**
 * The decision for a request that found `debt` µs of debt (TAT − now) on its key: the one
 * arithmetic of every GCRA store (memory, Redis), so replicas and the fallback answer alike.
 */
export function gcraDecision(spec: RateSpec, name: string, interval: number, debt: number): LimitDecision {
  const tolerance = (spec.limit - 1) * interval
  if (debt > tolerance) {
    const waitUs = debt - tolerance
    return {
      allowed: false,
      name,
      limit: spec.limit,
      remaining: 0,
      resetSeconds: Math.ceil(debt / US_PER_S),
      retryAfterSeconds: Math.ceil(waitUs / US_PER_S),
      waitSeconds: waitUs / US_PER_S,
      policy: spec,
    }
  }
  return {
    allowed: true,
    name,
    limit: spec.limit,
    remaining: Math.floor((tolerance - debt) / interval),
    resetSeconds: Math.ceil((debt + interval) / US_PER_S),
    retryAfterSeconds: 0,
    waitSeconds: 0,
    policy: spec,
  }
}
