import type { Identity, OrgMembership, Principal } from './identity.ts'
import type { RoleTable } from './roles.ts'

/**
 * A caller's membership of one org, whatever the credential stated it: the role's inherited roles
 * come from the configured table, so a role the config does not know inherits nothing and passes no
 * role check. Permissions are the role's unless the credential narrows or states them.
 */
export function orgMembership(
  roles: RoleTable,
  org: { orgId: string; orgName: string },
  role: string,
  permissions: readonly string[] = roles.permissionsOf(role),
): OrgMembership {
  return { orgId: org.orgId, orgName: org.orgName, role, inheritedRoles: roles.inheritedRoles(role), permissions }
}

// Empty and frozen, and itself without a prototype: the only thing an orgs map inherits from.
const INHERITS_NOTHING: object = Object.freeze(Object.create(null))

/**
 * Org ids come from outside and end up as keys looked up with request input: with nothing to
 * inherit, ids such as `__proto__` or `constructor` are plain keys and absent ids are simply absent.
 * Not `Object.create(null)`: V8 keeps a null-prototype object in dictionary mode, and freezing one
 * copies its hidden class, about 200 bytes more per cached identity than an object whose
 * prototype is an empty, prototype-less one (about 20 MB of a 100,000-entry token cache).
 */
export function emptyOrgs(): Record<string, OrgMembership> {
  return Object.create(INHERITS_NOTHING) as Record<string, OrgMembership>
}

/**
 * Who the identity stands for, as one id: the user, the org of an org key, or the key of a service
 * (a generic key, or the OAuth client of a service token: each client its own rate budget and `sub`).
 */
export function subjectOf(identity: Identity): string | undefined {
  switch (identity.principal) {
    case 'user':
      return identity.user?.userId
    case 'org':
      return identity.org?.orgId
    case 'service':
      return identity.apiKey?.id ?? identity.clientId
  }
}

/** The kind of subject `subjectOf` names, as a key prefix: `user:…`, `org:…`, `key:…`. */
export const SUBJECT_KIND: Readonly<Record<Principal, string>> = { user: 'user', org: 'org', service: 'key' }
