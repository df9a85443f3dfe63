/** The request an upstream received, to hold a bound assertion against. */
export type RequestFacts = {
  method: string
  /** The request target as received: origin-form (`/path?query`, Node's `req.url`) or a full URL (`Request.url`). */
  path: string
}

/** The claims of an assertion gatehouse bound to one request (`identity.assertion.bind_request`). */
export type RequestBinding = { method: string; path: string; requestId: string }

/**
 * The binding an assertion carries: all of `htm`, `htp` and `jti`, or none of them. A partial
 * binding is not something gatehouse signs, so it is refused rather than half-checked.
 */
export function bindingOf(payload: Record<string, unknown>): RequestBinding | undefined | 'malformed' {
  const { htm, htp, jti } = payload
  if (htm === undefined && htp === undefined && jti === undefined) return undefined
  if (typeof htm !== 'string' || typeof htp !== 'string' || typeof jti !== 'string' || jti === '') return 'malformed'
  return { method: htm, path: htp, requestId: jti }
}

/** Why the request does not match the binding, or undefined when it does. */
export function bindingMismatch(binding: RequestBinding, request: RequestFacts): string | undefined {
  if (binding.method !== request.method) return `bound to ${binding.method}, not ${request.method}`
  const bound = canonicalTarget(binding.path)
  if (bound === undefined || bound !== canonicalTarget(request.path)) return 'bound to another path'
  return undefined
}

/**
 * Path and query through the WHATWG URL parser, so that a framework which hands over a parsed URL
 * (Hono's `c.req.url` percent-encodes `"`, `<`, `>` in a query) compares equal to the raw target
 * gatehouse signed. The origin is prepended, never resolved against: `//host/x` stays a path.
 */
function canonicalTarget(target: string): string | undefined {
  try {
    const url = new URL(target.startsWith('/') ? `http://upstream.invalid${target}` : target)
    return url.pathname + url.search
  } catch {
    return undefined
  }
}
