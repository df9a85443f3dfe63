import type { Hono } from 'hono'
import { exportSPKI, importJWK } from 'jose'
import type { CryptoKey, JSONWebKeySet } from 'jose'
import { AccessTokenError } from '../issuer/index.ts'
import { NotFoundError } from '../directory/index.ts'
import type { PropelAuthContext } from './context.ts'
import { PropelAuthError, fieldError } from './errors.ts'
import { jsonBody } from './parse.ts'
import { accessTokenBody } from './schemas.ts'

const NOT_ENABLED = 'Access token creation is not enabled: set tokens.local_issuer'

/**
 * createAccessToken, and the key PropelAuth's SDKs verify those tokens with, offline:
 * `/api/v1/token_verification_metadata` answers `{verifier_key_pem}`, the local issuer's RS256
 * public key as SPKI PEM (the SDKs import nothing else).
 */
export function registerTokenRoutes(app: Hono, ctx: PropelAuthContext, accessTokenJwks: (() => JSONWebKeySet) | undefined): void {
  let pem: Promise<string> | undefined
  app.get('/api/v1/token_verification_metadata', async (c) => {
    const jwk = accessTokenJwks?.().keys.find((k) => k.alg === 'RS256')
    if (jwk === undefined) {
      throw new PropelAuthError(404, {
        error_code: 'not_found',
        user_facing_error: "PropelAuth's SDKs verify RS256 tokens only: set tokens.local_issuer.algorithm: RS256",
      })
    }
    pem ??= importJWK(jwk, 'RS256').then((key) => exportSPKI(key as CryptoKey))
    return c.json({ verifier_key_pem: await pem })
  })

  app.post('/api/backend/v1/access_token', async (c) => {
    const { user_id, duration_in_minutes, active_org_id } = await jsonBody(c, accessTokenBody)
    if (!ctx.issuesTokens) throw new PropelAuthError(404, { error_code: 'not_found', user_facing_error: NOT_ENABLED })
    try {
      const access_token = await ctx.directory.tokens.mint({
        userId: user_id,
        durationMinutes: duration_in_minutes,
        activeOrgId: active_org_id,
      })
      return c.json({ access_token })
    } catch (err) {
      // PropelAuth answers an absent or disabled user with 403 (the SDK's UserNotFoundException).
      if (err instanceof NotFoundError || (err instanceof AccessTokenError && err.status === 404)) {
        throw new PropelAuthError(403, { error_code: 'user_not_found', user_facing_error: err.message })
      }
      if (err instanceof AccessTokenError) throw fieldError(err.field ?? 'user_id', err.message)
      throw err
    }
  })
}
