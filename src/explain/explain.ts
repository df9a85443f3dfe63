import { explainAuthorization, requestOrgIdLookup, unevaluatedChecks } from '../authz/index.ts'
import type { CheckVerdict } from '../authz/index.ts'
import type { Decide, Decision } from '../decide/index.ts'
import { normalizeTarget, ProblemError } from '../http/index.ts'
import type { NormalizedTarget, Problem } from '../http/index.ts'
import { VERIFIED_BY } from '../identity/index.ts'
import type { Identity } from '../identity/index.ts'
import type { LimitDecision } from '../ratelimit/index.ts'
import { describeRequirements, walkRoutes } from '../rules/index.ts'
import type { RouteTable, RuleVerdict } from '../rules/index.ts'

/** A request to explain: what a client would send, without a body. */
export type ExplainInput = {
  method: string
  /** The request-target as a client sends it: path and query. */
  target: string
  /** `Authorization: Bearer <token>`. */
  token?: string
  /** `X-Api-Key: <key>`. */
  apiKey?: string
  /** Further header lines, as sent. */
  headers?: readonly (readonly [string, string])[]
  /** The direct peer the request would come from (default loopback): anonymous budgets and trust_proxy read it. */
  clientIp?: string
}

/** Why a request would be answered as it would: the parts of the decision, each with its verdict. */
export type Explanation = {
  method: string
  target: string
  /** The path as rules match it; absent when the target cannot be made canonical (400). */
  canonicalPath?: string
  /** Every rule in file order up to the one that matched, each with why it did not match. */
  rules: RuleVerdict[]
  route?: { index: number; pattern: string; auth: string; requirements: string[] }
  credential: 'none' | 'token' | 'api_key'
  /** Who the credential is, when it was accepted. */
  identity?: Identity & { verifiedBy?: string }
  /** The refusal's stable code and detail, when the request would be refused. */
  refusal?: { reason: string; detail?: string }
  /**
   * Whether the request met the route's authorization, `not_reached` when it was refused before
   * (every check then `not_evaluated`); each of the route's checks with its own verdict.
   */
  authorization: { verdict: 'passed' | 'failed' | 'not_reached' | 'none'; checks: CheckVerdict[]; detail?: string }
  /** The budgets the request draws on as they stand, not charged; absent when the decision stopped before the limits. */
  budgets?: readonly LimitDecision[]
  /** What the client would be answered: 200 means forwarded to the upstream (which is not contacted). */
  answer: { status: number; forwarded: boolean; problem?: Problem }
}

export type ExplainDeps = {
  /** The one decision every door uses; asked with `spend: false`. */
  decide: Decide
  routes: RouteTable
}

// Reasons the decision gives before authorization was reached; on an `auth: none` route the only one after it is rate_limited.
const BEFORE_AUTHORIZATION = new Set(['bad_request', 'http_version_not_supported', 'not_found', 'method_not_allowed', 'store_unavailable'])

/**
 * Decides the request with the one decision, without spending a budget and without contacting
 * the upstream, and lays the decision out stage by stage. The rule walk only explains the match:
 * the route reported is the one the decision chose.
 */
export async function explainRequest(deps: ExplainDeps, input: ExplainInput): Promise<Explanation> {
  const given = input.headers ?? []
  // A Host the caller names is the request's (forwarded host, forward-auth); else a placeholder, since HTTP/1.1 needs one.
  const rawHeaders: string[] = given.some(([name]) => name.toLowerCase() === 'host') ? [] : ['Host', 'gatehouse.explain']
  if (input.token !== undefined) rawHeaders.push('Authorization', `Bearer ${input.token}`)
  if (input.apiKey !== undefined) rawHeaders.push('X-Api-Key', input.apiKey)
  for (const [name, value] of given) rawHeaders.push(name, value)
  const method = input.method.toUpperCase()
  const decision: Decision = await deps.decide(
    { method, target: input.target, rawHeaders, httpVersion: '1.1', remoteAddress: input.clientIp ?? '127.0.0.1' },
    { spend: false, fresh: true },
  )
  const target = canonical(input.target)
  const canonicalPath = target?.path
  const rules = canonicalPath === undefined ? [] : walkRoutes(deps.routes, method, canonicalPath)
  const route = decision.route
  const explanation: Explanation = {
    method,
    target: input.target,
    canonicalPath,
    rules,
    route: route && { index: route.index, pattern: route.pattern, auth: route.auth, requirements: describeRequirements(route) },
    credential: input.token !== undefined ? 'token' : input.apiKey !== undefined ? 'api_key' : 'none',
    authorization: { verdict: 'not_reached', checks: route ? unevaluatedChecks(route) : [] },
    answer: { status: 200, forwarded: true },
  }
  const identity = decision.kind === 'allow' ? (decision.authenticated ?? decision.identity) : decision.identity
  if (identity) explanation.identity = { ...identity, verifiedBy: identity[VERIFIED_BY] }
  // A decision that names the caller reached authorization (a deny names one only from there on).
  if (identity && route && target) {
    const params = rules.find((rule) => rule.matched)?.params ?? {}
    explanation.authorization.checks = explainAuthorization(route, identity, requestOrgIdLookup(params, rawHeaders, target.query))
  }
  if (decision.kind === 'allow') {
    explanation.authorization.verdict = decision.route.auth === 'none' ? 'none' : 'passed'
    explanation.budgets = decision.budgets
    return explanation
  }
  explanation.refusal = { reason: decision.reason, detail: decision.problem.detail }
  explanation.answer = { status: decision.problem.status, forwarded: false, problem: decision.problem }
  if (decision.reason === 'rate_limited') {
    explanation.authorization.verdict = route?.auth === 'none' ? 'none' : 'passed'
    explanation.budgets = decision.budgets
  } else if (identity) {
    explanation.authorization.verdict = 'failed'
    explanation.authorization.detail = decision.problem.detail
  } else if (!BEFORE_AUTHORIZATION.has(decision.reason) && route?.auth === 'none') {
    explanation.authorization.verdict = 'none'
  }
  return explanation
}

function canonical(target: string): NormalizedTarget | undefined {
  try {
    return normalizeTarget(target)
  } catch (err) {
    if (err instanceof ProblemError) return undefined
    throw err
  }
}
