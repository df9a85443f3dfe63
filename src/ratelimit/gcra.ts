import type { RateSpec } from '../units/index.ts'
import type { Budget, LimitDecision } from './limiter.ts'

const US_PER_MS = 1000
const US_PER_S = 1_000_000

/** The emission interval T in integer µs: the window over the limit, at least 1 µs. */
export function emissionInterval(spec: RateSpec): number {
  return Math.max(1, Math.round((spec.windowMs * US_PER_MS) / spec.limit))
}

/**
 * The decisions for a request whose budgets found `debts[i]` µs of debt (TAT − now) on their
 * keys, with emission intervals `intervals[i]`: the one arithmetic of every GCRA store (memory,
 * Redis), so replicas and the fallback answer alike. A budget has room while its debt is at most
 * (limit−1)·T. The request is admitted when every budget has room, and then each is reported as
 * charged; otherwise the refusing budgets report their wait and the others their uncharged state.
 */
export function gcraDecisions(budgets: readonly Budget[], intervals: readonly number[], debts: readonly number[]): LimitDecision[] {
  let admitted = true
  for (let i = 0; i < budgets.length; i++) if (debts[i]! > tolerance(budgets[i]!.spec, intervals[i]!)) admitted = false
  return budgets.map((budget, i) => decision(budget, intervals[i]!, debts[i]!, admitted))
}

function tolerance(spec: RateSpec, interval: number): number {
  return (spec.limit - 1) * interval
}

function decision({ spec, name }: Budget, interval: number, debt: number, charged: boolean): LimitDecision {
  const slack = tolerance(spec, interval) - debt
  if (slack < 0) {
    return {
      allowed: false,
      name,
      limit: spec.limit,
      remaining: 0,
      resetSeconds: Math.ceil(debt / US_PER_S),
      retryAfterSeconds: Math.ceil(-slack / US_PER_S),
      waitSeconds: -slack / US_PER_S,
      policy: spec,
    }
  }
  // Charging adds one interval of debt and takes one request off what remains.
  const owed = charged ? debt + interval : debt
  return {
    allowed: true,
    name,
    limit: spec.limit,
    remaining: Math.floor(slack / interval) + (charged ? 0 : 1),
    resetSeconds: Math.ceil(owed / US_PER_S),
    retryAfterSeconds: 0,
    waitSeconds: 0,
    policy: spec,
  }
}
