import type { RoleTable } from '../identity/index.ts'
import type { JsonObject, Store, User } from '../store/index.ts'
import { toOrgMemberInfo } from '../issuer/index.ts'
import type { OrgMemberInfo } from '../issuer/index.ts'

/** PropelAuth's UserMetadata: how the admin API and the PropelAuth-compatible API both show a user. */
export type UserMetadata = {
  user_id: string
  email: string
  email_confirmed: boolean
  has_password: boolean
  update_password_required: boolean
  username?: string
  first_name?: string
  last_name?: string
  picture_url?: string
  locked: boolean
  enabled: boolean
  mfa_enabled: boolean
  can_create_orgs: boolean
  created_at: number
  last_active_at: number
  legacy_user_id?: string
  metadata: JsonObject
  properties: JsonObject
  org_id_to_org_info?: Record<string, OrgMemberInfo & { org_metadata?: JsonObject }>
}

/**
 * With `includeOrgs`, the user's orgs as org_id_to_org_info; `withOrgMetadata` adds each org's
 * metadata (org_metadata), which PropelAuth's SDKs need to read an entry as an OrgMemberInfo.
 */
export async function toUserMetadata(
  store: Store,
  roles: RoleTable,
  user: User,
  includeOrgs: boolean,
  withOrgMetadata = false,
): Promise<UserMetadata> {
  const view: UserMetadata = {
    user_id: user.user_id,
    email: user.email,
    email_confirmed: user.email_confirmed,
    has_password: user.has_password,
    update_password_required: user.update_password_required,
    // PropelAuth leaves out the optional fields a user does not have rather than sending null.
    ...present('username', user.username),
    ...present('first_name', user.first_name),
    ...present('last_name', user.last_name),
    ...present('picture_url', user.picture_url),
    locked: !user.enabled,
    enabled: user.enabled,
    mfa_enabled: false,
    can_create_orgs: user.can_create_orgs,
    created_at: user.created_at,
    last_active_at: user.last_active_at,
    ...present('legacy_user_id', user.legacy_user_id),
    metadata: user.metadata,
    properties: user.properties,
  }
  if (!includeOrgs) return view
  const memberships = await store.listUserMemberships(user.user_id)
  view.org_id_to_org_info = Object.fromEntries(
    memberships.map((m) => [
      m.org.org_id,
      { ...toOrgMemberInfo(roles, m.org, m.membership), ...(withOrgMetadata ? { org_metadata: m.org.metadata } : {}) },
    ]),
  )
  return view
}

function present<K extends string>(key: K, value: string | null): { [P in K]?: string } {
  return (value === null ? {} : { [key]: value }) as { [P in K]?: string }
}
