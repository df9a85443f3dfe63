import { Hono } from 'hono'
import type { MiddlewareHandler } from 'hono'
import type { JSONWebKeySet } from 'jose'
import type { DirectoryOperations } from '../directory/index.ts'
import { registerApiKeyRoutes } from './api-keys.ts'
import { notFound, respond } from './errors.ts'
import { registerInviteRoutes } from './invites.ts'
import { registerOrgRoutes } from './orgs.ts'
import { registerTokenRoutes } from './tokens.ts'
import { registerUnsupportedRoutes } from './unsupported.ts'
import { registerUserRoutes } from './users.ts'

export type PropelAuthApiDeps = {
  directory: DirectoryOperations
  /** Admits the admin key, which PropelAuth's SDKs send as their apiKey (`Authorization: Bearer`). */
  requireKey: MiddlewareHandler
  /** The local issuer's public keys; its RS256 key is what the SDKs verify tokens with. */
  accessTokenJwks?: () => JSONWebKeySet
  issuesTokens: boolean
}

/**
 * PropelAuth's backend API as its SDKs call it (`/api/backend/v1/...` and
 * `/api/v1/token_verification_metadata`): a translation of PropelAuth's field names, status codes
 * and error bodies over the same directory operations as /v1. The SDKs from node-apis 2.1.30 on
 * send their calls to PropelAuth's own host with `X-Propelauth-url` naming the auth URL; gatehouse
 * serves one auth URL, so that header is accepted and not needed.
 */
export function createPropelAuthApi(deps: PropelAuthApiDeps): Hono {
  const app = new Hono()
  app.use('/api/*', deps.requireKey)
  const ctx = { directory: deps.directory, issuesTokens: deps.issuesTokens }
  registerTokenRoutes(app, ctx, deps.accessTokenJwks)
  registerUserRoutes(app, ctx)
  registerOrgRoutes(app, ctx)
  registerApiKeyRoutes(app, ctx)
  registerInviteRoutes(app, ctx)
  registerUnsupportedRoutes(app)
  app.all('/api/*', () => {
    throw notFound('No such PropelAuth endpoint in gatehouse (see docs/PROPELAUTH.md for the functions covered)')
  })
  app.onError(respond)
  return app
}
