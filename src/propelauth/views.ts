import type { RoleTable } from '../identity/index.ts'
import { toOrgMemberInfo } from '../issuer/index.ts'
import { toUserMetadata } from '../directory/index.ts'
import type { PendingInvite, UserMetadata, ValidatedKey } from '../directory/index.ts'
import type { ApiKey, Org, Paging, Store, User } from '../store/index.ts'

/** Records as PropelAuth's backend API shows them; the SDK camel-cases every key but those inside metadata. */

export const userView = (store: Store, roles: RoleTable, user: User, includeOrgs: boolean): Promise<UserMetadata> =>
  toUserMetadata(store, roles, user, includeOrgs, true)

/** PropelAuth's page fields; page_number is 0-based. */
export function pageOf(paging: Paging, total: number) {
  return {
    current_page: paging.page_number,
    page_size: paging.page_size,
    has_more_results: (paging.page_number + 1) * paging.page_size < total,
  }
}

const maxUsers = (o: Org) => (o.max_users === null ? {} : { max_users: o.max_users })

/** fetchOrg's Organization. gatehouse does no SAML, so no connection is ever configured. */
export function organizationView(o: Org) {
  return {
    org_id: o.org_id,
    name: o.name,
    url_safe_org_slug: o.url_safe_org_name,
    can_setup_saml: o.can_setup_saml,
    is_saml_configured: false,
    is_saml_in_test_mode: false,
    ...maxUsers(o),
    metadata: o.metadata,
    ...(o.domain === null ? {} : { domain: o.domain }),
    extra_domains: [],
    domain_autojoin: o.enable_auto_joining_by_domain,
    domain_restrict: o.members_must_have_matching_domain,
    password_rotation_enabled: false,
    password_rotation_history_size: 0,
    password_rotation_period: 0,
  }
}

/** An org in fetchOrgByQuery's page and in an API key's validation. */
export function orgView(o: Org) {
  return {
    org_id: o.org_id,
    org_name: o.name,
    url_safe_org_name: o.url_safe_org_name,
    ...maxUsers(o),
    is_saml_configured: false,
    can_setup_saml: o.can_setup_saml,
    metadata: o.metadata,
    created_at: o.created_at,
  }
}

export function apiKeyView(k: ApiKey) {
  return {
    api_key_id: k.api_key_id,
    created_at: k.created_at,
    expires_at_seconds: k.expires_at,
    metadata: k.metadata,
    user_id: k.user_id,
    org_id: k.org_id,
    display_name: k.name,
  }
}

/** validateApiKey's answer: the owners present, the absent ones left out. */
export async function validationView(store: Store, roles: RoleTable, { key, user, org, membership }: ValidatedKey) {
  return {
    metadata: key.metadata,
    ...(user === undefined ? {} : { user: await userView(store, roles, user, true) }),
    ...(org === undefined ? {} : { org: orgView(org) }),
    ...(org !== undefined && membership !== undefined
      ? { user_in_org: { ...toOrgMemberInfo(roles, org, membership), org_metadata: org.metadata } }
      : {}),
    ...(key.user_id === null ? {} : { user_id: key.user_id }),
    ...(key.org_id === null ? {} : { org_id: key.org_id }),
  }
}

/** PropelAuth's PendingInvite (fetchPendingInvites); gatehouse has one role per membership, so no additional roles. */
export function pendingInviteView(i: PendingInvite) {
  return {
    invitee_email: i.email,
    org_id: i.org_id,
    org_name: i.org_name,
    role_in_org: i.role,
    additional_roles_in_org: [] as string[],
    created_at: i.created_at,
    expires_at: i.expires_at,
    ...(i.inviter_user_id === null ? {} : { inviter_user_id: i.inviter_user_id }),
    ...(i.inviter_email === null ? {} : { inviter_email: i.inviter_email }),
  }
}
