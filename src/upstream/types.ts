/** The identity gatehouse forwards, as the upstream sees it (mirrors src/authn/identity.ts). */
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
  properties?: Record<string, unknown>
  legacyUserId?: string
  impersonatorUserId?: string
}

export type AssertedApiKey = {
  id: string
  type: 'personal' | 'org' | 'generic'
  scopes: readonly string[]
  metadata: Record<string, unknown>
  expiresAt: number | null
}

export type AssertedIdentity = {
  principal: 'user' | 'org' | 'service'
  method: 'token' | 'api_key'
  user?: AssertedUser
  orgs?: Record<string, AssertedOrgMembership>
  org?: { orgId: string; orgName: string }
  apiKey?: AssertedApiKey
  activeOrg?: AssertedOrgMembership
}
