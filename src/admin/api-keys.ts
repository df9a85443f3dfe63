import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono, z } from '@hono/zod-openapi'
import { displayOf, generateApiKeySecret, hashApiKeySecret, parseApiKeySecret } from '../apikeys/index.ts'
import { ProblemError, problem } from '../http/index.ts'
import type { ApiKey, ApiKeyPatch, ApiKeyType, Membership, Org, StoredApiKey, User } from '../store/index.ts'
import type { ApiContext } from './context.ts'
import { apiKeyRefused, badRequest, conflict, notFound, storeWrite } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, optionalJsonBody, problemsOf } from './openapi.ts'
import type { apiKeyOrg } from './schemas.ts'
import {
  EXPIRATION_DAYS,
  apiKey,
  apiKeyIdParam,
  apiKeyImported,
  apiKeysPage,
  apiKeyUsageQuery,
  apiKeyUsageResponse,
  apiKeyValidation,
  apiKeyWithSecret,
  archiveApiKeyBody,
  createApiKeyBody,
  importApiKeyBody,
  listApiKeysQuery,
  rotateApiKeyBody,
  updateApiKeyBody,
  validateApiKeyBody,
} from './schemas.ts'
import { pageFields, toOrgMemberInfo, toUserMetadata } from './views.ts'

const tags = ['api keys']
const DAY = 86_400

export type ApiKeyView = z.infer<typeof apiKey>
export type ApiKeyValidationView = z.infer<typeof apiKeyValidation>

/** A key as every response shows it: never the hash, never the secret. */
export function toApiKeyView(k: ApiKey): ApiKeyView {
  return {
    api_key_id: k.api_key_id,
    type: k.type,
    user_id: k.user_id,
    org_id: k.org_id,
    name: k.name,
    description: k.description,
    metadata: k.metadata,
    scopes: k.scopes,
    rate_limit_override: k.rate_limit_override,
    created_by: k.created_by,
    created_at: k.created_at,
    expires_at_seconds: k.expires_at,
    last_used_at: k.last_used_at,
    archived_at: k.archived_at,
    archive_reason: k.archive_reason,
    protected: k.protected,
    revoke_on_creator_leave: k.revoke_on_creator_leave,
    display: k.display,
    imported: k.imported,
  }
}

function toApiKeyOrg(o: Org): z.infer<typeof apiKeyOrg> {
  return {
    org_id: o.org_id,
    org_name: o.name,
    url_safe_org_name: o.url_safe_org_name,
    max_users: o.max_users,
    is_saml_configured: false,
    can_setup_saml: false,
    metadata: o.metadata,
  }
}

type ExpiryInput = {
  expires_at_seconds?: number
  expiration?: keyof typeof EXPIRATION_DAYS
  expires_in_seconds?: number
  set_to_never_expire?: true
}

/** The absolute expiry a body asks for: null never, undefined when it says nothing (the schema allows one way at most). */
function expiryOf(body: ExpiryInput, now: number): number | null | undefined {
  if (body.set_to_never_expire) return null
  if (body.expiration !== undefined) {
    const days = EXPIRATION_DAYS[body.expiration]
    return days === null ? null : now + days * DAY
  }
  if (body.expires_in_seconds !== undefined) return now + body.expires_in_seconds
  if (body.expires_at_seconds !== undefined) {
    if (body.expires_at_seconds <= now)
      throw badRequest([{ field: 'expires_at_seconds', message: `must be in the future (now is ${now})` }])
    return body.expires_at_seconds
  }
  return undefined
}

type OwnerInput = { user_id?: string; org_id?: string; created_by?: string; revoke_on_creator_leave?: boolean }
type Owner = {
  type: ApiKeyType
  user_id: string | null
  org_id: string | null
  created_by: string | null
  revoke_on_creator_leave: boolean
}

/** The 409 of a key whose state forbids the write; `error_code` says which state. */
function keyConflict(code: 'protected' | 'archived', message: string): ProblemError {
  return new ProblemError(
    problem(409, 'conflict', 'Conflict', `api_key_id: ${message}`, { error_code: code, errors: [{ field: 'api_key_id', message }] }),
  )
}

/**
 * API keys under /v1/api_keys: PropelAuth's end-user API key functions, with Clerk's and
 * Mixpeek's extras (name, description, scopes, rate_limit_override, rotate, archive with a
 * reason, protected keys).
 */
export function registerApiKeyRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const { store } = ctx
  const { prefixes } = ctx.apiKeys

  const keyChanged = (k: Pick<ApiKey, 'api_key_id' | 'user_id' | 'org_id'>) =>
    ctx.changed({
      kind: 'api_key',
      apiKeyId: k.api_key_id,
      ...(k.user_id === null ? {} : { userId: k.user_id }),
      ...(k.org_id === null ? {} : { orgId: k.org_id }),
    })
  const foundKey = async (apiKeyId: string): Promise<StoredApiKey> => {
    const k = await store.getApiKey(apiKeyId)
    if (k === undefined) throw notFound(`No API key with id ${apiKeyId}`)
    return k
  }

  /** Who owns a new key, from user_id / org_id / created_by, checked against the directory. */
  const resolveOwner = async (body: OwnerInput): Promise<Owner> => {
    const existingUser = async (userId: string, field: string, missing: 'not-found' | 'bad-request'): Promise<User> => {
      const user = await store.getUser(userId)
      if (user === undefined) {
        if (missing === 'not-found') throw notFound(`No user with id ${userId}`)
        throw badRequest([{ field, message: `no user with id ${userId}` }])
      }
      if (!user.enabled) throw badRequest([{ field, message: `user ${userId} is disabled` }])
      return user
    }
    if (body.org_id !== undefined) {
      const orgId = body.org_id
      if ((await store.getOrg(orgId)) === undefined) throw notFound(`No org with id ${orgId}`)
      if (body.user_id !== undefined && body.created_by !== undefined && body.user_id !== body.created_by) {
        throw badRequest([
          { field: 'created_by', message: 'for an org key, user_id is the creating user: send one of them, or the same id' },
        ])
      }
      const field = body.user_id !== undefined ? 'user_id' : 'created_by'
      const creator = body.user_id ?? body.created_by
      if (creator !== undefined) {
        await existingUser(creator, field, field === 'user_id' ? 'not-found' : 'bad-request')
        if ((await store.getMembership(orgId, creator)) === undefined) {
          throw badRequest([{ field, message: `user ${creator} is not a member of org ${orgId}` }])
        }
      }
      const revoke = body.revoke_on_creator_leave ?? (creator !== undefined && ctx.apiKeys.revokeOnCreatorLeave)
      if (revoke && creator === undefined) {
        throw badRequest([{ field: 'revoke_on_creator_leave', message: 'needs the creating user (user_id or created_by)' }])
      }
      return { type: 'org', user_id: creator ?? null, org_id: orgId, created_by: creator ?? null, revoke_on_creator_leave: revoke }
    }
    if (body.revoke_on_creator_leave === true) {
      throw badRequest([{ field: 'revoke_on_creator_leave', message: 'applies to org keys only (send org_id)' }])
    }
    if (body.created_by !== undefined) await existingUser(body.created_by, 'created_by', 'bad-request')
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

  type KeyFields = z.infer<typeof createApiKeyBody>
  const newKeyFields = (body: KeyFields, owner: Owner) => {
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

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/api_keys',
      tags,
      summary: 'Create an API key: personal (user_id), org (org_id, optionally user_id as creator) or generic (neither)',
      description:
        'The secret (api_key_token) is in this response only; gatehouse keeps its SHA-256 and a display fragment. Default expiry: never.',
      security: ADMIN_KEY,
      request: jsonBody(createApiKeyBody),
      responses: { 201: json('Created; the secret is shown only now', apiKeyWithSecret), ...problemsOf(404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const owner = await resolveOwner(body)
      const fields = newKeyFields(body, owner)
      const secret = generateApiKeySecret(owner.type, prefixes)
      const created = await storeWrite(
        store.createApiKey({ ...fields, secret_hash: secret.secret_hash, display: secret.display, imported: false }),
      )
      keyChanged(created)
      return c.json({ ...toApiKeyView(created), api_key_token: secret.secret }, 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/api_keys/import',
      tags,
      summary: 'Import an existing key string (any format) so it keeps working',
      description:
        'Only its SHA-256 and a short display fragment are stored. Validate it with /v1/api_keys/validate_imported. 409 when the string is already a key.',
      security: ADMIN_KEY,
      request: jsonBody(importApiKeyBody),
      responses: { 201: json('Imported', apiKeyImported), ...problemsOf(404, 409) },
    }),
    async (c) => {
      const { imported_api_key, ...body } = c.req.valid('json')
      const owner = await resolveOwner(body)
      const fields = newKeyFields(body, owner)
      const secretHash = hashApiKeySecret(imported_api_key)
      const taken = () => conflict('imported_api_key', 'this key string is already an API key')
      if ((await store.findApiKeyBySecretHash(secretHash, ctx.now())) !== undefined) throw taken()
      const created = await storeWrite(
        store.createApiKey({ ...fields, secret_hash: secretHash, display: importedDisplay(imported_api_key), imported: true }),
        { secret_hash: 'imported_api_key' },
      )
      keyChanged(created)
      return c.json({ api_key_id: created.api_key_id }, 201)
    },
  )

  registerValidation(app, ctx)

  const listRoute = (archived: boolean) =>
    app.openapi(
      createRoute({
        method: 'get',
        path: archived ? '/v1/api_keys/archived' : '/v1/api_keys',
        tags,
        summary: archived ? 'Archived (revoked) API keys, newest first' : 'Current (not archived) API keys, newest first',
        description:
          'Filters combine. user_email finds the user first; an unknown email gives an empty page. Expired keys are current until archived.',
        security: ADMIN_KEY,
        request: { query: listApiKeysQuery },
        responses: { 200: json('A page of keys', apiKeysPage), ...problemsOf() },
      }),
      async (c) => {
        const { user_email, type, api_key_type, ...query } = c.req.valid('query')
        const paging = { page_size: query.page_size, page_number: query.page_number }
        const empty = () => c.json({ total_api_keys: 0, ...pageFields(paging, 0), api_keys: [] }, 200)
        if (type !== undefined && api_key_type !== undefined && type !== api_key_type) {
          throw badRequest([{ field: 'api_key_type', message: 'differs from type; send one of them' }])
        }
        let userId = query.user_id
        if (user_email !== undefined) {
          const user = await store.getUserByEmail(user_email)
          if (user === undefined || (userId !== undefined && userId !== user.user_id)) return empty()
          userId = user.user_id
        }
        const page = await store.listApiKeys({
          ...paging,
          archived,
          ...(query.org_id === undefined ? {} : { org_id: query.org_id }),
          ...(userId === undefined ? {} : { user_id: userId }),
          ...((type ?? api_key_type) === undefined ? {} : { type: type ?? api_key_type }),
          ...(query.query === undefined ? {} : { query: query.query }),
        })
        return c.json({ total_api_keys: page.total, ...pageFields(paging, page.total), api_keys: page.items.map(toApiKeyView) }, 200)
      },
    )
  listRoute(false)
  listRoute(true)

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/api_keys/usage',
      tags,
      summary: 'Requests counted on a UTC day, over the keys matching the filters',
      description:
        'Counts come from the proxy, flushed in batches, so the last seconds of traffic may not be in yet. Deleted keys take their counts with them.',
      security: ADMIN_KEY,
      request: { query: apiKeyUsageQuery },
      responses: { 200: json('The count', apiKeyUsageResponse), ...problemsOf() },
    }),
    async (c) => {
      const q = c.req.valid('query')
      const count = await store.apiKeyUsage({
        date: q.date,
        ...(q.api_key_id === undefined ? {} : { api_key_id: q.api_key_id }),
        ...(q.user_id === undefined ? {} : { user_id: q.user_id }),
        ...(q.org_id === undefined ? {} : { org_id: q.org_id }),
      })
      return c.json({ count }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/api_keys/{api_key_id}',
      tags,
      summary: 'Fetch an API key (archived ones too)',
      security: ADMIN_KEY,
      request: { params: apiKeyIdParam },
      responses: { 200: json('The key', apiKey), ...problemsOf(404) },
    }),
    async (c) => c.json(toApiKeyView(await foundKey(c.req.valid('param').api_key_id)), 200),
  )

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/api_keys/{api_key_id}',
      tags,
      summary: 'Update an API key: null clears name, description or rate_limit_override; metadata and scopes are replaced',
      description:
        'Expiry: one of expires_at_seconds, expiration (a preset; never), expires_in_seconds, set_to_never_expire. Protected keys can be updated.',
      security: ADMIN_KEY,
      request: { params: apiKeyIdParam, ...jsonBody(updateApiKeyBody) },
      responses: { 200: json('The updated key', apiKey), ...problemsOf(404) },
    }),
    async (c) => {
      const { api_key_id } = c.req.valid('param')
      const body = c.req.valid('json')
      const expires = expiryOf(body, ctx.now())
      const patch: ApiKeyPatch = {}
      if (body.name !== undefined) patch.name = body.name
      if (body.description !== undefined) patch.description = body.description
      if (body.metadata !== undefined) patch.metadata = body.metadata
      if (body.scopes !== undefined) patch.scopes = body.scopes
      if (body.rate_limit_override !== undefined) patch.rate_limit_override = body.rate_limit_override
      if (expires !== undefined) patch.expires_at = expires
      const updated = await storeWrite(store.updateApiKey(api_key_id, patch))
      if (updated === undefined) throw notFound(`No API key with id ${api_key_id}`)
      keyChanged(updated)
      return c.json(toApiKeyView(updated), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/api_keys/{api_key_id}/rotate',
      tags,
      summary: 'Give an API key a new secret; the old one stops at once, or after grace_seconds',
      description: '409 for a protected or archived key. The new secret is in this response only.',
      security: ADMIN_KEY,
      request: { params: apiKeyIdParam, ...optionalJsonBody(rotateApiKeyBody) },
      responses: { 200: json('The key with its new secret', apiKeyWithSecret), ...problemsOf(404, 409) },
    }),
    async (c) => {
      const { api_key_id } = c.req.valid('param')
      const grace = c.req.valid('json').grace_seconds ?? 0
      const key = await foundKey(api_key_id)
      if (key.protected) throw keyConflict('protected', 'the key is protected: it cannot be rotated')
      if (key.archived_at !== null) throw keyConflict('archived', 'the key is archived: create a new one')
      const secret = generateApiKeySecret(key.type, prefixes)
      const until = grace > 0 ? ctx.now() + grace : null
      const rotated = await storeWrite(store.rotateApiKey(api_key_id, { secret_hash: secret.secret_hash, display: secret.display }, until))
      if (rotated === undefined) throw notFound(`No API key with id ${api_key_id}`)
      keyChanged(rotated)
      return c.json({ ...toApiKeyView(rotated), api_key_token: secret.secret }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/api_keys/{api_key_id}/archive',
      tags,
      summary: 'Archive (revoke) an API key at once, with an optional reason',
      description:
        'The key stops working, leaves the current list and stays fetchable and in /v1/api_keys/archived. Archiving an archived key changes nothing. 409 for a protected key.',
      security: ADMIN_KEY,
      request: { params: apiKeyIdParam, ...optionalJsonBody(archiveApiKeyBody) },
      responses: { 200: json('The archived key', apiKey), ...problemsOf(404, 409) },
    }),
    async (c) => {
      const { api_key_id } = c.req.valid('param')
      const reason = c.req.valid('json').reason ?? null
      const key = await foundKey(api_key_id)
      if (key.protected) throw keyConflict('protected', 'the key is protected: it cannot be archived')
      if (key.archived_at !== null) return c.json(toApiKeyView(key), 200)
      const archived = await storeWrite(store.archiveApiKey(api_key_id, reason))
      if (archived === undefined) throw notFound(`No API key with id ${api_key_id}`)
      keyChanged(archived)
      return c.json(toApiKeyView(archived), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/api_keys/{api_key_id}',
      tags,
      summary: 'Delete an API key and its usage counts',
      description: 'Writes an audit record (action api_key.delete). 409 for a protected key.',
      security: ADMIN_KEY,
      request: { params: apiKeyIdParam },
      responses: { 204: { description: 'Deleted' }, ...problemsOf(404, 409) },
    }),
    async (c) => {
      const { api_key_id } = c.req.valid('param')
      const key = await foundKey(api_key_id)
      if (key.protected) throw keyConflict('protected', 'the key is protected: it cannot be deleted')
      if (!(await store.deleteApiKey(api_key_id))) throw notFound(`No API key with id ${api_key_id}`)
      keyChanged(key)
      ctx.audit({
        action: 'api_key.delete',
        api_key_id,
        type: key.type,
        user_id: key.user_id,
        org_id: key.org_id,
        name: key.name,
        display: key.display,
        at: ctx.now(),
      })
      return c.body(null, 204)
    },
  )
}

type ValidationKind = 'any' | 'personal' | 'org' | 'imported'

const VALIDATE_ROUTES: [path: string, kind: ValidationKind, summary: string][] = [
  ['validate', 'any', 'Validate an API key of any type'],
  ['validate_personal', 'personal', 'Validate a personal API key (400 not_personal otherwise)'],
  ['validate_org', 'org', 'Validate an org API key (400 not_org otherwise)'],
  ['validate_imported', 'imported', 'Validate a key string of any format (imported keys); no format check'],
]

/**
 * The validate endpoints. Unlike the proxy (one 401 for every failure) they say why:
 * 404 not_found; 400 archived, expired, owner_disabled, not_personal, not_org. A string that
 * is not in gatehouse's secret format (prefix, checksum) is not_found without a store lookup,
 * except at validate_imported. Validation here records no usage: only the proxy counts requests.
 */
function registerValidation(app: OpenAPIHono, ctx: ApiContext): void {
  const { store, roles } = ctx
  const { prefixes } = ctx.apiKeys

  const validate = async (token: string, kind: ValidationKind): Promise<ApiKeyValidationView> => {
    const secret = token.replace(/^bearer\s+/i, '')
    if (kind !== 'imported' && parseApiKeySecret(secret, prefixes) === undefined) throw apiKeyRefused('not_found', 'no such API key')
    const now = ctx.now()
    const key = await store.findApiKeyBySecretHash(hashApiKeySecret(secret), now)
    if (key === undefined) throw apiKeyRefused('not_found', 'no such API key')
    if (key.archived_at !== null)
      throw apiKeyRefused('archived', `the API key was archived${key.archive_reason ? `: ${key.archive_reason}` : ''}`)
    if (key.expires_at !== null && key.expires_at <= now) throw apiKeyRefused('expired', 'the API key has expired')

    let user: User | undefined
    let org: Org | undefined
    let membership: Membership | undefined
    if (key.type === 'personal') {
      user = key.user_id === null ? undefined : await store.getUser(key.user_id)
      if (user === undefined) throw apiKeyRefused('owner_disabled', "the API key's user was deleted")
      if (!user.enabled) throw apiKeyRefused('owner_disabled', "the API key's user is disabled")
    } else if (key.type === 'org') {
      org = key.org_id === null ? undefined : await store.getOrg(key.org_id)
      if (org === undefined) throw apiKeyRefused('owner_disabled', "the API key's org was deleted")
      if (key.user_id !== null) {
        user = await store.getUser(key.user_id)
        membership = user === undefined ? undefined : await store.getMembership(org.org_id, user.user_id)
      }
      if (key.revoke_on_creator_leave && key.created_by !== null) {
        const creatorMembership = key.created_by === key.user_id ? membership : await store.getMembership(org.org_id, key.created_by)
        if (creatorMembership === undefined) throw apiKeyRefused('owner_disabled', "the API key's creator left the org")
      }
    }
    if (kind === 'personal' && key.type !== 'personal') throw apiKeyRefused('not_personal', 'not a personal API key')
    if (kind === 'org' && key.type !== 'org') throw apiKeyRefused('not_org', 'not an org API key')

    return {
      api_key_id: key.api_key_id,
      type: key.type,
      metadata: key.metadata,
      scopes: key.scopes,
      user: user === undefined ? null : await toUserMetadata(store, roles, user, true),
      org: org === undefined ? null : toApiKeyOrg(org),
      user_in_org: org !== undefined && membership !== undefined ? toOrgMemberInfo(roles, org, membership) : null,
      user_id: key.user_id,
      org_id: key.org_id,
    }
  }

  for (const [path, kind, summary] of VALIDATE_ROUTES) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/api_keys/${path}`,
        tags,
        summary,
        description:
          'Body {api_key_token}, with or without a leading "Bearer ". Failures carry error_code: 404 not_found; 400 archived, expired, owner_disabled (user disabled or deleted, org deleted, creator left the org), not_personal, not_org.',
        security: ADMIN_KEY,
        request: jsonBody(validateApiKeyBody),
        responses: { 200: json('The key and its owners', apiKeyValidation), ...problemsOf(404) },
      }),
      async (c) => c.json(await validate(c.req.valid('json').api_key_token, kind), 200),
    )
  }
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
