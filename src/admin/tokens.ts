import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { AccessTokenError } from '../issuer/index.ts'
import type { ProblemError } from '../http/index.ts'
import type { ApiContext } from './context.ts'
import { badRequest, notFound } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, problemsOf } from './openapi.ts'
import { accessTokenResponse, createAccessTokenBody } from './schemas.ts'

export function registerTokenRoutes(app: OpenAPIHono, { directory }: ApiContext): void {
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
      try {
        const access_token = await directory.tokens.mint({
          userId: user_id,
          durationMinutes: duration_in_minutes,
          activeOrgId: active_org_id,
        })
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
