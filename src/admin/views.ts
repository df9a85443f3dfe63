import type { z } from '@hono/zod-openapi'
import type { RoleTable } from '../identity/index.ts'
import { toOrgMemberInfo } from '../issuer/index.ts'
import type { Membership, Org, Paging, Store, User } from '../store/index.ts'
import type { org, userMetadata } from './schemas.ts'

/** Store records as the API shows them: PropelAuth's shapes, computed fields filled in. */

export type UserMetadata = z.infer<typeof userMetadata>

export async function toUserMetadata(store: Store, roles: RoleTable, user: User, includeOrgs: boolean): Promise<UserMetadata> {
  const view: UserMetadata = {
    user_id: user.user_id,
    email: user.email,
    email_confirmed: user.email_confirmed,
    has_password: false,
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
  view.org_id_to_org_info = Object.fromEntries(memberships.map((m) => [m.org.org_id, toOrgMemberInfo(roles, m.org, m.membership)]))
  return view
}

function present<K extends string>(key: K, value: string | null): { [P in K]?: string } {
  return (value === null ? {} : { [key]: value }) as { [P in K]?: string }
}

export function toOrg(o: Org): z.infer<typeof org> {
  return {
    org_id: o.org_id,
    name: o.name,
    url_safe_org_name: o.url_safe_org_name,
    domain: o.domain,
    enable_auto_joining_by_domain: o.enable_auto_joining_by_domain,
    members_must_have_matching_domain: o.members_must_have_matching_domain,
    max_users: o.max_users,
    metadata: o.metadata,
    created_at: o.created_at,
    updated_at: o.updated_at,
  }
}

export function toMembership(m: Membership): Membership {
  return { org_id: m.org_id, user_id: m.user_id, role: m.role, created_at: m.created_at }
}

/** PropelAuth's page fields around a store page. */
export function pageFields(paging: Paging, total: number) {
  return {
    current_page: paging.page_number,
    page_size: paging.page_size,
    has_more_results: (paging.page_number + 1) * paging.page_size < total,
  }
}
