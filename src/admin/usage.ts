import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { ApiContext } from './context.ts'
import { ADMIN_KEY, json, problemsOf } from './openapi.ts'
import { subjectUsageQuery, subjectUsageResponse } from './schemas.ts'

/** GET /v1/usage: the proxy's per-day request counts of a user or an org, whatever credential they used. */
export function registerUsageRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/usage',
      tags: ['usage'],
      summary: 'Requests of one user or org forwarded on a UTC day, with tokens and API keys alike',
      description:
        'Counted once a request has passed authorization and every rate limit, just before it is forwarded: refused requests (401, 403, 429) are not usage. Counts come from the proxy, flushed in batches (api_keys.usage_flush), so the last seconds of traffic may not be in yet, and a replica killed without a shutdown loses what it had not flushed.',
      security: ADMIN_KEY,
      request: { query: subjectUsageQuery },
      responses: { 200: json('The count', subjectUsageResponse), ...problemsOf() },
    }),
    async (c) => {
      const q = c.req.valid('query')
      const subject = q.user_id === undefined ? { kind: 'org' as const, id: q.org_id! } : { kind: 'user' as const, id: q.user_id }
      return c.json({ count: await ctx.directory.store.subjectUsage({ ...subject, date: q.date }) }, 200)
    },
  )
}
