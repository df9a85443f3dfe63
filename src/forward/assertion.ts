import { LRUCache } from 'lru-cache'
import { SignJWT } from 'jose'
import type { Identity } from '../authn/identity.ts'
import type { AssertionAlgorithm, AssertionKeys } from './keys.ts'

export type AssertionSignerOptions = {
  keys: AssertionKeys
  algorithm: AssertionAlgorithm
  issuer: string
  /** The upstream. */
  audience: string
  ttlMs: number
  /** Most assertions kept for reuse; 100,000 by default. */
  cacheMax?: number
}

export type AssertionSigner = {
  /**
   * The assertion for `identity`: a string from the cache on the hot path, a promise only when a
   * fresh one has to be signed (concurrent requests for the same identity share that promise).
   *
   * Without `cacheKey` the cache is keyed by `JSON.stringify(identity)` (a few µs). A `cacheKey`
   * (e.g. the credential cache key plus the active org id) saves that; an assertion cached under
   * it is reused only if the identity's top-level members are the very same objects as when it was
   * signed, so an identity rebuilt after a change (new role, other active org) is signed afresh
   * even under the same key. Identities are treated as immutable: build a new one to change one.
   */
  sign(identity: Identity, cacheKey?: string, now?: number): string | Promise<string>
}

type Cached = { identity: Identity; token: string | Promise<string>; refreshAt: number }

/**
 * Signs the identity assertion, a compact JWS:
 *
 *   header  { alg, kid, typ: 'JWT' }
 *   claims  { iss, aud, sub, iat, exp, identity }
 *
 * `identity` is the Identity object as-is (camelCase, see src/authn/identity.ts), the one
 * contract the upstream SDK reads. `sub` is the principal's id: the user id for a user, the org id
 * for an org key, the API key id for a generic key. `iat` and `exp` are Unix seconds.
 *
 * An assertion is reused until less than a third of its lifetime is left: an upstream never
 * receives one about to expire, and signing (about 0.1 ms) happens once per identity per two
 * thirds of the ttl instead of once per request.
 */
export function createAssertionSigner(options: AssertionSignerOptions): AssertionSigner {
  const { keys, algorithm, issuer, audience, ttlMs } = options
  const { current } = keys
  if (current.alg !== algorithm) {
    throw new Error(`the assertion key is ${current.alg} but the configured algorithm is ${algorithm}`)
  }
  const header = { alg: algorithm, kid: current.kid, typ: 'JWT' }
  const cache = new LRUCache<string, Cached>({ max: options.cacheMax ?? 100_000 })

  function sign(identity: Identity, cacheKey?: string, now = Date.now()): string | Promise<string> {
    const key = cacheKey ?? JSON.stringify(identity)
    const hit = cache.get(key)
    // A serialized key already proves equal content; a caller's key only names a slot.
    if (hit && now < hit.refreshAt && (cacheKey === undefined || sameMembers(hit.identity, identity))) return hit.token

    const iat = Math.floor(now / 1000)
    const exp = Math.floor((now + ttlMs) / 1000)
    const jwt = new SignJWT({ identity }).setProtectedHeader(header).setIssuer(issuer).setAudience(audience)
    const sub = subjectOf(identity)
    if (sub !== undefined) jwt.setSubject(sub)
    const entry: Cached = { identity, token: '', refreshAt: exp * 1000 - ttlMs / 3 }
    entry.token = jwt
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(current.privateKey)
      .then(
        (token) => (entry.token = token),
        (err: unknown) => {
          if (cache.get(key) === entry) cache.delete(key)
          throw err
        },
      )
    cache.set(key, entry)
    return entry.token
  }

  return { sign }
}

function subjectOf(identity: Identity): string | undefined {
  switch (identity.principal) {
    case 'user':
      return identity.user?.userId
    case 'org':
      return identity.org?.orgId
    case 'service':
      return identity.apiKey?.id
  }
}

function sameMembers(a: Identity, b: Identity): boolean {
  return (
    a === b ||
    (a.principal === b.principal &&
      a.method === b.method &&
      a.user === b.user &&
      a.orgs === b.orgs &&
      a.org === b.org &&
      a.apiKey === b.apiKey &&
      a.activeOrg === b.activeOrg)
  )
}
