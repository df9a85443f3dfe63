import { orgMembership } from '../identity/index.ts'
import type { OrgMembership, RoleTable } from '../identity/index.ts'

/**
 * Role names as an identity provider writes them (`org:admin`, `admin`, `ADMIN`) → the roles the
 * config defines. `role_map` first, then the configured role of the same name in any letter case.
 * A name that resolves to nothing stays as the token states it: a role the config does not know,
 * which passes no role check.
 */
export type RoleResolver = (name: string) => string

export type RoleResolverOptions = {
  /** role_map, its keys lower-cased. */
  roleMap: ReadonlyMap<string, string>
  /** Clerk's `org:` prefix is dropped before the same-name match (`org:admin` → Admin). */
  dropOrgPrefix: boolean
}

const ORG_PREFIX = 'org:'

export function createRoleResolver(roles: RoleTable, options: RoleResolverOptions): RoleResolver {
  // Two configured roles that differ only in case leave that name ambiguous: it resolves to neither.
  const byFoldedName = new Map<string, string | undefined>()
  for (const name of roles.names) {
    const folded = name.toLowerCase()
    byFoldedName.set(folded, byFoldedName.has(folded) ? undefined : name)
  }
  const { roleMap, dropOrgPrefix } = options
  return (name) => {
    const folded = name.toLowerCase()
    const bare = dropOrgPrefix && folded.startsWith(ORG_PREFIX) ? folded.slice(ORG_PREFIX.length) : folded
    const mapped = roleMap.get(folded) ?? roleMap.get(bare) ?? (dropOrgPrefix ? roleMap.get(ORG_PREFIX + bare) : undefined)
    return mapped ?? byFoldedName.get(bare) ?? name
  }
}

/**
 * One org membership from the roles a token states (one, or several as Keycloak's role arrays
 * hold): the highest configured role is the membership's role, so that `min_role` sees the most
 * the user has; the permissions are those of every configured role plus the token's own. Without
 * any configured role, the first stated one stands, unknown. `role` is '' when the token states none.
 */
export function membershipFromRoles(
  org: { orgId: string; orgName: string },
  stated: readonly string[],
  tokenPermissions: readonly string[],
  roles: RoleTable,
  resolve: RoleResolver,
): OrgMembership {
  const resolved = stated.map(resolve)
  let role: string | undefined
  let rank = Infinity
  for (const name of resolved) {
    const index = roles.names.indexOf(name)
    if (index !== -1 && index < rank) {
      role = name
      rank = index
    }
  }
  role ??= resolved[0] ?? ''
  const permissions = new Set<string>()
  for (const name of resolved) for (const p of roles.permissionsOf(name)) permissions.add(p)
  for (const p of tokenPermissions) permissions.add(p)
  return orgMembership(roles, org, role, [...permissions])
}

/** A claim that lists names: an array of strings (others dropped), or one string of names separated by spaces. */
export function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '')
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s !== '')
  return undefined
}
