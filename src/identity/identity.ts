/**
 * The currency between pipeline stages: who is calling, whatever the credential. The assertion
 * carries this object as JSON; the upstream SDK's copy (src/upstream/types.ts) must match it.
 */
export type Principal = 'user' | 'org' | 'service'
export type AuthMethod = 'token' | 'api_key'
export type ApiKeyType = 'personal' | 'org' | 'generic'

export type OrgMembership = {
  orgId: string
  orgName: string
  /** The role as the credential states it; may be a role the config does not know. */
  role: string
  /** The role plus every role below it in the configured order; empty when the role is unknown. */
  inheritedRoles: readonly string[]
  permissions: readonly string[]
}

export type IdentityUser = {
  userId: string
  email?: string
  username?: string
  firstName?: string
  lastName?: string
  properties: Record<string, unknown>
  legacyUserId?: string
  impersonatorUserId?: string
}

export type IdentityApiKey = {
  id: string
  type: ApiKeyType
  scopes: readonly string[]
  metadata: Record<string, unknown>
  /** Unix seconds, or null for a key that never expires. */
  expiresAt: number | null
  /** Requests per minute for this key alone (rate_limit_override), on top of the owner's budget. */
  rateLimit?: number
}

/**
 * Which configured issuer verified a token identity: its `name:` (`local` for the local issuer),
 * absent for an unnamed issuer and for API keys. A symbol key, because the assertion carries the
 * Identity as JSON and JSON leaves symbol keys out: route binding reads it, the upstream never sees it.
 */
export const VERIFIED_BY: unique symbol = Symbol('gatehouse.verifiedBy')

export type Identity = {
  principal: Principal
  method: AuthMethod
  user?: IdentityUser
  orgs: Record<string, OrgMembership>
  org?: { orgId: string; orgName: string }
  apiKey?: IdentityApiKey
  /** The OAuth client a service token (client credentials) was issued to; only with principal service. */
  clientId?: string
  /** The OAuth scopes a token was granted (its `scope` or `scp` claim); absent when the token states none. */
  scopes?: readonly string[]
  /** Set by an org rule: the org the request was authorized against (PropelAuth's current_org). */
  activeOrg?: OrgMembership
  [VERIFIED_BY]?: string
}
