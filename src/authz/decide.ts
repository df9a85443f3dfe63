import { InvalidTokenError, NoCredentialError } from '../authn/index.ts'
import type { Identity, OrgMembership } from '../identity/index.ts'
import type { CompiledRoute } from '../rules/index.ts'
import { ProblemError, problems, singleHeader, singleQueryParam } from '../http/index.ts'
import { authorizationChecks } from './checks.ts'
import type { AuthorizationCheck, CheckCode } from './checks.ts'

/** Where an org rule may read the org id from; only the route's configured source is consulted. */
export type OrgIdLookup = {
  params: Readonly<Record<string, string>>
  header(name: string): string | undefined
  query(name: string): string | undefined
}

/** A request's org id sources: its route's path parameters, its headers (Node's flat list) and its canonical query. */
export function requestOrgIdLookup(params: Readonly<Record<string, string>>, rawHeaders: readonly string[], query: string): OrgIdLookup {
  return {
    params,
    header: (name) => singleHeader(rawHeaders, name),
    query: (name) => singleQueryParam(query, name),
  }
}

/**
 * The rule's requirement against the caller: the membership of the org it was checked against
 * (org rules), or undefined. Throws like the other stages do: a CredentialError (401) when there is
 * no identity or one this route does not take, a 403 ProblemError when there is one that is not
 * enough — the split and the wording PropelAuth's libraries use. The route's checks are evaluated
 * in order; the first that fails is the refusal.
 */
export function authorize(route: CompiledRoute, identity: Identity | undefined, lookup: OrgIdLookup): OrgMembership | undefined {
  if (route.auth === 'none' || route.auth === 'optional') return undefined
  if (!identity) throw new NoCredentialError()
  // Read when its check is reached, as a header or query source may refuse a repeated value (400).
  let orgId: string | undefined
  const checks = authorizationChecks(route)
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i]!
    if (check.code === 'org_id') orgId = readOrgId(route, lookup)
    const result = check.evaluate(identity, orgId)
    if (!result.passed) throw refusal(check, result.detail)
  }
  return orgId === undefined ? undefined : identity.orgs[orgId]
}

/** One check as explain reports it. */
export type CheckVerdict = {
  check: CheckCode
  description: string
  /** `not_evaluated`: a check it reads (the membership, the org id) failed first. */
  verdict: 'passed' | 'failed' | 'not_evaluated'
  detail?: string
}

/**
 * Every check of the route against `identity`, each with its verdict, for explaining a decision:
 * the same checks `authorize` stops at the first failure of. Checks of the caller (credential,
 * issuer, scopes, principal) are all evaluated, whichever failed; a check that reads another's
 * result (the role reads the membership, the membership the org id) is not evaluated after it failed.
 */
export function explainAuthorization(route: CompiledRoute, identity: Identity, lookup: OrgIdLookup): CheckVerdict[] {
  let orgId: string | undefined
  const failed = new Set<CheckCode>()
  return authorizationChecks(route).map(({ code, description, after, evaluate }) => {
    if (after && failed.has(after)) {
      failed.add(code)
      return { check: code, description, verdict: 'not_evaluated', detail: `${after} failed` }
    }
    let result
    try {
      if (code === 'org_id') orgId = readOrgId(route, lookup)
      result = evaluate(identity, orgId)
    } catch (err) {
      // A repeated org header or query parameter: the decision refuses it with this 400.
      if (!(err instanceof ProblemError)) throw err
      result = { passed: false, detail: err.message }
    }
    if (result.passed) return { check: code, description, verdict: 'passed' }
    failed.add(code)
    return { check: code, description, verdict: 'failed', detail: result.detail }
  })
}

/** The route's checks as they read before anything is known of a caller: each `not_evaluated`. */
export function unevaluatedChecks(route: CompiledRoute): CheckVerdict[] {
  return authorizationChecks(route).map(({ code, description }) => ({ check: code, description, verdict: 'not_evaluated' }))
}

function readOrgId(route: CompiledRoute, lookup: OrgIdLookup): string | undefined {
  const { from, name } = route.orgId
  const value = from === 'path' ? lookup.params[name] : from === 'header' ? lookup.header(name) : lookup.query(name)
  return value || undefined
}

function refusal(check: AuthorizationCheck, detail: string): Error {
  return check.refusal === 'invalid_token' ? new InvalidTokenError(detail) : new ProblemError(problems.forbidden(detail))
}
