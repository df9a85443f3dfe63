import type { Identity } from '../identity/index.ts'
import { encodeHeaderValue } from '../http/index.ts'

/**
 * The convenience headers an upstream can read without verifying anything — safe only because
 * gatehouse strips every inbound header under the same prefix. The assertion is what proves them.
 */
export function createIdentityHeaders(prefix: string): (identity: Identity) => string[] {
  const name = (suffix: string) => prefix + suffix
  const names = {
    principal: name('Principal'),
    method: name('Auth-Method'),
    userId: name('User-Id'),
    email: name('Email'),
    impersonator: name('Impersonator-User-Id'),
    orgId: name('Org-Id'),
    orgName: name('Org-Name'),
    orgRole: name('Org-Role'),
    orgPermissions: name('Org-Permissions'),
    apiKeyId: name('Api-Key-Id'),
    clientId: name('Client-Id'),
  }
  return (identity) => {
    const out: string[] = [names.principal, identity.principal, names.method, identity.method]
    const push = (header: string, value: string | undefined) => {
      if (value) out.push(header, encodeHeaderValue(value))
    }
    push(names.userId, identity.user?.userId)
    push(names.email, identity.user?.email)
    push(names.impersonator, identity.user?.impersonatorUserId)
    const org = identity.activeOrg ?? identity.org
    push(names.orgId, org?.orgId)
    push(names.orgName, org?.orgName)
    if (identity.activeOrg) {
      push(names.orgRole, identity.activeOrg.role)
      push(names.orgPermissions, identity.activeOrg.permissions.join(','))
    }
    push(names.apiKeyId, identity.apiKey?.id)
    push(names.clientId, identity.clientId)
    return out
  }
}
