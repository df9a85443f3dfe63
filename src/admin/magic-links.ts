import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { ApiContext } from './context.ts'
import { storeWrite } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, problemsOf } from './openapi.ts'
import { createMagicLinkBody, magicLinkResponse } from './schemas.ts'

export function registerMagicLinkRoutes(app: OpenAPIHono, { directory }: ApiContext): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/magic_links',
      tags: ['end users'],
      summary: 'Create a one-time sign-in link (PropelAuth’s create_magic_link)',
      description:
        'Answers the URL (on end_users.public_url) for you to send; gatehouse does not mail it. Following it once, before it expires, sets the session cookie and redirects to redirect_to_url. 404 without end_users.public_url, or for an unknown email with create_new_user_if_one_doesnt_exist false.',
      security: ADMIN_KEY,
      request: jsonBody(createMagicLinkBody),
      responses: { 201: json('The link', magicLinkResponse), ...problemsOf(404) },
    }),
    async (c) => c.json(await storeWrite(directory.magicLinks.create(c.req.valid('json')), { email: 'email' }), 201),
  )
}
