import { creatorOf, displayOf, generateApiKeySecret, hashApiKeySecret, parseApiKeySecret, verifyApiKey } from '../apikeys/index.ts'
import type { ApiKey, ApiKeyPatch, ApiKeyQuery, ApiKeyType, JsonObject, Membership, Org, Page, StoredApiKey, User } from '../store/index.ts'
import type { DirectoryContext } from './context.ts'
import { ApiKeyRateLimitedError, ApiKeyRefusedError, ConflictError, InvalidInputError, NotFoundError } from './errors.ts'

export type ApiKeyOperations = ReturnType<typeof apiKeyOperations>

const DAY = 86_400

/** The expiry presets, in days (null: never). */
export const EXPIRATION_DAYS = {
  two_weeks: 14,
  one_month: 30,
  three_months: 90,
  six_months: 180,
  one_year: 365,
  never: null,
} as const

/** At most one way of saying when a key expires (the admin API's schema allows one). */
export type ExpiryInput = {
  expires_at_seconds?: number
  expiration?: keyof typeof EXPIRATION_DAYS
  expires_in_seconds?: number
  set_to_never_expire?: true
}

export type OwnerInput = { user_id?: string; org_id?: string; created_by?: string; revoke_on_creator_leave?: boolean }

export type NewKeyInput = OwnerInput &
  ExpiryInput & {
    name?: string
    description?: string
    metadata?: JsonObject
    scopes?: string[]
    rate_limit_override?: number
    protected?: boolean
  }

export type KeyPatchInput = ExpiryInput & {
  name?: string | null
  description?: string | null
  metadata?: JsonObject
  scopes?: string[]
  rate_limit_override?: number | null
}

export type ValidationKind = 'any' | 'personal' | 'org' | 'imported'

/** A valid key and its owners: a personal key's user, an org key's org and its creating member (user_id). */
export type ValidatedKey = { key: StoredApiKey; user: User | undefined; org: Org | undefined; membership: Membership | undefined }

export type ApiKeyListQuery = Omit<ApiKeyQuery, 'user_id'> & { user_id?: string; user_email?: string }

type Owner = {
  type: ApiKeyType
  user_id: string | null
  org_id: string | null
  created_by: string | null
  revoke_on_creator_leave: boolean
}

/**
 * API keys: PropelAuth's end-user API key functions, with Clerk's and Mixpeek's extras (name,
 * description, scopes, rate_limit_override, rotate, archive with a reason, protected keys).
 */
export function apiKeyOperations(ctx: DirectoryContext) {
  const { store } = ctx
  const { prefixes } = ctx.apiKeys

  const keyChanged = (k: Pick<ApiKey, 'api_key_id' | 'user_id' | 'org_id'>) =>
    ctx.changed({
      kind: 'api_key',
      apiKeyId: k.api_key_id,
      ...(k.user_id === null ? {} : { userId: k.user_id }),
      ...(k.org_id === null ? {} : { orgId: k.org_id }),
    })
  const get = async (apiKeyId: string): Promise<StoredApiKey> => {
    const k = await store.getApiKey(apiKeyId)
    if (k === undefined) throw new NotFoundError(`No API key with id ${apiKeyId}`)
    return k
  }
  const missing = (apiKeyId: string) => new NotFoundError(`No API key with id ${apiKeyId}`)

  /** Who owns a new key, from user_id / org_id / created_by, checked against the directory. */
  const resolveOwner = async (body: OwnerInput): Promise<Owner> => {
    const existingUser = async (userId: string, field: string, absent: 'not-found' | 'invalid'): Promise<User> => {
      const user = await store.getUser(userId)
      if (user === undefined) {
        if (absent === 'not-found') throw new NotFoundError(`No user with id ${userId}`)
        throw new InvalidInputError(field, `no user with id ${userId}`)
      }
      if (!user.enabled) throw new InvalidInputError(field, `user ${userId} is disabled`)
      return user
    }
    if (body.org_id !== undefined) {
      const orgId = body.org_id
      if ((await store.getOrg(orgId)) === undefined) throw new NotFoundError(`No org with id ${orgId}`)
      if (body.user_id !== undefined && body.created_by !== undefined && body.user_id !== body.created_by) {
        throw new InvalidInputError('created_by', 'for an org key, user_id is the creating user: send one of them, or the same id')
      }
      const field = body.user_id !== undefined ? 'user_id' : 'created_by'
      const creator = body.user_id ?? body.created_by
      if (creator !== undefined) {
        await existingUser(creator, field, field === 'user_id' ? 'not-found' : 'invalid')
        if ((await store.getMembership(orgId, creator)) === undefined) {
          throw new InvalidInputError(field, `user ${creator} is not a member of org ${orgId}`)
        }
      }
      const revoke = body.revoke_on_creator_leave ?? (creator !== undefined && ctx.apiKeys.revokeOnCreatorLeave)
      if (revoke && creator === undefined) {
        throw new InvalidInputError('revoke_on_creator_leave', 'needs the creating user (user_id or created_by)')
      }
      return { type: 'org', user_id: creator ?? null, org_id: orgId, created_by: creator ?? null, revoke_on_creator_leave: revoke }
    }
    if (body.revoke_on_creator_leave === true) {
      throw new InvalidInputError('revoke_on_creator_leave', 'applies to org keys only (send org_id)')
    }
    if (body.created_by !== undefined) await existingUser(body.created_by, 'created_by', 'invalid')
    if (body.user_id !== undefined) {
      await existingUser(body.user_id, 'user_id', 'not-found')
      return {
        type: 'personal',
        user_id: body.user_id,
        org_id: null,
        created_by: body.created_by ?? body.user_id,
        revoke_on_creator_leave: false,
      }
    }
    return { type: 'generic', user_id: null, org_id: null, created_by: body.created_by ?? null, revoke_on_creator_leave: false }
  }

  const newKeyFields = async (body: NewKeyInput) => {
    const owner = await resolveOwner(body)
    const expires = expiryOf(body, ctx.now())
    return {
      ...owner,
      expires_at: expires ?? null,
      name: body.name ?? null,
      description: body.description ?? null,
      metadata: body.metadata ?? {},
      scopes: body.scopes ?? [],
      rate_limit_override: body.rate_limit_override ?? null,
      protected: body.protected ?? false,
    }
  }

  return {
    get,
    /** A new key and its secret, which the directory does not keep (only its SHA-256 and a display fragment). */
    async create(body: NewKeyInput): Promise<{ key: ApiKey; secret: string }> {
      const fields = await newKeyFields(body)
      const secret = generateApiKeySecret(fields.type, prefixes)
      const key = await store.createApiKey({ ...fields, secret_hash: secret.secret_hash, display: secret.display, imported: false })
      keyChanged(key)
      return { key, secret: secret.secret }
    },
    /** Keeps an existing key string (any format) working; conflicts when the string is already a key. */
    async import(secret: string, body: NewKeyInput): Promise<ApiKey> {
      const fields = await newKeyFields(body)
      const secretHash = hashApiKeySecret(secret)
      if ((await store.findApiKeyBySecretHash(secretHash, ctx.now())) !== undefined) {
        throw new ConflictError('imported_api_key', 'this key string is already an API key')
      }
      const key = await store.createApiKey({ ...fields, secret_hash: secretHash, display: importedDisplay(secret), imported: true })
      keyChanged(key)
      return key
    },
    /** A page of keys; user_email finds the user first, and an unknown email gives an empty page. */
    async list(query: ApiKeyListQuery): Promise<Page<ApiKey>> {
      const { user_email, ...rest } = query
      let userId = rest.user_id
      if (user_email !== undefined) {
        const user = await store.getUserByEmail(user_email)
        if (user === undefined || (userId !== undefined && userId !== user.user_id)) return { items: [], total: 0 }
        userId = user.user_id
      }
      return store.listApiKeys({ ...rest, ...(userId === undefined ? {} : { user_id: userId }) })
    },
    /** null clears name, description or rate_limit_override; metadata and scopes are replaced. Protected keys can be updated. */
    async update(apiKeyId: string, body: KeyPatchInput): Promise<ApiKey> {
      const expires = expiryOf(body, ctx.now())
      const patch: ApiKeyPatch = {}
      if (body.name !== undefined) patch.name = body.name
      if (body.description !== undefined) patch.description = body.description
      if (body.metadata !== undefined) patch.metadata = body.metadata
      if (body.scopes !== undefined) patch.scopes = body.scopes
      if (body.rate_limit_override !== undefined) patch.rate_limit_override = body.rate_limit_override
      if (expires !== undefined) patch.expires_at = expires
      const updated = await store.updateApiKey(apiKeyId, patch)
      if (updated === undefined) throw missing(apiKeyId)
      keyChanged(updated)
      return updated
    },
    /** A new secret; the old one stops at once, or after graceSeconds. */
    async rotate(apiKeyId: string, graceSeconds: number): Promise<{ key: ApiKey; secret: string }> {
      const key = await get(apiKeyId)
      if (key.protected) throw new ConflictError('api_key_id', 'the key is protected: it cannot be rotated', 'protected')
      if (key.archived_at !== null) throw new ConflictError('api_key_id', 'the key is archived: create a new one', 'archived')
      const secret = generateApiKeySecret(key.type, prefixes)
      const until = graceSeconds > 0 ? ctx.now() + graceSeconds : null
      const rotated = await store.rotateApiKey(apiKeyId, { secret_hash: secret.secret_hash, display: secret.display }, until)
      if (rotated === undefined) throw missing(apiKeyId)
      keyChanged(rotated)
      return { key: rotated, secret: secret.secret }
    },
    /** Revokes the key at once; archiving an archived key changes nothing. */
    async archive(apiKeyId: string, reason: string | null): Promise<ApiKey> {
      const key = await get(apiKeyId)
      if (key.protected) throw new ConflictError('api_key_id', 'the key is protected: it cannot be archived', 'protected')
      if (key.archived_at !== null) return key
      const archived = await store.archiveApiKey(apiKeyId, reason)
      if (archived === undefined) throw missing(apiKeyId)
      keyChanged(archived)
      return archived
    },
    /** Deletes the key and its usage counts, with an audit record. */
    async delete(apiKeyId: string): Promise<void> {
      const key = await get(apiKeyId)
      if (key.protected) throw new ConflictError('api_key_id', 'the key is protected: it cannot be deleted', 'protected')
      if (!(await store.deleteApiKey(apiKeyId))) throw missing(apiKeyId)
      keyChanged(key)
      ctx.audit({
        action: 'api_key.delete',
        api_key_id: apiKeyId,
        type: key.type,
        user_id: key.user_id,
        org_id: key.org_id,
        name: key.name,
        display: key.display,
        at: ctx.now(),
      })
    },
    /**
     * The key of a secret and its owners, or ApiKeyRefusedError saying why not. A string not in
     * gatehouse's secret format is not_found without a store lookup, except for `imported`.
     * With a meter, validating a valid key is using it: the call draws on its owner's rate limits
     * (ApiKeyRateLimitedError when they have no room) and is counted as usage, as PropelAuth does.
     */
    async validate(secret: string, kind: ValidationKind): Promise<ValidatedKey> {
      const notFound = () => new ApiKeyRefusedError('not_found', 'no such API key')
      if (kind !== 'imported' && parseApiKeySecret(secret, prefixes) === undefined) throw notFound()
      const verdict = await verifyApiKey(store, hashApiKeySecret(secret), ctx.now())
      switch (verdict.status) {
        case 'not_found':
          throw notFound()
        case 'archived': {
          const why = verdict.key?.archive_reason
          throw new ApiKeyRefusedError('archived', `the API key was archived${why ? `: ${why}` : ''}`)
        }
        case 'expired':
          throw new ApiKeyRefusedError('expired', 'the API key has expired')
        case 'owner_deleted':
          throw new ApiKeyRefusedError('owner_disabled', "the API key's user was deleted")
        case 'owner_disabled':
          throw new ApiKeyRefusedError('owner_disabled', "the API key's user is disabled")
        case 'org_deleted':
          throw new ApiKeyRefusedError('owner_disabled', "the API key's org was deleted")
        case 'creator_left':
          throw new ApiKeyRefusedError('owner_disabled', "the API key's creator left the org")
      }
      const { key, org } = verdict
      if (kind === 'personal' && key.type !== 'personal') throw new ApiKeyRefusedError('not_personal', 'not a personal API key')
      if (kind === 'org' && key.type !== 'org') throw new ApiKeyRefusedError('not_org', 'not an org API key')
      if (ctx.meter !== undefined) {
        const metered = await ctx.meter(verdict)
        if (!metered.allowed) throw new ApiKeyRateLimitedError(metered.waitSeconds)
      }
      if (org === undefined || key.user_id === null) return { key, user: verdict.user, org, membership: undefined }
      // An org key's user_id is its creating member, shown with their membership (already read when the check needed it).
      const user = await store.getUser(key.user_id)
      const read = creatorOf(key) === key.user_id ? verdict.creatorMembership : undefined
      const membership = user === undefined ? undefined : (read ?? (await store.getMembership(org.org_id, user.user_id)))
      return { key, user, org, membership }
    },
  }
}

/** The absolute expiry the input asks for: null never, undefined when it says nothing. */
function expiryOf(body: ExpiryInput, now: number): number | null | undefined {
  if (body.set_to_never_expire) return null
  if (body.expiration !== undefined) {
    const days = EXPIRATION_DAYS[body.expiration]
    return days === null ? null : now + days * DAY
  }
  if (body.expires_in_seconds !== undefined) return now + body.expires_in_seconds
  if (body.expires_at_seconds !== undefined) {
    if (body.expires_at_seconds <= now) throw new InvalidInputError('expires_at_seconds', `must be in the future (now is ${now})`)
    return body.expires_at_seconds
  }
  return undefined
}

/**
 * The display fragment of an imported string: the format's own when it shows at most a quarter
 * of the string, otherwise the first quarter (at most 8 characters), so a short key is never shown whole.
 */
function importedDisplay(secret: string): string {
  const own = displayOf(secret)
  if (own.length - 1 <= secret.length / 4) return own
  return `${secret.slice(0, Math.min(8, Math.floor(secret.length / 4)))}…`
}
