import { createRoute, z } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { CHECK_CODES } from '../authz/index.ts'
import type { ExplainInput, Explanation } from '../explain/index.ts'
import { ADMIN_KEY, json, jsonBody, problemsOf } from './openapi.ts'

export type Explain = (input: ExplainInput) => Promise<Explanation>

const explainRequestBody = z
  .strictObject({
    method: z
      .string()
      .regex(/^[A-Za-z]+$/, 'an HTTP method')
      .default('GET'),
    path: z.string().startsWith('/', 'a path and query starting with /').max(8192),
    token: z.string().min(1).optional().openapi({ description: 'Sent as Authorization: Bearer; never logged or echoed' }),
    api_key: z.string().min(1).optional().openapi({ description: 'Sent as X-Api-Key; never logged or echoed' }),
    headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/), z.string()).optional(),
    client_ip: z.ipv4().or(z.ipv6()).optional().openapi({ description: 'The peer the request would come from; default 127.0.0.1' }),
  })
  .refine((b) => b.token === undefined || b.api_key === undefined, { message: 'send token or api_key, not both', path: ['api_key'] })
  .openapi('ExplainRequest')

const ruleVerdict = z.object({
  index: z.number().int(),
  pattern: z.string(),
  matched: z.boolean(),
  why: z.enum(['method', 'path']).optional(),
  detail: z.string().optional(),
  params: z.record(z.string(), z.string()).optional(),
})

const checkVerdict = z
  .object({
    check: z.enum(CHECK_CODES),
    description: z.string(),
    verdict: z.enum(['passed', 'failed', 'not_evaluated']),
    detail: z.string().optional().openapi({ description: "A failure's refusal detail; for not_evaluated, the check it waited on" }),
  })
  .openapi('AuthorizationCheckVerdict')

const explanation = z
  .object({
    method: z.string(),
    target: z.string(),
    canonicalPath: z.string().optional(),
    rules: z.array(ruleVerdict),
    route: z.object({ index: z.number().int(), pattern: z.string(), auth: z.string(), requirements: z.array(z.string()) }).optional(),
    credential: z.enum(['none', 'token', 'api_key']),
    identity: z.looseObject({ principal: z.string(), method: z.string() }).optional(),
    refusal: z.object({ reason: z.string(), detail: z.string().optional() }).optional(),
    authorization: z.object({
      verdict: z.enum(['passed', 'failed', 'not_reached', 'none']),
      checks: z.array(checkVerdict),
      detail: z.string().optional(),
    }),
    budgets: z.array(z.looseObject({ name: z.string(), allowed: z.boolean(), limit: z.number(), remaining: z.number() })).optional(),
    answer: z.object({ status: z.number().int(), forwarded: z.boolean(), problem: z.looseObject({ status: z.number() }).optional() }),
  })
  .openapi('Explanation')

/** POST /v1/explain: how the gateway would decide a request, decided by the running decision without spending a budget. */
export function registerExplainRoute(app: OpenAPIHono, explain: Explain): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/explain',
      operationId: 'explainRequest',
      tags: ['explain'],
      summary: 'Why a request would be allowed or refused',
      description:
        'Decides the request as the gateway would, with its running config: the rules walked, the identity, each authorization check with its verdict, the budgets as they stand (not spent) and the answer. The upstream is not contacted.',
      security: ADMIN_KEY,
      request: jsonBody(explainRequestBody),
      responses: { 200: json('How the request would be decided', explanation), ...problemsOf() },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const result = await explain({
        method: body.method,
        target: body.path,
        token: body.token,
        apiKey: body.api_key,
        headers: Object.entries(body.headers ?? {}),
        clientIp: body.client_ip,
      })
      // The Identity's readonly arrays are JSON like any other; Hono's JSON type wants them mutable.
      return c.json(result as unknown as z.infer<typeof explanation>, 200)
    },
  )
}
