import type { z } from '@hono/zod-openapi'
import { PROBLEM_CONTENT_TYPE } from '../http/index.ts'
import { problemSchema } from './schemas.ts'

/** Small builders for createRoute, so each route states only what is particular to it. */

export const ADMIN_KEY = [{ adminKey: [] }]

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { content: { 'application/json': { schema } }, required: true } }
}

/** A body the client may leave out (no Content-Type): the handler then sees `{}`. */
export function optionalJsonBody<T extends z.ZodType>(schema: T) {
  return { body: { content: { 'application/json': { schema } }, required: false } }
}

export function json<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { 'application/json': { schema } } }
}

const ERRORS = {
  400: 'Invalid input; errors[] names each field',
  401: 'Missing or wrong admin API key',
  403: "The org's domain rule refuses this email",
  404: 'No such record, or the management API is off',
  409: 'Conflicts with an existing record, a limit, or the state of an API key (protected, archived)',
  429: "The API key's owner is over its rate limit; wait_seconds says for how long",
  502: 'The mail delivery (mail.webhook or mail.smtp) did not take the message',
} as const

/** Problem responses for the OpenAPI document; 401 and 400 apply to every management route. */
export function problemsOf(...statuses: (keyof typeof ERRORS)[]) {
  return Object.fromEntries(
    [400, 401, ...statuses].map((status) => [
      status,
      { description: ERRORS[status as keyof typeof ERRORS], content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } } },
    ]),
  ) as Record<keyof typeof ERRORS, { description: string; content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof problemSchema } } }>
}
