import type { Membership, Org, Store, StoredApiKey, User } from '../store/index.ts'

/**
 * Whether an API key works now, and if not why (Unkey's KeyStatus is the model). The proxy answers
 * every status but `valid` with one 401 and logs the status; the validate endpoints turn it into
 * their `error_code`. These are PropelAuth's automatic invalidations: a key stops with its owner.
 */
export type ApiKeyStatus =
  'valid' | 'not_found' | 'archived' | 'expired' | 'owner_deleted' | 'owner_disabled' | 'org_deleted' | 'creator_left'

/** The one read the verifier makes, so it can run on anything that answers it. */
export type ApiKeyLookup = Pick<Store, 'findApiKeyWithOwner'>

export type ApiKeyVerdict =
  | {
      status: 'valid'
      key: StoredApiKey
      /** A personal key's owner. */
      user?: User
      /** A personal key's owner's orgs, read with the key: what the key's identity is a member of. */
      memberships?: { org: Org; membership: Membership }[]
      /** An org key's org. */
      org?: Org
      /** An org key's creator's membership in its org, when the creator is a member. */
      creatorMembership?: Membership
    }
  | { status: Exclude<ApiKeyStatus, 'valid'>; key?: StoredApiKey }

/**
 * Checks the key whose secret hashes to `secretHash` at `now` (Unix seconds, fractions allowed):
 * found, not archived, not expired, then its owner — a personal key's user exists and is enabled;
 * an org key's org exists and, with revoke_on_creator_leave, its creator is still a member.
 * The key and its owner are read together, in one store query.
 */
export async function verifyApiKey(lookup: ApiKeyLookup, secretHash: string, now: number): Promise<ApiKeyVerdict> {
  const found = await lookup.findApiKeyWithOwner(secretHash, Math.floor(now))
  if (found === undefined) return { status: 'not_found' }
  const { key } = found
  if (key.archived_at !== null) return { status: 'archived', key }
  if (key.expires_at !== null && key.expires_at <= now) return { status: 'expired', key }
  if (key.type === 'personal') {
    const owner = found.owner
    if (owner === undefined) return { status: 'owner_deleted', key }
    if (!owner.user.enabled) return { status: 'owner_disabled', key }
    return { status: 'valid', key, user: owner.user, memberships: owner.memberships }
  }
  if (key.type === 'org') {
    if (found.org === undefined) return { status: 'org_deleted', key }
    const { org, creatorMembership } = found.org
    if (!key.revoke_on_creator_leave || creatorOf(key) === null) return { status: 'valid', key, org, creatorMembership }
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
