import type { AssertedApiKey, AssertedIdentity, AssertedOrgMembership, AssertedUser } from './types.ts'

/** A user's membership in one org, with PropelAuth's helpers in TypeScript style. */
export class OrgMemberInfo {
  readonly orgId: string
  readonly orgName: string
  readonly role: string
  readonly inheritedRoles: readonly string[]
  readonly permissions: readonly string[]

  constructor(m: AssertedOrgMembership) {
    this.orgId = m.orgId
    this.orgName = m.orgName
    this.role = m.role
    this.inheritedRoles = Object.freeze([...(m.inheritedRoles ?? [])])
    this.permissions = Object.freeze([...(m.permissions ?? [])])
  }

  /** Exactly this role. */
  userIsRole(role: string): boolean {
    return this.role === role
  }

  /** This role or a higher one (the role is among the inherited roles). */
  userIsAtLeastRole(role: string): boolean {
    return this.inheritedRoles.includes(role)
  }

  userHasPermission(permission: string): boolean {
    return this.permissions.includes(permission)
  }

  userHasAllPermissions(permissions: readonly string[]): boolean {
    return permissions.every((p) => this.permissions.includes(p))
  }
}

export class User {
  readonly userId: string
  readonly email: string | undefined
  readonly username: string | undefined
  readonly firstName: string | undefined
  readonly lastName: string | undefined
  readonly properties: Record<string, unknown>
  readonly legacyUserId: string | undefined
  readonly impersonatorUserId: string | undefined
  readonly orgIdToOrgMemberInfo: Record<string, OrgMemberInfo>

  constructor(u: AssertedUser, orgs: Record<string, AssertedOrgMembership> = {}) {
    this.userId = u.userId
    this.email = u.email
    this.username = u.username
    this.firstName = u.firstName
    this.lastName = u.lastName
    this.properties = u.properties ?? {}
    this.legacyUserId = u.legacyUserId
    this.impersonatorUserId = u.impersonatorUserId
    const map: Record<string, OrgMemberInfo> = Object.create(null) as Record<string, OrgMemberInfo>
    for (const [id, m] of Object.entries(orgs)) map[id] = new OrgMemberInfo(m)
    this.orgIdToOrgMemberInfo = map
  }

  /** True: a User is only built from a verified assertion. */
  exists(): boolean {
    return typeof this.userId === 'string' && this.userId.length > 0
  }

  getOrg(orgId: string): OrgMemberInfo | undefined {
    return Object.hasOwn(this.orgIdToOrgMemberInfo, orgId) ? this.orgIdToOrgMemberInfo[orgId] : undefined
  }

  getOrgs(): OrgMemberInfo[] {
    return Object.values(this.orgIdToOrgMemberInfo)
  }
}

export type Caller = {
  user?: User
  /** The org the gateway authorized the request against (an org rule's active org). */
  org?: OrgMemberInfo
  apiKey?: AssertedApiKey
  principal: AssertedIdentity['principal']
  method: AssertedIdentity['method']
  identity: AssertedIdentity
}

export function callerFromIdentity(identity: AssertedIdentity): Caller {
  const caller: Caller = { principal: identity.principal, method: identity.method, identity }
  if (identity.user) caller.user = new User(identity.user, identity.orgs ?? {})
  if (identity.activeOrg) caller.org = new OrgMemberInfo(identity.activeOrg)
  if (identity.apiKey) {
    const k = identity.apiKey
    caller.apiKey = { id: k.id, type: k.type, scopes: k.scopes, metadata: k.metadata, expiresAt: k.expiresAt }
    if (k.rateLimit !== undefined) caller.apiKey.rateLimit = k.rateLimit
  }
  return caller
}
