import { emptyOrgs } from '../identity/index.ts'
import type { Identity, IdentityUser, RoleTable } from '../identity/index.ts'
import type { Claims } from './json.ts'
import { InvalidTokenError } from './errors.ts'
import { isRecord, nonEmptyString } from './json.ts'
import { membershipFromRoles, stringList } from './token-roles.ts'
import type { RoleResolver } from './token-roles.ts'

/**
 * The claim shapes of providers whose tokens need more than claim names: Clerk's two session
 * token versions and Keycloak's role sets. Their shapes are documented in docs/IDENTITY_PROVIDERS.md
 * with the provider documentation they follow.
 */

const NO_PROPERTIES: Record<string, unknown> = Object.freeze({})

function requiredSub(claims: Claims): string {
  const sub = nonEmptyString(claims.sub)
  if (!sub) throw new InvalidTokenError('the token has no sub claim')
  return sub
}

/**
 * Clerk session tokens. v2 (`v: 2`) nests the active org under `o`: `id`, `slg`, `rol` (the role
 * without `org:`), and permissions packed as `per` (names), `fpm` (one bit mask per org feature of
 * `fea`, bit i standing for `per[i]`) — unpacked as Clerk's SDK does, into `org:<feature>:<name>`.
 * v1 has `org_id`, `org_slug`, `org_role` (`org:admin`) and `org_permissions`. `act.sub` is the
 * impersonating user.
 */
export function clerkIdentity(claims: Claims, roles: RoleTable, resolve: RoleResolver): Identity {
  const user: IdentityUser = { userId: requiredSub(claims), properties: NO_PROPERTIES }
  const email = nonEmptyString(claims.email)
  if (email) user.email = email
  const impersonator = isRecord(claims.act) ? nonEmptyString(claims.act.sub) : undefined
  if (impersonator) user.impersonatorUserId = impersonator
  const org = claims.v === 2 ? clerkV2Org(claims) : clerkV1Org(claims)
  const orgs = emptyOrgs()
  if (org) {
    orgs[org.orgId] = membershipFromRoles(org, org.role ? [org.role] : [], org.permissions, roles, resolve)
  }
  return { principal: 'user', method: 'token', user, orgs }
}

type ClerkOrg = { orgId: string; orgName: string; role?: string; permissions: string[] }

function clerkV1Org(claims: Claims): ClerkOrg | undefined {
  const orgId = nonEmptyString(claims.org_id)
  if (!orgId) return undefined
  return {
    orgId,
    orgName: nonEmptyString(claims.org_slug) ?? orgId,
    role: nonEmptyString(claims.org_role),
    permissions: stringList(claims.org_permissions) ?? [],
  }
}

function clerkV2Org(claims: Claims): ClerkOrg | undefined {
  const o = claims.o
  if (!isRecord(o)) return undefined
  const orgId = nonEmptyString(o.id)
  if (!orgId) return undefined
  const role = nonEmptyString(o.rol)
  return {
    orgId,
    orgName: nonEmptyString(o.slg) ?? orgId,
    role: role && `org:${role}`,
    permissions: clerkV2Permissions(claims.fea, o.per, o.fpm),
  }
}

// Clerk's splitByScope: `fea` lists `scope:feature`; o (org) and ou/uo (both) are org features.
const ORG_FEATURE_SCOPES = new Set(['o', 'ou', 'uo'])

function clerkV2Permissions(fea: unknown, per: unknown, fpm: unknown): string[] {
  if (typeof fea !== 'string' || typeof per !== 'string' || typeof fpm !== 'string') return []
  const features = fea.split(',').flatMap((entry) => {
    const [scope, feature] = entry.trim().split(':')
    return scope !== undefined && feature && ORG_FEATURE_SCOPES.has(scope) ? [feature] : []
  })
  const names = per.split(',').map((p) => p.trim())
  const masks = fpm.split(',').map((m) => m.trim())
  const permissions: string[] = []
  features.forEach((feature, i) => {
    const mask = masks[i]
    // A mask is a decimal number; BigInt keeps every bit of one wider than 53.
    if (mask === undefined || !/^\d+$/.test(mask)) return
    const bits = BigInt(mask)
    names.forEach((name, bit) => {
      if (name && (bits >> BigInt(bit)) & 1n) permissions.push(`org:${feature}:${name}`)
    })
  })
  return permissions
}

/**
 * Keycloak access tokens: `preferred_username`, `given_name`, `family_name`, the realm roles in
 * `realm_access.roles` and, for the client named by `client_roles` only, `resource_access.<client>.roles`
 * (another client's roles are that client's business: counting them would let a user's role in
 * some other application grant roles here). The orgs are Keycloak 26's `organization` claim (a list
 * of aliases, or a map of alias to attributes with `id`); without it, the realm itself (from `iss`)
 * is the one org, so realm roles still meet `org_member` rules.
 */
export function keycloakIdentity(
  claims: Claims,
  roles: RoleTable,
  options: { resolve: RoleResolver; clientRoles?: string; permissionsClaim?: string },
): Identity {
  const user: IdentityUser = { userId: requiredSub(claims), properties: NO_PROPERTIES }
  for (const [field, claim] of [
    ['email', 'email'],
    ['username', 'preferred_username'],
    ['firstName', 'given_name'],
    ['lastName', 'family_name'],
  ] as const) {
    const value = nonEmptyString(claims[claim])
    if (value) user[field] = value
  }
  const stated = [...rolesOf(claims.realm_access)]
  if (options.clientRoles !== undefined && isRecord(claims.resource_access) && Object.hasOwn(claims.resource_access, options.clientRoles)) {
    stated.push(...rolesOf(claims.resource_access[options.clientRoles]))
  }
  const permissions = options.permissionsClaim === undefined ? [] : (stringList(claims[options.permissionsClaim]) ?? [])
  const orgs = emptyOrgs()
  if (stated.length > 0 || permissions.length > 0) {
    for (const org of keycloakOrgs(claims)) orgs[org.orgId] = membershipFromRoles(org, stated, permissions, roles, options.resolve)
  }
  return { principal: 'user', method: 'token', user, orgs }
}

function rolesOf(access: unknown): string[] {
  return isRecord(access) ? (stringList(access.roles) ?? []) : []
}

function keycloakOrgs(claims: Claims): { orgId: string; orgName: string }[] {
  const organization = claims.organization
  if (Array.isArray(organization)) {
    return organization.flatMap((alias) => (nonEmptyString(alias) ? [{ orgId: alias as string, orgName: alias as string }] : []))
  }
  if (isRecord(organization)) {
    return Object.entries(organization).flatMap(([alias, attributes]) => {
      if (alias === '') return []
      const id = isRecord(attributes) ? nonEmptyString(attributes.id) : undefined
      return [{ orgId: id ?? alias, orgName: alias }]
    })
  }
  const realm = realmOf(claims.iss)
  return realm ? [{ orgId: realm, orgName: realm }] : []
}

/** `https://host/realms/<realm>` (and `/auth/realms/<realm>` before Keycloak 17). */
function realmOf(iss: unknown): string | undefined {
  if (typeof iss !== 'string') return undefined
  const match = /\/realms\/([^/]+)\/?$/.exec(iss)
  return match?.[1]
}
