import { ProblemError, problems } from '../http/index.ts'
import { CredentialError } from '../authn/index.ts'
import { deepFreeze, emptyOrgs, orgMembership } from '../identity/index.ts'
import type { Identity, RoleTable } from '../identity/index.ts'
import { createGuardedCache } from '../cache/index.ts'
import type { Metrics } from '../metrics/index.ts'
import { StoreUnavailableError } from '../store/index.ts'
import type { Store, StoredApiKey } from '../store/index.ts'
import { hashApiKeySecret, parseApiKeySecret } from './format.ts'
import type { ApiKeyPrefixes } from './format.ts'
import { creatorOf, verifyApiKey } from './verify.ts'
import type { ApiKeyVerdict } from './verify.ts'

/** Every refusal looks the same to the caller; the reason is for logs only. */
export class InvalidApiKeyError extends CredentialError {
  constructor(reason: string) {
    super('invalid_api_key', reason, problems.unauthorized('Invalid API key'))
    this.name = 'InvalidApiKeyError'
  }
}

export type ApiKeyAuthenticator = {
  /** The identity of a valid key; rejects with InvalidApiKeyError. A cached identity is shared and frozen. */
  authenticate(secret: string): Identity | Promise<Identity>
  /** The same check against the store, neither reading nor filling the cache (explain: what a key yields now). */
  authenticateAfresh(secret: string): Promise<Identity>
  /** Forget cached validations (after an admin change), so the next request re-checks the store. */
  evictKey(apiKeyId: string): void
  evictUser(userId: string): void
  evictOrg(orgId: string): void
  /** Store lookups made so far (tests assert that garbage never reaches the store). */
  lookups(): number
}

type ValidKey = Extract<ApiKeyVerdict, { status: 'valid' }>

/** `tags`: what evicts the entry (the guarded cache reads them from it). */
type Entry = { identity: Identity; expiresAtMs: number | null; tags: readonly string[] } | { refused: string; tags: readonly string[] }

// A refusal may turn into a key that works through any change (a key created with an imported
// secret, a user enabled again), so every eviction drops the refusals too.
const REFUSALS = 'refused'
const REFUSAL_TAGS: readonly string[] = Object.freeze([REFUSALS])

/**
 * Checks API keys for the proxy: the format and checksum first (no I/O for garbage), then a
 * bounded cache of validated keys and refusals by secret hash, then the store. A cached key is
 * still refused once past its expiry; admin changes evict by key, user or org at once.
 */
export function createApiKeyAuthenticator(options: {
  store: Store
  roles: RoleTable
  prefixes: ApiKeyPrefixes
  orgKeyRole?: string
  acceptImported: boolean
  cache: { maxEntries: number; ttlMs: number }
  /** Told of every key cache lookup and eviction. */
  metrics?: Metrics
}): ApiKeyAuthenticator {
  const { store, roles, prefixes, acceptImported } = options
  const cache = createGuardedCache<Entry>({ ...options.cache, tagsOf: (entry) => entry.tags, events: options.metrics?.cache('api_key') })
  let storeLookups = 0

  /** The store's verdict on a key and, for a valid one, its identity; refusals are thrown after `onRefused`. */
  async function check(hash: string, onRefused: (status: string) => void) {
    storeLookups++
    const verdict = await verifyApiKey(store, hash, Date.now() / 1000).catch(unavailable)
    if (verdict.status !== 'valid') {
      onRefused(verdict.status)
      throw new InvalidApiKeyError(verdict.status)
    }
    return { key: verdict.key, built: identityOf(verdict, roles, options.orgKeyRole) }
  }

  async function lookUp(hash: string): Promise<Identity> {
    // Before the first read: an admin change evicting while this lookup is in flight may have
    // come after what it read, and then neither its key nor its refusal may be cached.
    const generation = cache.generation()
    const now = Date.now()
    const { key, built } = await check(hash, (status) => cache.set(hash, { refused: status, tags: REFUSAL_TAGS }, { generation }))
    const expiresAtMs = key.expires_at === null ? null : key.expires_at * 1000
    const ttl = Math.min(options.cache.ttlMs, (expiresAtMs ?? Infinity) - now, graceLeft(key, hash, now))
    const tags = [`key:${key.api_key_id}`, ...built.userIds.map((id) => `user:${id}`), ...(key.org_id ? [`org:${key.org_id}`] : [])]
    cache.set(hash, { identity: built.identity, expiresAtMs, tags }, { generation, ttlMs: ttl })
    return built.identity
  }

  return {
    authenticate(secret) {
      const hash = hashApiKeySecret(secret)
      const entry = cache.get(hash)
      if (!entry) {
        // Only what is not cached needs the format check: garbage never reaches the store.
        if (!acceptImported && !parseApiKeySecret(secret, prefixes)) throw new InvalidApiKeyError('malformed')
        return lookUp(hash)
      }
      if ('refused' in entry) throw new InvalidApiKeyError(entry.refused)
      if (entry.expiresAtMs !== null && entry.expiresAtMs <= Date.now()) {
        cache.delete(hash)
        throw new InvalidApiKeyError('expired')
      }
      return entry.identity
    },
    async authenticateAfresh(secret) {
      if (!acceptImported && !parseApiKeySecret(secret, prefixes)) throw new InvalidApiKeyError('malformed')
      return (await check(hashApiKeySecret(secret), () => {})).built.identity
    },
    evictKey: (apiKeyId) => cache.evict([`key:${apiKeyId}`, REFUSALS]),
    evictUser: (userId) => cache.evict([`user:${userId}`, REFUSALS]),
    evictOrg: (orgId) => cache.evict([`org:${orgId}`, REFUSALS]),
    lookups: () => storeLookups,
  }
}

/** A key found by its previous secret stays cached only for what is left of the grace period. */
function graceLeft(key: StoredApiKey, hash: string, now: number): number {
  if (hash === key.secret_hash || key.previous_valid_until === null) return Infinity
  return key.previous_valid_until * 1000 - now
}

// Neither 401 nor 200 is honest while the store cannot answer.
function unavailable(err: unknown): never {
  if (err instanceof StoreUnavailableError) throw new ProblemError(problems.serviceUnavailable('API keys cannot be checked right now'))
  throw err
}

/** Scopes, when a key has them, narrow its owner's permissions and never widen them. */
function narrow(permissions: readonly string[], scopes: readonly string[]): readonly string[] {
  return scopes.length === 0 ? permissions : permissions.filter((p) => scopes.includes(p))
}

/** The identity a valid key acts as: what the proxy forwards and what its rate limits and usage are counted against. */
export function identityOf(verdict: ValidKey, roles: RoleTable, orgKeyRole: string | undefined) {
  const { key } = verdict
  const apiKey = {
    id: key.api_key_id,
    type: key.type,
    scopes: key.scopes,
    metadata: key.metadata,
    expiresAt: key.expires_at,
    ...(key.rate_limit_override === null ? {} : { rateLimit: key.rate_limit_override }),
  }
  const orgs = emptyOrgs()
  if (key.type === 'personal') {
    const user = verdict.user!
    for (const { org, membership } of verdict.memberships ?? []) {
      const permissions = narrow(roles.permissionsOf(membership.role), key.scopes)
      orgs[org.org_id] = orgMembership(roles, { orgId: org.org_id, orgName: org.name }, membership.role, permissions)
    }
    const identity: Identity = {
      principal: 'user',
      method: 'api_key',
      user: {
        userId: user.user_id,
        email: user.email,
        ...(user.username ? { username: user.username } : {}),
        ...(user.first_name ? { firstName: user.first_name } : {}),
        ...(user.last_name ? { lastName: user.last_name } : {}),
        ...(user.legacy_user_id ? { legacyUserId: user.legacy_user_id } : {}),
        properties: user.properties,
      },
      orgs,
      apiKey,
    }
    return { identity: deepFreeze(identity), userIds: [user.user_id] }
  }
  if (key.type === 'org') {
    const org = verdict.org!
    const role = orgKeyRole ?? ''
    // An org key's permissions are its scopes, or those of the role configured for org keys.
    const permissions = key.scopes.length > 0 ? key.scopes : roles.permissionsOf(role)
    orgs[org.org_id] = orgMembership(roles, { orgId: org.org_id, orgName: org.name }, role, permissions)
    const identity: Identity = { principal: 'org', method: 'api_key', orgs, org: { orgId: org.org_id, orgName: org.name }, apiKey }
    const creator = creatorOf(key)
    return { identity: deepFreeze(identity), userIds: creator ? [creator] : [] }
  }
  return { identity: deepFreeze({ principal: 'service', method: 'api_key', orgs, apiKey } satisfies Identity), userIds: [] }
}
