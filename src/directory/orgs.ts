import type { Membership, NewOrg, Org, OrgPatch, User } from '../store/index.ts'
import type { DirectoryContext } from './context.ts'
import { InvalidInputError, NotFoundError } from './errors.ts'

export type OrgOperations = ReturnType<typeof orgOperations>

/**
 * Orgs and their memberships: the role must be one the config defines, the domain rules need a
 * domain and admit only matching emails, max_users is enforced by the store's write.
 */
export function orgOperations(ctx: DirectoryContext) {
  const { store, roles } = ctx
  const get = async (orgId: string): Promise<Org> => {
    const o = await store.getOrg(orgId)
    if (o === undefined) throw new NotFoundError(`No org with id ${orgId}`)
    return o
  }
  const knownRole = (role: string) => {
    if (!roles.knows(role)) {
      throw new InvalidInputError('role', `unknown role "${role}" (roles: ${roles.names.join(', ') || 'none defined'})`)
    }
  }
  const membershipChanged = (orgId: string, userId: string) => ctx.changed({ kind: 'membership', orgId, userId })

  return {
    get,
    async create(input: NewOrg): Promise<Org> {
      checkDomainRules(input)
      const created = await store.createOrg(input)
      ctx.changed({ kind: 'org', orgId: created.org_id })
      return created
    },
    /** A lower max_users or a new domain rule applies to members added from now on; current members stay. */
    async update(orgId: string, patch: OrgPatch): Promise<Org> {
      checkDomainRules({ ...(await get(orgId)), ...patch })
      const updated = await store.updateOrg(orgId, patch)
      if (updated === undefined) throw new NotFoundError(`No org with id ${orgId}`)
      ctx.changed({ kind: 'org', orgId })
      return updated
    },
    async delete(orgId: string): Promise<void> {
      if (!(await store.deleteOrg(orgId))) throw new NotFoundError(`No org with id ${orgId}`)
      ctx.changed({ kind: 'org', orgId })
    },
    async addMember(orgId: string, userId: string, role: string): Promise<Membership> {
      knownRole(role)
      const o = await get(orgId)
      const user = await store.getUser(userId)
      if (user === undefined) throw new NotFoundError(`No user with id ${userId}`)
      checkMemberDomain(o, user)
      const added = await store.addMember(orgId, userId, role)
      membershipChanged(orgId, userId)
      return added
    },
    async changeRole(orgId: string, userId: string, role: string): Promise<Membership> {
      knownRole(role)
      const changed = await store.changeRole(orgId, userId, role)
      if (changed === undefined) throw new NotFoundError(`User ${userId} is not a member of org ${orgId}`)
      membershipChanged(orgId, userId)
      return changed
    },
    /** Org keys this user created with revoke_on_creator_leave stop with the membership. */
    async removeMember(orgId: string, userId: string): Promise<void> {
      if (!(await store.removeMember(orgId, userId))) throw new NotFoundError(`User ${userId} is not a member of org ${orgId}`)
      membershipChanged(orgId, userId)
      for (const apiKeyId of await store.archiveKeysOfDepartedCreator(orgId, userId, 'creator left the org')) {
        ctx.changed({ kind: 'api_key', apiKeyId, orgId, userId })
      }
    },
  }
}

type DomainRules = { domain?: string | null; enable_auto_joining_by_domain?: boolean; members_must_have_matching_domain?: boolean }

/** Both domain rules compare members' emails with the org's domain, so neither makes sense without one. */
function checkDomainRules(o: DomainRules): void {
  if (o.domain) return
  const rule = o.members_must_have_matching_domain
    ? 'members_must_have_matching_domain'
    : o.enable_auto_joining_by_domain
      ? 'enable_auto_joining_by_domain'
      : undefined
  if (rule !== undefined) throw new InvalidInputError('domain', `${rule} needs a domain`)
}

const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1).toLowerCase()

/** Whether the org's domain rule (members_must_have_matching_domain) admits this email; an org without the rule admits any. */
export function admitsEmail(o: Org, email: string): boolean {
  return !o.members_must_have_matching_domain || o.domain === null || domainOf(email) === o.domain.toLowerCase()
}

function checkMemberDomain(o: Org, user: User): void {
  if (!admitsEmail(o, user.email)) {
    throw new InvalidInputError(
      'user_id',
      `org ${o.org_id} only admits members with an @${o.domain} email; this user's is @${domainOf(user.email)}`,
    )
  }
}
