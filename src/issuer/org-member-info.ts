import type { RoleTable } from '../identity/index.ts'
import type { Membership, Org } from '../store/index.ts'

/** PropelAuth's org_member_info: in access tokens and in the admin API's user views alike. */
export type OrgMemberInfo = {
  org_id: string
  org_name: string
  url_safe_org_name: string
  user_role: string
  inherited_user_roles_plus_current_role: string[]
  user_permissions: string[]
}

/** The role's inherited roles and permissions come from the current config, not the stored row. */
export function toOrgMemberInfo(roles: RoleTable, org: Org, membership: Membership): OrgMemberInfo {
  return {
    org_id: org.org_id,
    org_name: org.name,
    url_safe_org_name: org.url_safe_org_name,
    user_role: membership.role,
    inherited_user_roles_plus_current_role: [...roles.inheritedRoles(membership.role)],
    user_permissions: [...roles.permissionsOf(membership.role)],
  }
}
