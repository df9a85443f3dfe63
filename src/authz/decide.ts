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
  if (route.scopes.length > 0 && identity.apiKey && !route.scopes.every((s) => identity.apiKey!.scopes.includes(s))) {
    forbid("API key doesn't have the required scopes")
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

function credentialKind(identity: Identity): CredentialKind {
  if (identity.method === 'token') return 'token'
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
