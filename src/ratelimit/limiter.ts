import type { RateSpec } from '../units/index.ts'

/** One budget a request draws on. */
export type Budget = {
  /**
   * Unique per policy (e.g. `user:42` and `route:3:user:42`): two policies sharing a key would
   * share one budget. The keys of one `takeAll` are distinct.
   */
  key: string
  spec: RateSpec
  /** Only echoed into the decision: names the policy in the RateLimit headers, e.g. `user`, `route`. */
  name: string
}

/** One budget's part in deciding a request. */
export type LimitDecision = {
  /**
   * Whether this budget has room for the request. The request passes only when every budget of
   * its `takeAll` allows; when one refuses, the others are reported as they stand, not charged.
   */
  allowed: boolean
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
   * Decides one request against all of its budgets at once: when every budget allows, each is
   * charged one request; when any refuses, none is, so a refused request spends nothing. The
   * decisions come in the order of `budgets`. The async form is for a shared (Redis) limiter.
   */
  takeAll(budgets: readonly Budget[], now?: number): LimitDecision[] | Promise<LimitDecision[]>
  /**
   * The decisions `takeAll` would return now, charging nothing: for explaining a request without
   * spending its budgets. The same arithmetic; only the charge is left out.
   */
  peekAll(budgets: readonly Budget[], now?: number): LimitDecision[] | Promise<LimitDecision[]>
}
