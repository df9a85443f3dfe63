import { emptyOrgs, orgMembership } from '../identity/index.ts'
import type { Identity, IdentityUser, OrgMembership, RoleTable } from '../identity/index.ts'
import type { IssuerConfig } from '../config/index.ts'
import { InvalidTokenError } from './errors.ts'
import { isRecord, nonEmptyString } from './json.ts'
import type { Claims } from './json.ts'
import { clerkIdentity, keycloakIdentity } from './provider-claims.ts'
import { serviceIdentity, serviceTokenRule, tokenScopes } from './service-tokens.ts'
import { createRoleResolver, membershipFromRoles, stringList } from './token-roles.ts'
import type { RoleResolver } from './token-roles.ts'

/**
 * Verified JWT payloads → Identity. Claims are signed, but still read defensively: a field of the
 * wrong type is ignored (or, for the user id, rejects the token), never trusted or crashed on.
 * Role hierarchies come from the config, never from the token, so a token cannot claim a hierarchy
 * the config does not have, and a role the config does not know passes no role check.
 */

export type ClaimsMapper = (claims: Claims) => Identity
export type OidcMapping = IssuerConfig['oidc']
/** What the mapping of a token's claims reads of its issuer's entry. */
export type ClaimsConfig = Pick<IssuerConfig, 'claims' | 'oidc' | 'roleMap' | 'permissionsClaim' | 'clientRoles' | 'serviceTokenClaims'>
/** How claims that name roles and permissions are read: the resolver to configured roles, and the permissions claim. */
export type RoleClaims = {
  resolve: RoleResolver
  permissionsClaim?: string
  /** An org id alone makes a membership (role ''): Auth0 issues a token for an org only to its members. */
  memberWithoutRole?: boolean
}

// Shared by every identity without properties, and every membership without permissions: a token
// cache holds one identity per caller, and each empty object or array of its own costs 30–60 bytes.
// Identities are frozen once cached.
const NO_PROPERTIES: Record<string, unknown> = Object.freeze({})
const NO_PERMISSIONS: readonly string[] = Object.freeze([])

export function createClaimsMapper(issuer: ClaimsConfig, roles: RoleTable): ClaimsMapper {
  const isService = serviceTokenRule(issuer.claims, issuer.serviceTokenClaims)
  const roleClaims: RoleClaims = {
    resolve: createRoleResolver(roles, { roleMap: issuer.roleMap, dropOrgPrefix: issuer.claims === 'clerk' }),
    permissionsClaim: issuer.permissionsClaim,
    memberWithoutRole: issuer.claims === 'auth0',
  }
  const userIdentity = userMapper(issuer, roles, roleClaims)
  return (claims) => {
    if (isService(claims)) return serviceIdentity(claims)
    const identity = userIdentity(claims)
    const scopes = tokenScopes(claims)
    if (scopes) identity.scopes = scopes
    return identity
  }
}

function userMapper(issuer: ClaimsConfig, roles: RoleTable, roleClaims: RoleClaims): ClaimsMapper {
  switch (issuer.claims) {
    case 'propelauth':
      return (claims) => propelauthIdentity(claims, roles)
    case 'oidc':
    case 'auth0':
      return (claims) => oidcIdentity(claims, issuer.oidc, roles, roleClaims)
    case 'clerk':
      return (claims) => clerkIdentity(claims, roles, roleClaims.resolve)
    case 'keycloak':
      return (claims) => keycloakIdentity(claims, roles, { ...roleClaims, clientRoles: issuer.clientRoles })
  }
}

const PROPELAUTH_OPTIONAL_USER_CLAIMS = [
  ['email', 'email'],
  ['username', 'username'],
  ['firstName', 'first_name'],
  ['lastName', 'last_name'],
  ['legacyUserId', 'legacy_user_id'],
  ['impersonatorUserId', 'impersonator_user_id'],
] as const

export function propelauthIdentity(claims: Claims, roles: RoleTable): Identity {
  const userId = nonEmptyString(claims.user_id)
  if (!userId) throw new InvalidTokenError('the token has no user_id claim')
  const properties = isRecord(claims.properties) && Object.keys(claims.properties).length > 0 ? claims.properties : NO_PROPERTIES
  const user: IdentityUser = { userId, properties }
  for (const [field, claim] of PROPELAUTH_OPTIONAL_USER_CLAIMS) {
    const value = nonEmptyString(claims[claim])
    if (value) user[field] = value
  }
  return { principal: 'user', method: 'token', user, orgs: propelauthOrgs(claims, roles) }
}

function propelauthOrgs(claims: Claims, roles: RoleTable): Record<string, OrgMembership> {
  const orgs = emptyOrgs()
  // An active-org token is scoped to one org: when present, its org_member_info replaces the map,
  // even if malformed, so that a broken entry can never widen the token back to every org.
  const active = claims.org_member_info
  const entries: [string | undefined, unknown][] =
    active !== undefined && active !== null
      ? [[undefined, active]]
      : isRecord(claims.org_id_to_org_member_info)
        ? Object.entries(claims.org_id_to_org_member_info)
        : []
  for (const [key, info] of entries) {
    const membership = propelauthMembership(info, roles)
    // A map key that disagrees with the entry's own org_id is ambiguous: dropped, not guessed.
    if (membership && (key === undefined || key === membership.orgId)) orgs[membership.orgId] = membership
  }
  return orgs
}

function propelauthMembership(info: unknown, roles: RoleTable): OrgMembership | undefined {
  if (!isRecord(info)) return undefined
  const orgId = nonEmptyString(info.org_id)
  // PropelAuth's own libraries drop entries without a user_role.
  const role = nonEmptyString(info.user_role)
  if (!orgId || !role) return undefined
  const stated = Array.isArray(info.user_permissions) ? info.user_permissions.filter((p) => typeof p === 'string') : []
  const permissions = stated.length > 0 ? stated : NO_PERMISSIONS
  return orgMembership(roles, { orgId, orgName: nonEmptyString(info.org_name) ?? orgId }, role, permissions)
}

/**
 * The configured claim names. `org_role` may name one role or an array of them. An org without
 * a stated role is a membership (role '', no role check passes) when the token states its
 * permissions there, or with Auth0, whose Organizations tokens carry org_id but no role unless an
 * Action adds one; otherwise, as before roles could be absent, it is no membership.
 */
export function oidcIdentity(claims: Claims, mapping: OidcMapping, roles: RoleTable, roleClaims: RoleClaims = EXACT_ROLES): Identity {
  const userId = nonEmptyString(readClaim(claims, mapping.userId))
  if (!userId) throw new InvalidTokenError(`the token has no string "${mapping.userId}" claim`)
  const user: IdentityUser = { userId, properties: NO_PROPERTIES }
  const email = nonEmptyString(readClaim(claims, mapping.email))
  if (email) user.email = email
  const orgs = emptyOrgs()
  const orgId = mapping.orgId === undefined ? undefined : nonEmptyString(readClaim(claims, mapping.orgId))
  const stated = mapping.orgRole === undefined ? [] : (roleNames(readClaim(claims, mapping.orgRole)) ?? [])
  const permissions = roleClaims.permissionsClaim === undefined ? undefined : stringList(readClaim(claims, roleClaims.permissionsClaim))
  if (orgId && (stated.length > 0 || permissions !== undefined || roleClaims.memberWithoutRole)) {
    const orgName = mapping.orgName === undefined ? undefined : nonEmptyString(readClaim(claims, mapping.orgName))
    orgs[orgId] = membershipFromRoles({ orgId, orgName: orgName ?? orgId }, stated, permissions ?? [], roles, roleClaims.resolve)
  }
  return { principal: 'user', method: 'token', user, orgs }
}

// oidcIdentity called on its own (tests, the claims as configured before role_map): names as stated.
const EXACT_ROLES: RoleClaims = { resolve: (name) => name }

/** A role claim: one name, or an array of names. Unlike a permissions claim, a string is one role, spaces and all. */
function roleNames(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value === '' ? undefined : [value]
  return stringList(value)
}

/**
 * A claim by name, or by dotted path (`o.id`) into nested objects. The exact name wins first
 * because namespaced claims such as `https://example.com/org_id` contain dots themselves.
 * Only own properties are read, so a path can never reach `constructor` or a prototype.
 */
export function readClaim(claims: Claims, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name]
  let value: unknown = claims
  for (const part of name.split('.')) {
    if (!isRecord(value) || !Object.hasOwn(value, part)) return undefined
    value = value[part]
  }
  return value
}
