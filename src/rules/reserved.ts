/**
 * The first path segment under which gatehouse serves its own endpoints (forward-auth today).
 * No route may name it, and a request under it is answered by gatehouse or refused, never proxied.
 */
export const RESERVED_SEGMENT = '.gatehouse'
export const RESERVED_PREFIX = `/${RESERVED_SEGMENT}`

const DOT = 0x2e

/**
 * Whether a canonical path is `/.gatehouse` or under it. Compared without case whatever
 * `upstream.case_sensitive_paths` says: `/.GATEHOUSE/auth` must be refused, not handed to a `/*`
 * route, or the reserved space would depend on a setting. The canonical path has every escaped
 * dot, dot-segment and repeated slash resolved already, so one comparison covers every spelling.
 */
export function isReservedPath(path: string): boolean {
  // Most paths stop here: a canonical segment rarely starts with a dot.
  if (path.charCodeAt(1) !== DOT) return false
  const end = path.indexOf('/', 1)
  const first = end === -1 ? path.slice(1) : path.slice(1, end)
  return first.length === RESERVED_SEGMENT.length && first.toLowerCase() === RESERVED_SEGMENT
}
