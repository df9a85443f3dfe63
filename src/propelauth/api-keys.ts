import type { Context, Hono } from 'hono'
import { NotFoundError } from '../directory/index.ts'
import type { NewKeyInput } from '../directory/index.ts'
import type { PropelAuthContext } from './context.ts'
import { fieldError, write } from './errors.ts'
import { jsonBody, query } from './parse.ts'
import { apiKeysQuery, createApiKeyBody, importApiKeyBody, updateApiKeyBody, usageQuery, validateApiKeyBody } from './schemas.ts'
import { apiKeyView, pageOf, validationView } from './views.ts'

const KEYS = '/api/backend/v1/end_user_api_keys'

type KeyFields = {
  org_id?: string
  user_id?: string
  expires_at_seconds?: number
  metadata?: Record<string, unknown>
  display_name?: string
}

/** PropelAuth's display_name is gatehouse's name; the rest are the same fields. */
function newKey({ display_name, ...rest }: KeyFields): NewKeyInput {
  return { ...rest, ...(display_name === undefined ? {} : { name: display_name }) }
}

/** PropelAuth's end-user API key functions over the directory's key operations. */
export function registerApiKeyRoutes(app: Hono, { directory }: PropelAuthContext): void {
  const { store, roles, apiKeys } = directory
  const ok = () => Response.json({})

  const list = (archived: boolean) => async (c: Context) => {
    const { api_key_type, ...q } = query(c, apiKeysQuery)
    const page = await apiKeys.list({ ...q, archived, ...(api_key_type === undefined ? {} : { type: api_key_type }) })
    return c.json({ api_keys: page.items.map(apiKeyView), total_api_keys: page.total, ...pageOf(q, page.total) })
  }
  app.get(`${KEYS}`, list(false))
  app.get(`${KEYS}/archived`, list(true))

  app.get(`${KEYS}/usage`, async (c) => {
    const q = query(c, usageQuery)
    return c.json({ count: await store.apiKeyUsage(q) })
  })

  app.post(`${KEYS}`, async (c) => {
    const body = await jsonBody(c, createApiKeyBody)
    const { key, secret } = await write(apiKeys.create(newKey(body))).catch((err: unknown) => {
      // An owner that does not exist is a field error to PropelAuth (its SDK's ApiKeyCreateException), not a 404.
      if (err instanceof NotFoundError) throw fieldError(body.user_id === undefined ? 'org_id' : 'user_id', err.message)
      throw err
    })
    return c.json({ api_key_id: key.api_key_id, api_key_token: secret })
  })
  app.post(`${KEYS}/import`, async (c) => {
    const { imported_api_key, ...fields } = await jsonBody(c, importApiKeyBody)
    const key = await write(apiKeys.import(imported_api_key, newKey(fields)), { secret_hash: 'imported_api_key' })
    return c.json({ api_key_id: key.api_key_id })
  })

  for (const [path, kind] of [
    ['validate', 'any'],
    ['validate_imported', 'imported'],
  ] as const) {
    app.post(`${KEYS}/${path}`, async (c) => {
      const secret = (await jsonBody(c, validateApiKeyBody)).api_key_token.replace(/^bearer\s+/i, '')
      return c.json(await validationView(store, roles, await apiKeys.validate(secret, kind)))
    })
  }

  app.get(`${KEYS}/:api_key_id`, async (c) => c.json(apiKeyView(await apiKeys.get(c.req.param('api_key_id')))))
  app.patch(`${KEYS}/:api_key_id`, async (c) => {
    const { display_name, set_to_never_expire, ...rest } = await jsonBody(c, updateApiKeyBody)
    await write(
      apiKeys.update(c.req.param('api_key_id'), {
        ...rest,
        ...(display_name === undefined ? {} : { name: display_name }),
        ...(set_to_never_expire ? { set_to_never_expire: true } : {}),
      }),
    )
    return ok()
  })
  // PropelAuth's delete archives: the key stops and stays listed among the archived ones.
  app.delete(`${KEYS}/:api_key_id`, async (c) => {
    await write(apiKeys.archive(c.req.param('api_key_id'), null))
    return ok()
  })
}
