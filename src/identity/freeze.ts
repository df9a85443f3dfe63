/**
 * Freezes a value and everything in it: cached identities are shared by every request that
 * presents the same credential, and the published JWKS by every request for it, so nothing may
 * change one.
 */
// Iterative: claims such as `properties` are nested to whatever depth the token's issuer chose.
// The values are built from parsed JSON, so there are no cycles to guard against.
export function deepFreeze<T extends object>(root: T): T {
  const pending: object[] = [root]
  for (let value = pending.pop(); value !== undefined; value = pending.pop()) {
    Object.freeze(value)
    for (const child of Object.values(value)) {
      if (typeof child === 'object' && child !== null) pending.push(child)
    }
  }
  return root
}
