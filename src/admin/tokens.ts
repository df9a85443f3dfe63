import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { ProblemError } from '../http/index.ts'
import type { ApiContext } from './context.ts'
import { badRequest, notFound } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, problemsOf } from './openapi.ts'
import { accessTokenResponse, createAccessTokenBody } from './schemas.ts'

/** Signs access tokens for the management API (gatehouse's local issuer implements it). */
export type AccessTokenIssuer = {
  /**
   * Resolves the signed token. Rejects with AccessTokenError when the request cannot be served
   * (user gone or disabled, not a member of activeOrgId); any other rejection is a 500 whose
   * message is not shown to the client.
   */
  mint(input: { userId: string; durationMinutes: number; activeOrgId?: string }): Promise<string>
}

/**
 * Why mint refused: 404 the user does not exist or is disabled (PropelAuth, too, answers a
 * locked user like an absent one); 400 the request is unusable, e.g. activeOrgId is not one of
 * the user's orgs, with `field` naming the request field to blame (`active_org_id`; `user_id`
 * when absent). The route checks these first; mint's own checks cover writes that land between
 * the check and the signing.
 */
export class AccessTokenError extends Error {
  readonly status: 400 | 404
  readonly field: string | undefined

  constructor(status: 400 | 404, message: string, field?: string) {
    super(message)
    this.name = 'AccessTokenError'
    this.status = status
    this.field = field
  }
}

export function registerTokenRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const { store, tokens } = ctx
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/access_tokens',
      tags: ['access tokens'],
      summary: "Mint an access token for a user, in PropelAuth's claim format",
      description:
        'With active_org_id the token carries only that org (org_member_info). 404 when the user does not exist or is disabled, or gatehouse has no token issuer (tokens.local_issuer).',
      security: ADMIN_KEY,
      request: jsonBody(createAccessTokenBody),
      responses: { 200: json('The token', accessTokenResponse), ...problemsOf(404) },
    }),
    async (c) => {
      const { user_id, duration_in_minutes, active_org_id } = c.req.valid('json')
      if (tokens === undefined) throw notFound('Access-token issuing is off: set tokens.local_issuer: true')
      const user = await store.getUser(user_id)
      if (user === undefined) throw notFound(`No user with id ${user_id}`)
      if (!user.enabled) throw notFound(`User ${user_id} is disabled; enable it first`)
      if (active_org_id !== undefined && (await store.getMembership(active_org_id, user_id)) === undefined) {
        throw badRequest([{ field: 'active_org_id', message: `user ${user_id} is not a member of org ${active_org_id}` }])
      }
      try {
        const access_token = await tokens.mint({ userId: user_id, durationMinutes: duration_in_minutes, activeOrgId: active_org_id })
        return c.json({ access_token }, 200)
      } catch (err) {
        if (err instanceof AccessTokenError) throw refusal(err)
        throw err
      }
    },
  )
}

function refusal(err: AccessTokenError): ProblemError {
  // Without a field the refusal is about the user itself, the one input every request has.
  return err.status === 404 ? notFound(err.message) : badRequest([{ field: err.field ?? 'user_id', message: err.message }])
}
