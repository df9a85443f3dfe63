import type { LimitDecision } from './limiter.ts'

/**
 * The IETF RateLimit fields in their structured-field form (draft-ietf-httpapi-ratelimit-headers-08
 * and later): `RateLimit-Policy` lists every policy applied to the request, `RateLimit` reports the
 * one closest to denying (fewest remaining; on a tie a denying one, then the slowest to refill), and
 * `Retry-After` appears when any policy denied, with the longest wait among them.
 *
 * Names are written as sf-strings without escaping: they are fixed identifiers chosen in code
 * (`user`, `org`, `route`), never caller input. `w` is a whole number of seconds, rounded up.
 */
export function rateLimitHeaders(decisions: readonly LimitDecision[]): Record<string, string> {
  let policy = ''
  let tightest: LimitDecision | undefined
  let retryAfter = 0
  for (const d of decisions) {
    policy += `${policy ? ', ' : ''}"${d.name}";q=${d.limit};w=${Math.ceil(d.policy.windowMs / 1000)}`
    if (!tightest || tighter(d, tightest)) tightest = d
    if (d.retryAfterSeconds > retryAfter) retryAfter = d.retryAfterSeconds
  }
  if (!tightest) return {}
  const headers: Record<string, string> = {
    'RateLimit-Policy': policy,
    RateLimit: `"${tightest.name}";r=${tightest.remaining};t=${tightest.resetSeconds}`,
  }
  if (retryAfter > 0) headers['Retry-After'] = String(retryAfter)
  return headers
}

function tighter(a: LimitDecision, b: LimitDecision): boolean {
  if (a.remaining !== b.remaining) return a.remaining < b.remaining
  if (a.allowed !== b.allowed) return !a.allowed
  return a.resetSeconds > b.resetSeconds
}
