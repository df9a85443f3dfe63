import type { RateSpec } from '../config/units.ts'

/** The outcome of taking one request from a budget. */
export type LimitDecision = {
  allowed: boolean
  /** Names the policy in the RateLimit headers, e.g. `user`, `org`, `route`. */
  name: string
  limit: number
  /** How many more requests would be allowed right now. */
  remaining: number
  /** seconds until the full budget is back */
  resetSeconds: number
  /** seconds to wait before a retry can succeed; 0 when allowed */
  retryAfterSeconds: number
  /** The exact wait behind `retryAfterSeconds`, for a 429 body's `wait_seconds`; 0 when allowed. */
  waitSeconds: number
  policy: RateSpec
}

export interface Limiter {
  /**
   * Takes one request from the budget `spec` grants to `key`. The key must be unique per policy
   * (e.g. `user:42` and `route:3:user:42`): two policies sharing a key would share one budget.
   * `name` is only echoed into the decision. The async form is for a shared (Redis) limiter.
   */
  take(key: string, spec: RateSpec, name: string, now?: number): LimitDecision | Promise<LimitDecision>
}
