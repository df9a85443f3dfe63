import type { Context } from 'hono'
import type { z } from 'zod'
import { fieldError, fromZod } from './errors.ts'

/**
 * The request's JSON body through `schema`. The SDKs send `Content-Type: application/json` on
 * every call, with no body on some (disable, allow_saml): an absent body reads as `{}`.
 */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text()
  let value: unknown = {}
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text)
    } catch {
      throw fieldError('body', 'not valid JSON')
    }
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw fromZod(parsed.error, 'body')
  return parsed.data
}

/** The query string through `schema`; a parameter given twice is refused rather than one of its values picked. */
export function query<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const raw: Record<string, string> = {}
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (values.length > 1) throw fieldError(name, `given ${values.length} times; send it once`)
    raw[name] = values[0]!
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw fromZod(parsed.error, 'query')
  return parsed.data
}
