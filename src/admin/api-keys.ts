import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono, z } from '@hono/zod-openapi'
import { toOrgMemberInfo } from '../issuer/index.ts'
import type { ValidatedKey, ValidationKind } from '../directory/index.ts'
import type { ApiKey, Org } from '../store/index.ts'
import type { ApiContext } from './context.ts'
import { badRequest, storeWrite } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, optionalJsonBody, problemsOf } from './openapi.ts'
import type { apiKeyOrg } from './schemas.ts'
import {
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
import { pageFields, toUserMetadata } from './views.ts'

const tags = ['api keys']

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

/**
 * API keys under /v1/api_keys: PropelAuth's end-user API key functions, with Clerk's and
 * Mixpeek's extras (name, description, scopes, rate_limit_override, rotate, archive with a
 * reason, protected keys).
 */
export function registerApiKeyRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const { store, apiKeys } = ctx.directory

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
      const { key, secret } = await storeWrite(apiKeys.create(c.req.valid('json')))
      return c.json({ ...toApiKeyView(key), api_key_token: secret }, 201)
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
      const created = await storeWrite(apiKeys.import(imported_api_key, body), { secret_hash: 'imported_api_key' })
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
        if (type !== undefined && api_key_type !== undefined && type !== api_key_type) {
          throw badRequest([{ field: 'api_key_type', message: 'differs from type; send one of them' }])
        }
        const page = await apiKeys.list({
          ...paging,
          archived,
          ...(query.org_id === undefined ? {} : { org_id: query.org_id }),
          ...(query.user_id === undefined ? {} : { user_id: query.user_id }),
          ...(user_email === undefined ? {} : { user_email }),
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
    async (c) => c.json(toApiKeyView(await apiKeys.get(c.req.valid('param').api_key_id)), 200),
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
      const updated = await storeWrite(apiKeys.update(c.req.valid('param').api_key_id, c.req.valid('json')))
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
      const rotated = await storeWrite(apiKeys.rotate(api_key_id, grace))
      return c.json({ ...toApiKeyView(rotated.key), api_key_token: rotated.secret }, 200)
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
      const archived = await storeWrite(apiKeys.archive(api_key_id, reason))
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
      await apiKeys.delete(api_key_id)
      return c.body(null, 204)
    },
  )
}

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
  const { store, roles, apiKeys } = ctx.directory

  const view = async ({ key, user, org, membership }: ValidatedKey): Promise<ApiKeyValidationView> => ({
    api_key_id: key.api_key_id,
    type: key.type,
    metadata: key.metadata,
    scopes: key.scopes,
    user: user === undefined ? null : await toUserMetadata(store, roles, user, true),
    org: org === undefined ? null : toApiKeyOrg(org),
    user_in_org: org !== undefined && membership !== undefined ? toOrgMemberInfo(roles, org, membership) : null,
    user_id: key.user_id,
    org_id: key.org_id,
  })

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
      async (c) => {
        const secret = c.req.valid('json').api_key_token.replace(/^bearer\s+/i, '')
        return c.json(await view(await apiKeys.validate(secret, kind)), 200)
      },
    )
  }
}
