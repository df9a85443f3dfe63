import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { ProblemError, problems } from '../http/index.ts'

const CHALLENGE = { 'www-authenticate': 'Bearer realm="gatehouse-admin"' }

/**
 * Admits a request only with `Authorization: Bearer <apiKey>`. Both sides are compared as
 * SHA-256 digests with timingSafeEqual: equal-length inputs make the comparison constant-time,
 * so neither the key's bytes nor its length leak through response timing. The 401 never
 * repeats what was sent.
 */
export function requireAdminKey(apiKey: string): MiddlewareHandler {
  const expected = digest(apiKey)
  return async (c, next) => {
    const presented = bearerToken(c.req.header('authorization'))
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      throw new ProblemError(problems.unauthorized('Send the admin API key as Authorization: Bearer <admin.api_key>'), CHALLENGE)
    }
    await next()
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header)
  return match?.[1]
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
