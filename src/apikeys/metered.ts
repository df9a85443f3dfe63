import type { RoleTable } from '../identity/index.ts'
import { budgetsFor } from '../ratelimit/index.ts'
import type { Limiter, RateLimits } from '../ratelimit/index.ts'
import { identityOf } from './authenticate.ts'
import type { UsageCounter } from './usage.ts'
import type { ApiKeyVerdict } from './verify.ts'

type ValidKey = Omit<Extract<ApiKeyVerdict, { status: 'valid' }>, 'status'>

/** What a validate call on the admin listener answers once the key itself was found valid. */
export type MeterDecision = { allowed: true } | { allowed: false; waitSeconds: number }

export type ValidationMeter = (valid: ValidKey) => Promise<MeterDecision>

// A validate call draws on the owner's budgets only: it matched no route of the gateway.
const NO_ROUTE = { index: -1, auth: 'authenticated', rateLimit: undefined } as const

/**
 * PropelAuth's semantics for the validate endpoints: a backend validating a key on each of its
 * requests is the key being used, so each call is rate-limited like a proxied request (the
 * same budgets of `rate_limits`, the same limiter) and, when admitted, counted as usage.
 */
export function createValidationMeter(options: {
  roles: RoleTable
  orgKeyRole?: string
  limiter: Limiter
  limits: RateLimits
  usage: UsageCounter
}): ValidationMeter {
  const { roles, limiter, limits, usage } = options
  return async (valid) => {
    const { identity } = identityOf({ status: 'valid', ...valid }, roles, options.orgKeyRole)
    const decisions = await limiter.takeAll(budgetsFor(NO_ROUTE, identity, '', limits))
    let wait = -1
    for (const d of decisions) if (!d.allowed && d.waitSeconds > wait) wait = d.waitSeconds
    if (wait >= 0) return { allowed: false, waitSeconds: Math.round(wait * 1000) / 1000 }
    usage.count(identity)
    return { allowed: true }
  }
}
