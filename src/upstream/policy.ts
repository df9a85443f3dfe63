import type { Caller, OrgMemberInfo, User } from './models.ts'

export type OrgRequirement = {
  role?: string
  minRole?: string
  permission?: string
  allPermissions?: readonly string[]
}

export type Problem = { status: 401 | 403; title: string; detail: string }

export const unauthorized = (detail: string): Problem => ({ status: 401, title: 'Unauthorized', detail })
export const forbidden = (detail: string): Problem => ({ status: 403, title: 'Forbidden', detail })

/**
 * The org a request acts on: the explicit org id when given (looked up in the user's memberships),
 * else the gateway's active org.
 */
export function checkOrgMember(
  caller: Caller,
  orgId: string | undefined,
  req: OrgRequirement,
): { user: User; org: OrgMemberInfo } | Problem {
  const user = caller.user
  if (!user) return unauthorized('a user is required')
  let org: OrgMemberInfo | undefined
  if (orgId !== undefined && orgId !== '') {
    org = user.getOrg(orgId)
  } else {
    org = caller.org ? (user.getOrg(caller.org.orgId) ?? caller.org) : undefined
  }
  if (!org) return forbidden('not a member of the org')
  if (req.role !== undefined && !org.userIsRole(req.role)) return forbidden(`requires role ${req.role}`)
  if (req.minRole !== undefined && !org.userIsAtLeastRole(req.minRole)) return forbidden(`requires at least role ${req.minRole}`)
  if (req.permission !== undefined && !org.userHasPermission(req.permission)) return forbidden(`requires permission ${req.permission}`)
  if (req.allPermissions !== undefined && !org.userHasAllPermissions(req.allPermissions)) return forbidden('missing permissions')
  return { user, org }
}

export function isProblem(v: unknown): v is Problem {
  return typeof v === 'object' && v !== null && 'status' in v && 'title' in v
}
