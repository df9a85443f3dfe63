import { VERIFIED_BY } from '../identity/index.ts'
import type { Identity } from '../identity/index.ts'
import type { CompiledRoute, CredentialKind } from '../rules/index.ts'

/** The stable names of the authorization checks, in the order a route's are evaluated: for scripts and tests. */
export const CHECK_CODES = [
  'credential_kind',
  'issuer',
  'scopes',
  'user_principal',
  'org_id',
  'membership',
  'role',
  'min_role',
  'permissions',
] as const
export type CheckCode = (typeof CHECK_CODES)[number]

/** A check's outcome: passed, or failed with the detail its refusal states. */
export type CheckResult = { readonly passed: true } | { readonly passed: false; readonly detail: string }

/**
 * One requirement of a route against its caller. `orgId` is the org the request names, read once
 * per request from the route's `org_id` source when the `org_id` check is reached (undefined
 * before, and on other rules), so that the org checks do not each read a header or the query again.
 */
export type AuthorizationCheck = {
  readonly code: CheckCode
  /** What the check requires, for people. */
  readonly description: string
  /** How a failure is refused: 403 with the detail, or 401 invalid_token with the detail as its log reason. */
  readonly refusal: 'forbidden' | 'invalid_token'
  /** The check whose pass this one reads (the membership a role is compared in): after it failed, this one is not evaluated. */
  readonly after?: CheckCode
  readonly evaluate: (identity: Identity, orgId: string | undefined) => CheckResult
}

const PASSED: CheckResult = { passed: true }

const checksByRoute = new WeakMap<CompiledRoute, readonly AuthorizationCheck[]>()

/**
 * The route's checks in the order they are decided, built once per compiled route: the decision
 * evaluates them up to the first failure, explain every one. `none` and `optional` routes have
 * none (optional takes whoever comes, or nobody).
 */
export function authorizationChecks(route: CompiledRoute): readonly AuthorizationCheck[] {
  let checks = checksByRoute.get(route)
  if (!checks) {
    checks = buildChecks(route)
    checksByRoute.set(route, checks)
  }
  return checks
}

function buildChecks(route: CompiledRoute): AuthorizationCheck[] {
  if (route.auth === 'none' || route.auth === 'optional') return []
  const checks: AuthorizationCheck[] = [credentialKindCheck(route.credentials)]
  if (route.issuers) checks.push(issuerCheck(route.issuers))
  if (route.scopes.length > 0) checks.push(scopesCheck(route.scopes))
  if (route.auth === 'user') checks.push(USER_PRINCIPAL)
  if (route.auth !== 'org_member') return checks
  const { from, name } = route.orgId
  checks.push(orgIdCheck(from === 'path' ? `the path's :${name}` : `the ${from} ${name}`), MEMBERSHIP)
  if (route.role !== undefined) checks.push(roleCheck(route.role))
  if (route.minRole !== undefined) checks.push(minRoleCheck(route.minRole))
  if (route.permissions.length > 0) checks.push(permissionsCheck(route.permissions))
  return checks
}

function credentialKindCheck(accepted: ReadonlySet<CredentialKind>): AuthorizationCheck {
  const failed = fail('This route does not accept this kind of credential')
  return check('credential_kind', `the credential is one of ${[...accepted].join(', ')}`, (identity) =>
    accepted.has(credentialKind(identity)) ? PASSED : failed,
  )
}

// A valid token of an issuer the route does not list is, for this route, no valid token (401).
// API keys are bound by `credentials:` instead; they have no issuer.
function issuerCheck(issuers: ReadonlySet<string>): AuthorizationCheck {
  const failed = fail('the token was verified by an issuer this route does not list in issuers')
  const description = `a token is verified by one of the issuers ${[...issuers].join(', ')} (API keys have none)`
  return check(
    'issuer',
    description,
    (identity) => {
      if (identity.method !== 'token') return PASSED
      const verifiedBy = identity[VERIFIED_BY]
      return verifiedBy !== undefined && issuers.has(verifiedBy) ? PASSED : failed
    },
    'invalid_token',
  )
}

function scopesCheck(scopes: readonly string[]): AuthorizationCheck {
  const keyFailed = fail("API key doesn't have the required scopes")
  const tokenFailed = fail("Token doesn't have the required scopes")
  const description = `the credential grants the scopes ${scopes.join(', ')} (a user's token that states no scopes is not narrowed)`
  return check('scopes', description, (identity) => {
    const granted = grantedScopes(identity)
    if (!granted || scopes.every((s) => granted.includes(s))) return PASSED
    return identity.apiKey ? keyFailed : tokenFailed
  })
}

const USER_REQUIRED = fail('This route requires a user')
const USER_PRINCIPAL = check('user_principal', 'the caller is a user (not a service)', (identity) =>
  identity.principal === 'user' ? PASSED : USER_REQUIRED,
)

function orgIdCheck(source: string): AuthorizationCheck {
  const failed = fail('Required org is unspecified')
  return check('org_id', `the request names an org in ${source}`, (_identity, orgId) => (orgId ? PASSED : failed))
}

const MEMBERSHIP = check(
  'membership',
  'the caller is a member of that org',
  (identity, orgId) => (identity.orgs[orgId!] ? PASSED : fail(`User is not a member of org ${orgId}`)),
  'forbidden',
  'org_id',
)

const ROLE_REQUIRED = fail("User doesn't have required role")

function roleCheck(role: string): AuthorizationCheck {
  return check(
    'role',
    `the caller's role in the org is ${role}`,
    (identity, orgId) => (identity.orgs[orgId!]!.role === role ? PASSED : ROLE_REQUIRED),
    'forbidden',
    'membership',
  )
}

function minRoleCheck(minRole: string): AuthorizationCheck {
  return check(
    'min_role',
    `the caller's role in the org is ${minRole} or above`,
    (identity, orgId) => (identity.orgs[orgId!]!.inheritedRoles.includes(minRole) ? PASSED : ROLE_REQUIRED),
    'forbidden',
    'membership',
  )
}

function permissionsCheck(permissions: readonly string[]): AuthorizationCheck {
  const failed = fail("User doesn't have required permission")
  return check(
    'permissions',
    `the caller has the permissions ${permissions.join(', ')} in the org`,
    (identity, orgId) => {
      const granted = identity.orgs[orgId!]!.permissions
      return permissions.every((p) => granted.includes(p)) ? PASSED : failed
    },
    'forbidden',
    'membership',
  )
}

// Every check is made here, so that all have one shape: the decision's loop reads them at one
// site, which stays fast only while it sees a single object layout.
function check(
  code: CheckCode,
  description: string,
  evaluate: AuthorizationCheck['evaluate'],
  refusal: AuthorizationCheck['refusal'] = 'forbidden',
  after?: CheckCode,
): AuthorizationCheck {
  return { code, description, refusal, after, evaluate }
}

/**
 * The scopes a route's `scopes:` is checked against; undefined when it does not apply. API keys and
 * service tokens are machines: what they state is all they may do, none stated is none granted. A
 * user's token is narrowed only when it states scopes (a token an OAuth client got on the user's
 * behalf); without a scope claim (a first-party session token, PropelAuth's) it is checked by roles
 * and permissions alone, as before tokens carried scopes.
 */
function grantedScopes(identity: Identity): readonly string[] | undefined {
  if (identity.apiKey) return identity.apiKey.scopes
  if (identity.principal === 'service') return identity.scopes ?? []
  return identity.scopes
}

function credentialKind(identity: Identity): CredentialKind {
  if (identity.method === 'token') return identity.principal === 'service' ? 'service_token' : 'token'
  switch (identity.apiKey?.type) {
    case 'org':
      return 'org_key'
    case 'generic':
      return 'generic_key'
    default:
      return 'personal_key'
  }
}

function fail(detail: string): CheckResult {
  return { passed: false, detail }
}
