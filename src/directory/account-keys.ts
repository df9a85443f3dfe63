import type { ApiKey, Org } from '../store/index.ts'
import type { ApiKeyOperations, ExpiryInput } from './api-keys.ts'
import type { DirectoryContext } from './context.ts'
import { NotPermittedError } from './errors.ts'

export type AccountKeyOperations = ReturnType<typeof accountKeyOperations>

/** One org whose keys a user manages, and its current keys. */
export type ManagedOrgKeys = { org: Org; keys: ApiKey[] }

/** The keys a user sees on their account page: their personal keys and those of each org they manage. */
export type AccountKeys = { personal: ApiKey[]; orgs: ManagedOrgKeys[] }

/** A key a user makes for themselves (no org_id) or for an org they manage. */
export type AccountKeyInput = Pick<ExpiryInput, 'expiration'> & { name: string; org_id?: string; scopes?: string[] }

/** The most keys listed per owner; a page of more is a job for the admin API. */
const LISTED_KEYS = 100

/**
 * API keys as their owners manage them (the self-service page): a user manages their own
 * personal keys and the keys of each org where their role grants `permission`
 * (end_users.account_page.org_keys_permission). The role and its permissions are read from the
 * directory at each call, not from the session's token, so a role taken away stops this at once.
 * Creating and archiving are the admin API's operations, behind this one ownership rule.
 */
export function accountKeyOperations(ctx: DirectoryContext, apiKeys: ApiKeyOperations) {
  const { store, roles } = ctx

  const managedOrgs = async (userId: string, permission: string): Promise<Org[]> =>
    (await store.listUserMemberships(userId))
      .filter(({ membership }) => roles.permissionsOf(membership.role).includes(permission))
      .map(({ org }) => org)

  const mayManageOrg = async (userId: string, orgId: string, permission: string): Promise<boolean> => {
    const membership = await store.getMembership(orgId, userId)
    return membership !== undefined && roles.permissionsOf(membership.role).includes(permission)
  }

  const current = async (query: { user_id: string; type: 'personal' } | { org_id: string }): Promise<ApiKey[]> =>
    (await store.listApiKeys({ ...query, archived: false, page_size: LISTED_KEYS, page_number: 0 })).items

  return {
    async list(userId: string, permission: string): Promise<AccountKeys> {
      const orgs = await managedOrgs(userId, permission)
      return {
        personal: await current({ user_id: userId, type: 'personal' }),
        orgs: await Promise.all(orgs.map(async (org) => ({ org, keys: await current({ org_id: org.org_id }) }))),
      }
    },
    /** The orgs the user may make keys for (the page's owner choices). */
    managedOrgs,
    /** A personal key, or an org key created by the user in an org they manage; NotPermittedError otherwise. */
    async create(userId: string, permission: string, input: AccountKeyInput): Promise<{ key: ApiKey; secret: string }> {
      const { org_id, ...fields } = input
      if (org_id === undefined) return apiKeys.create({ ...fields, user_id: userId })
      if (!(await mayManageOrg(userId, org_id, permission))) throw new NotPermittedError(`You may not manage the API keys of org ${org_id}`)
      return apiKeys.create({ ...fields, org_id, user_id: userId })
    },
    /** Archives the user's own personal key or a key of an org they manage; NotPermittedError for any other key. */
    async archive(userId: string, permission: string, apiKeyId: string): Promise<ApiKey> {
      const key = await apiKeys.get(apiKeyId)
      const owned =
        key.type === 'personal'
          ? key.user_id === userId
          : key.type === 'org' && key.org_id !== null && (await mayManageOrg(userId, key.org_id, permission))
      if (!owned) throw new NotPermittedError(`You may not archive API key ${apiKeyId}`)
      return apiKeys.archive(apiKeyId, 'archived by its owner on the account page')
    },
  }
}
