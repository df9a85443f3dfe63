import type { Membership, Org, Store, StoredApiKey, User } from '../store/index.ts'

/**
 * Whether an API key works now, and if not why (Unkey's KeyStatus is the model). The proxy answers
 * every status but `valid` with one 401 and logs the status; the validate endpoints turn it into
 * their `error_code`. These are PropelAuth's automatic invalidations: a key stops with its owner.
 */
export type ApiKeyStatus =
  'valid' | 'not_found' | 'archived' | 'expired' | 'owner_deleted' | 'owner_disabled' | 'org_deleted' | 'creator_left'

/** The few reads the verifier makes, so it can run on anything that answers them. */
export type ApiKeyLookup = Pick<Store, 'findApiKeyBySecretHash' | 'getUser' | 'getOrg' | 'getMembership'>

export type ApiKeyVerdict =
  | {
      status: 'valid'
      key: StoredApiKey
      /** A personal key's owner. */
      user?: User
      /** An org key's org. */
      org?: Org
      /** An org key's creator's membership, when revoke_on_creator_leave made the verifier read it. */
      creatorMembership?: Membership
    }
  | { status: Exclude<ApiKeyStatus, 'valid'>; key?: StoredApiKey }

/**
 * Checks the key whose secret hashes to `secretHash` at `now` (Unix seconds, fractions allowed):
 * found, not archived, not expired, then its owner — a personal key's user exists and is enabled;
 * an org key's org exists and, with revoke_on_creator_leave, its creator is still a member.
 */
export async function verifyApiKey(lookup: ApiKeyLookup, secretHash: string, now: number): Promise<ApiKeyVerdict> {
  const key = await lookup.findApiKeyBySecretHash(secretHash, Math.floor(now))
  if (key === undefined) return { status: 'not_found' }
  if (key.archived_at !== null) return { status: 'archived', key }
  if (key.expires_at !== null && key.expires_at <= now) return { status: 'expired', key }
  if (key.type === 'personal') {
    const user = key.user_id === null ? undefined : await lookup.getUser(key.user_id)
    if (user === undefined) return { status: 'owner_deleted', key }
    if (!user.enabled) return { status: 'owner_disabled', key }
    return { status: 'valid', key, user }
  }
  if (key.type === 'org') {
    const org = key.org_id === null ? undefined : await lookup.getOrg(key.org_id)
    if (org === undefined) return { status: 'org_deleted', key }
    const creator = creatorOf(key)
    if (!key.revoke_on_creator_leave || creator === null) return { status: 'valid', key, org }
    const creatorMembership = await lookup.getMembership(org.org_id, creator)
    if (creatorMembership === undefined) return { status: 'creator_left', key }
    return { status: 'valid', key, org, creatorMembership }
  }
  return { status: 'valid', key }
}

/**
 * The user who created an org key: created_by, or else the key's user_id, which for an org key
 * is its creating member (PropelAuth's model; a row written without created_by still names it there).
 */
export function creatorOf(key: Pick<StoredApiKey, 'created_by' | 'user_id'>): string | null {
  return key.created_by ?? key.user_id
}
