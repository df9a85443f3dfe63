import { SUBJECT_KIND, subjectOf } from '../identity/index.ts'
import type { Identity } from '../identity/index.ts'
import type { GatehouseConfig } from '../config/index.ts'
import type { RateSpec } from '../units/index.ts'
import type { CompiledRoute } from '../rules/index.ts'
import type { Budget } from './limiter.ts'

/** The configured budgets (`rate_limits:`) that requests draw on. */
export type RateLimits = Pick<GatehouseConfig['rateLimits'], 'user' | 'org' | 'generic' | 'anonymous'>

/**
 * Which budgets a request draws on, each keyed so that switching credentials never escapes one:
 * the user's, the org's, a key's own (or a generic key's in place of the generic budget), the
 * anonymous one for a caller without identity on a route that reads credentials, and the route's.
 * All of them are decided in one `takeAll`, so a request one budget refuses spends none of the others.
 */
export function budgetsFor(
  route: Pick<CompiledRoute, 'index' | 'auth' | 'rateLimit'>,
  identity: Identity | undefined,
  clientIp: string,
  limits: RateLimits,
): Budget[] {
  const budgets: Budget[] = []
  const subject = identity ? `${SUBJECT_KIND[identity.principal]}:${subjectOf(identity) ?? 'unknown'}` : `ip:${clientIp}`
  if (identity?.user && limits.user) budgets.push({ key: `user:${identity.user.userId}`, spec: limits.user, name: 'user' })
  const orgId = identity?.activeOrg?.orgId ?? identity?.org?.orgId
  if (orgId && limits.org) budgets.push({ key: `org:${orgId}`, spec: limits.org, name: 'org' })
  const key = identity?.apiKey
  // A generic key's override replaces the generic budget; any other key's is its own budget on
  // top of its owner's, so no key can escape the user's or the org's.
  const keyBudget = key?.rateLimit === undefined ? undefined : perMinute(key.rateLimit)
  const generic = identity?.principal === 'service' ? (keyBudget ?? limits.generic) : undefined
  if (generic) budgets.push({ key: subject, spec: generic, name: 'generic' })
  else if (key && keyBudget) budgets.push({ key: `key:${key.id}`, spec: keyBudget, name: 'key' })
  if (!identity && limits.anonymous && route.auth !== 'none') budgets.push({ key: subject, spec: limits.anonymous, name: 'anonymous' })
  if (route.rateLimit) budgets.push({ key: `route:${route.index}:${subject}`, spec: route.rateLimit, name: 'route' })
  return budgets
}

// One spec object per override value: the Redis limiter remembers its per-replica share by spec.
const perMinuteSpecs = new Map<number, RateSpec>()

function perMinute(limit: number): RateSpec {
  let spec = perMinuteSpecs.get(limit)
  if (!spec) perMinuteSpecs.set(limit, (spec = { limit, windowMs: 60_000, text: `${limit}/1m` }))
  return spec
}
