/** A role as configured (`roles:`): its name and the permissions it grants itself. */
export type RoleDefinition = { name: string; permissions: readonly string[] }

/**
 * The configured role hierarchy, highest first. Computes what PropelAuth precomputes into
 * `inherited_user_roles_plus_current_role`: a role plus every role below it.
 */
export type RoleTable = {
  knows(role: string): boolean
  /** The role and every role below it; empty for a role the config does not define. Frozen, shared. */
  inheritedRoles(role: string): readonly string[]
  /** The permissions of the role and of every role below it; empty for an unknown role. Frozen, shared. */
  permissionsOf(role: string): readonly string[]
  /** The role names, highest first. */
  readonly names: readonly string[]
}

export function createRoleTable(roles: readonly RoleDefinition[]): RoleTable {
  const names = roles.map((r) => r.name)
  // Frozen and shared by every identity that holds the role: one array per role, not per caller.
  const inherited = new Map<string, readonly string[]>()
  const permissions = new Map<string, readonly string[]>()
  roles.forEach((role, i) => {
    const below = roles.slice(i)
    inherited.set(role.name, Object.freeze(below.map((r) => r.name)))
    permissions.set(role.name, Object.freeze([...new Set(below.flatMap((r) => r.permissions))]))
  })
  return {
    names,
    knows: (role) => inherited.has(role),
    inheritedRoles: (role) => inherited.get(role) ?? NONE,
    permissionsOf: (role) => permissions.get(role) ?? NONE,
  }
}

const NONE: readonly string[] = Object.freeze([])
