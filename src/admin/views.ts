import type { z } from '@hono/zod-openapi'
import type { Membership, Org, Paging } from '../store/index.ts'
import type { org } from './schemas.ts'

/** Store records as the API shows them: PropelAuth's shapes, computed fields filled in. */

export { toUserMetadata } from '../directory/index.ts'
export type { UserMetadata } from '../directory/index.ts'

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
    can_setup_saml: o.can_setup_saml,
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
