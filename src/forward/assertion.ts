import { createHmac, sign as signBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { createSecondUseMap } from '../cache/index.ts'
import { subjectOf } from '../identity/index.ts'
import type { Identity } from '../identity/index.ts'
import type { AssertionAlgorithm, AssertionKeys } from './assertion-keys.ts'

export type AssertionSignerOptions = {
  keys: AssertionKeys
  algorithm: AssertionAlgorithm
  issuer: string
  /** The upstream. */
  audience: string
  ttlMs: number
  /** Assertions of recently seen identity contents, for credentials verified afresh; 10,000 by default. */
  recentMax?: number
  /** `identity.assertion.bind_request`: the gateway signs every request with {@link AssertionSigner.signBound}. */
  bindRequest?: boolean
  /** The upstream URL's base path, which the proxy puts before every forwarded path: `htp` is what the upstream receives. */
  pathPrefix?: string
}

/** The request a bound assertion is valid for. */
export type RequestBinding = {
  method: string
  /** The canonical path plus the raw query, as forwarded (without the upstream base path). */
  path: string
  /** The X-Request-Id the upstream receives; becomes `jti`. */
  requestId: string
}

export type AssertionSigner = {
  /**
   * The assertion for `identity`. With an `owner` — the cached, immutable identity the request's
   * identity was derived from — the assertion is kept in a WeakMap under the owner, or under the
   * active org's membership object (itself a part of the owner), and reused; it is forgotten with
   * the owner when the credential cache drops it, so this cache needs no bound or key strings of
   * its own. An assertion is kept from an owner's second request on: a credential used once (a
   * script, a webhook) costs one signature either way, and not keeping its ~0.7 KB assertion is
   * most of the memory of a cache full of one-time callers. Behind that, a bounded LRU keyed by
   * the serialized identity serves identical identities under new owners (a user's next token).
   */
  sign(identity: Identity, owner?: object, now?: number): string
  /**
   * An assertion for one request only: `htm` (its method), `htp` (the path and query the upstream
   * receives) and `jti` (its request id) join the claims, so a leaked assertion is refused by any
   * other endpoint, and by the same one once the upstream remembers the `jti`. Never cached — a
   * signature per request — and separate from `sign`, whose cached path stays as it is.
   */
  signBound(identity: Identity, binding: RequestBinding, now?: number): string
  /** Whether the configuration asks for bound assertions (`bind_request`). */
  readonly bindsRequests: boolean
}

type Cached = { jwt: string; refreshAt: number }

/**
 * Signs the identity assertion, a compact JWS:
 *
 *   header  { alg, kid, typ: 'JWT' }
 *   claims  { iss, aud, sub, iat, exp, identity }
 *           { iss, aud, sub, iat, exp, jti, htm, htp, identity }   (bound to a request)
 *
 * `identity` is the Identity object as-is (camelCase, see src/authn/identity.ts), the one
 * contract the upstream SDK reads. `sub` is the principal's id: the user id for a user, the org id
 * for an org key, the API key id for a generic key. `iat` and `exp` are Unix seconds. `htm` has
 * DPoP's meaning (RFC 9449); `htp` is not DPoP's `htu` (a full URI without the query) but the
 * origin-form target with the query, because the query often names the resource acted on.
 *
 * Signing uses node:crypto directly (Ed25519 ≈ 40 µs, ES256 ≈ 35 µs, HS256 ≈ 2 µs here, against
 * 80–140 µs through jose's WebCrypto), because a new identity pays it on its first request.
 * An assertion is reused until less than a third of its lifetime is left, so an upstream never
 * receives one about to expire.
 */
export function createAssertionSigner(options: AssertionSignerOptions): AssertionSigner {
  const { keys, algorithm, issuer, audience, ttlMs } = options
  const pathPrefix = options.pathPrefix ?? ''
  const { current } = keys
  if (current.alg !== algorithm) {
    throw new Error(`the assertion key is ${current.alg} but the configured algorithm is ${algorithm}`)
  }
  const encodedHeader = base64url(JSON.stringify({ alg: algorithm, kid: current.kid, typ: 'JWT' }))
  const signature = signatureFunction(algorithm, current.privateKey)
  const claimsPrefix = `{"iss":${JSON.stringify(issuer)},"aud":${JSON.stringify(audience)},`
  const byOwner = createSecondUseMap<object, Cached>()
  const recentMax = options.recentMax ?? 10_000
  const byContent = new LRUCache<string, Cached>({ max: recentMax })
  // Subjects signed for once: an identity's content is kept only when its subject comes back, so
  // a stream of one-time callers churns these few bytes instead of kilobyte-sized assertions.
  const seenSubjects = new LRUCache<string, true>({ max: recentMax })

  // The identity is serialized once: it is both the content key and the payload's `identity`.
  // `binding` is the bound claims' JSON members, each followed by a comma.
  function signFresh(identity: Identity, content: string, now: number, binding = ''): Cached {
    const iat = Math.floor(now / 1000)
    const exp = Math.floor((now + ttlMs) / 1000)
    const sub = subjectOf(identity)
    const claims = `${claimsPrefix}${sub === undefined ? '' : `"sub":${JSON.stringify(sub)},`}"iat":${iat},"exp":${exp},${binding}"identity":${content}}`
    const input = `${encodedHeader}.${base64url(claims)}`
    return { jwt: `${input}.${signature(input)}`, refreshAt: exp * 1000 - ttlMs / 3 }
  }

  function sign(identity: Identity, owner?: object, now = Date.now()): string {
    const slot = owner === undefined ? undefined : (identity.activeOrg ?? owner)
    const kept = slot && byOwner.get(slot)
    if (kept && now < kept.refreshAt) return kept.jwt
    // A credential verified afresh — a new token, or one the credential cache let go — is most
    // often a caller seen before: same content, so the same assertion serves.
    const content = JSON.stringify(identity)
    let entry = byContent.get(content)
    if (!entry || now >= entry.refreshAt) {
      entry = signFresh(identity, content, now)
      const subject = `${identity.principal}:${subjectOf(identity)}`
      if (seenSubjects.has(subject)) byContent.set(content, entry)
      else seenSubjects.set(subject, true)
    }
    const signed = entry
    if (slot) byOwner.offer(slot, () => signed)
    return signed.jwt
  }

  function signBound(identity: Identity, binding: RequestBinding, now = Date.now()): string {
    const members = `"jti":${JSON.stringify(binding.requestId)},"htm":${JSON.stringify(binding.method)},"htp":${JSON.stringify(pathPrefix + binding.path)},`
    return signFresh(identity, JSON.stringify(identity), now, members).jwt
  }

  return { sign, signBound, bindsRequests: options.bindRequest ?? false }
}

function signatureFunction(algorithm: AssertionAlgorithm, key: KeyObject): (input: string) => string {
  switch (algorithm) {
    case 'EdDSA':
      return (input) => signBytes(null, Buffer.from(input), key).toString('base64url')
    case 'ES256':
      // JWS wants the raw r||s form (RFC 7518 §3.4), not DER.
      return (input) => signBytes('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
    case 'HS256':
      return (input) => createHmac('sha256', key).update(input).digest('base64url')
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url')
}
