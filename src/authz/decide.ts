import { InvalidTokenError, NoCredentialError } from '../authn/index.ts'
import { VERIFIED_BY } from '../identity/index.ts'
import type { Identity, OrgMembership } from '../identity/index.ts'
import type { CompiledRoute, CredentialKind } from '../rules/index.ts'
import { ProblemError, problems } from '../http/index.ts'

/** Where an org rule may read the org id from; only the route's configured source is consulted. */
export type OrgIdLookup = {
  params: Readonly<Record<string, string>>
  header(name: string): string | undefined
  query(name: string): string | undefined
}

/**
 * The rule's requirement against the caller: the membership of the org it was checked against
 * (org rules), or undefined. Throws like the other stages do: a CredentialError (401) when there is
 * no identity or one this route does not take, a 403 ProblemError when there is one that is not
 * enough — the split and the wording PropelAuth's libraries use.
 */
export function authorize(route: CompiledRoute, identity: Identity | undefined, lookup: OrgIdLookup): OrgMembership | undefined {
  if (route.auth === 'none' || route.auth === 'optional') return undefined
  if (!identity) throw new NoCredentialError()
  if (!route.credentials.has(credentialKind(identity))) {
    forbid('This route does not accept this kind of credential')
  }
  if (!issuerTrusted(route, identity))
    throw new InvalidTokenError('the token was verified by an issuer this route does not list in issuers')
  if (route.scopes.length > 0) {
    const granted = grantedScopes(identity)
    if (granted && !route.scopes.every((s) => granted.includes(s))) {
      forbid(identity.apiKey ? "API key doesn't have the required scopes" : "Token doesn't have the required scopes")
    }
  }
  if (route.auth === 'user' && identity.principal !== 'user') {
    forbid('This route requires a user')
  }
  if (route.auth !== 'org_member') return undefined

  const orgId = readOrgId(route, lookup)
  if (!orgId) forbid('Required org is unspecified')
  const membership = identity.orgs[orgId]
  if (!membership) forbid(`User is not a member of org ${orgId}`)
  if (route.role !== undefined && membership.role !== route.role) {
    forbid("User doesn't have required role")
  }
  if (route.minRole !== undefined && !membership.inheritedRoles.includes(route.minRole)) {
    forbid("User doesn't have required role")
  }
  if (!route.permissions.every((p) => membership.permissions.includes(p))) {
    forbid("User doesn't have required permission")
  }
  return membership
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

// A valid token of an issuer the route does not list is, for this route, no valid token (401).
// API keys are bound by `credentials:` instead; they have no issuer.
function issuerTrusted(route: CompiledRoute, identity: Identity): boolean {
  if (route.issuers === null || identity.method !== 'token') return true
  const verifiedBy = identity[VERIFIED_BY]
  return verifiedBy !== undefined && route.issuers.has(verifiedBy)
}

function readOrgId(route: CompiledRoute, lookup: OrgIdLookup): string | undefined {
  const { from, name } = route.orgId
  const value = from === 'path' ? lookup.params[name] : from === 'header' ? lookup.header(name) : lookup.query(name)
  return value || undefined
}

function forbid(detail: string): never {
  throw new ProblemError(problems.forbidden(detail))
}
