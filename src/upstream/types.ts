/**
 * The identity gatehouse forwards, as the upstream sees it: the gateway's Identity
 * (src/authn/identity.ts) as JSON. Declared again here because the SDK is published without the
 * gateway; test/upstream/types.test.ts fails to compile when the two differ.
 */
export type AssertedOrgMembership = {
  orgId: string
  orgName: string
  role: string
  inheritedRoles: readonly string[]
  permissions: readonly string[]
}

export type AssertedUser = {
  userId: string
  email?: string
  username?: string
  firstName?: string
  lastName?: string
  properties: Record<string, unknown>
  legacyUserId?: string
  impersonatorUserId?: string
}

export type AssertedApiKey = {
  id: string
  type: 'personal' | 'org' | 'generic'
  scopes: readonly string[]
  metadata: Record<string, unknown>
  /** Unix seconds, or null for a key that never expires. */
  expiresAt: number | null
  /** Requests per minute for this key alone (its rate_limit_override), when it has one. */
  rateLimit?: number
}

export type AssertedIdentity = {
  principal: 'user' | 'org' | 'service'
  method: 'token' | 'api_key'
  user?: AssertedUser
  orgs: Record<string, AssertedOrgMembership>
  org?: { orgId: string; orgName: string }
  apiKey?: AssertedApiKey
  /** The OAuth client of a service token (client credentials). */
  clientId?: string
  /** The scopes a token was granted (`scope` / `scp`), when it states them. */
  scopes?: readonly string[]
  activeOrg?: AssertedOrgMembership
}
