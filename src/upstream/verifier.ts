import { createLocalJWKSet, createRemoteJWKSet, importSPKI, jwtVerify } from 'jose'
import type { CryptoKey, JSONWebKeySet, JWK, JWTVerifyGetKey, KeyObject } from 'jose'
import { bindingMismatch, bindingOf } from './binding.ts'
import type { RequestFacts } from './binding.ts'
import { callerFromIdentity } from './models.ts'
import type { Caller } from './models.ts'
import { createReplayCache } from './replay.ts'
import type { AssertedIdentity } from './types.ts'

export const ASSERTION_HEADER = 'x-gatehouse-assertion'

export type AssertionAlgorithm = 'EdDSA' | 'ES256' | 'HS256'

export type VerifierOptions = {
  /** The gateway's admin `/.well-known/jwks.json`; cached, refetched on an unknown kid (with a cooldown). */
  jwksUrl?: string | URL
  /** A public key: KeyObject/CryptoKey, a JWK, a JWK set, or an SPKI PEM string. */
  publicKey?: KeyObject | CryptoKey | JWK | JSONWebKeySet | string
  /** The shared HS256 secret (gatehouse `assertion.secret`). */
  secret?: string
  issuer?: string
  audience?: string
  /** Defaults: ['ES256', 'EdDSA'] for keys, ['HS256'] for a secret. Never mixed. */
  algorithms?: AssertionAlgorithm[]
  /** Clock tolerance in seconds (default 5). */
  clockTolerance?: number
  /**
   * Refuse assertions that are not bound to a request (set it when gatehouse runs with
   * `identity.assertion.bind_request: true`, so that turning binding off there is noticed here).
   */
  requireBinding?: boolean
  /**
   * Accept each bound assertion once: its `jti` (the request id) is remembered until it expires.
   * Per process; off by default because a front proxy that retries with the same X-Request-Id
   * would see its retry refused. `true` is `{ maxEntries: 100_000 }`.
   */
  replayCache?: boolean | { maxEntries?: number }
}

export type Verifier = {
  /**
   * The caller an assertion names. With `request`, an assertion bound to a request (`htm`, `htp`,
   * `jti`) must have been signed for this method and path; a bound assertion without `request`
   * is refused, since its binding cannot be checked.
   */
  verify(assertion: string, request?: RequestFacts): Promise<Caller>
  fromHeaders(headers: Headers | Record<string, string | string[] | undefined>, request?: RequestFacts): Promise<Caller | undefined>
}

export class AssertionError extends Error {
  override readonly name = 'AssertionError'
}

const KEY_ALGS: AssertionAlgorithm[] = ['ES256', 'EdDSA']

export function createVerifier(options: VerifierOptions): Verifier {
  const sources = [options.jwksUrl, options.publicKey, options.secret].filter((s) => s !== undefined)
  if (sources.length !== 1) throw new Error('createVerifier needs exactly one of jwksUrl, publicKey or secret')
  const symmetric = options.secret !== undefined
  if (symmetric && Buffer.byteLength(options.secret!) < 32) throw new Error('the HS256 secret must be at least 32 bytes')
  const algorithms = options.algorithms ?? (symmetric ? ['HS256'] : KEY_ALGS)
  if (algorithms.length === 0) throw new Error('algorithms must not be empty')
  for (const alg of algorithms) {
    if (symmetric ? alg !== 'HS256' : !KEY_ALGS.includes(alg)) {
      throw new Error(`algorithm ${alg} does not fit a ${symmetric ? 'shared secret' : 'public key'}`)
    }
  }
  const issuer = options.issuer ?? 'gatehouse'
  const audience = options.audience ?? 'upstream'
  const clockTolerance = options.clockTolerance ?? 5
  const key = resolveKey(options)
  const requireBinding = options.requireBinding ?? false
  const replay = options.replayCache
    ? createReplayCache((options.replayCache === true ? {} : options.replayCache).maxEntries ?? 100_000)
    : undefined

  async function verify(assertion: string, request?: RequestFacts): Promise<Caller> {
    if (typeof assertion !== 'string' || assertion.length === 0) throw new AssertionError('missing assertion')
    let payload: Record<string, unknown>
    try {
      const k = await key
      const result =
        typeof k === 'function'
          ? await jwtVerify(assertion, k, { issuer, audience, algorithms, clockTolerance, requiredClaims: ['exp', 'iat', 'sub'] })
          : await jwtVerify(assertion, k, { issuer, audience, algorithms, clockTolerance, requiredClaims: ['exp', 'iat', 'sub'] })
      payload = result.payload as Record<string, unknown>
    } catch (err) {
      throw new AssertionError(`invalid assertion: ${(err as Error).message}`, { cause: err })
    }
    const identity = payload.identity
    if (!isIdentity(identity)) throw new AssertionError('invalid assertion: no identity claim')
    checkBinding(payload, request)
    return callerFromIdentity(identity)
  }

  // After the signature: only gatehouse's own assertions may take room in the replay cache.
  function checkBinding(payload: Record<string, unknown>, request: RequestFacts | undefined): void {
    const binding = bindingOf(payload)
    if (binding === 'malformed') throw new AssertionError('invalid assertion: incomplete request binding (htm, htp, jti)')
    if (binding === undefined) {
      if (requireBinding) throw new AssertionError('invalid assertion: not bound to a request')
      return
    }
    if (!request) throw new AssertionError('invalid assertion: bound to a request, but no request was given to check it against')
    const mismatch = bindingMismatch(binding, request)
    if (mismatch) throw new AssertionError(`invalid assertion: ${mismatch}`)
    // Kept as long as jose would still accept it: until exp plus the clock tolerance.
    const now = Date.now()
    if (replay && !replay.claim(binding.requestId, (payload.exp as number) * 1000 + clockTolerance * 1000, now)) {
      throw new AssertionError('invalid assertion: already used (jti replayed)')
    }
  }

  return {
    verify,
    async fromHeaders(headers, request) {
      const value = readHeader(headers, ASSERTION_HEADER)
      if (value === undefined) return undefined
      return verify(value, request)
    },
  }
}

type Key = KeyObject | CryptoKey | Uint8Array | JWTVerifyGetKey

async function resolveKey(options: VerifierOptions): Promise<Key> {
  if (options.secret !== undefined) return new TextEncoder().encode(options.secret)
  if (options.jwksUrl !== undefined) return createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 })
  const pk = options.publicKey!
  if (typeof pk === 'string') {
    const alg = options.algorithms?.[0] ?? (pk.includes('BEGIN PUBLIC KEY') && /MCowBQYDK2Vw/.test(pk) ? 'EdDSA' : 'ES256')
    return importSPKI(pk, alg)
  }
  if (isJwks(pk)) return createLocalJWKSet(pk)
  if (isJwk(pk)) {
    if (pk.d !== undefined || pk.kty === 'oct') throw new Error('publicKey must be a public key')
    return createLocalJWKSet({ keys: [pk] })
  }
  return pk as KeyObject | CryptoKey
}

function isJwks(v: unknown): v is JSONWebKeySet {
  return typeof v === 'object' && v !== null && Array.isArray((v as { keys?: unknown }).keys)
}

function isJwk(v: unknown): v is JWK {
  return typeof v === 'object' && v !== null && typeof (v as { kty?: unknown }).kty === 'string'
}

function isIdentity(v: unknown): v is AssertedIdentity {
  if (typeof v !== 'object' || v === null) return false
  const i = v as Record<string, unknown>
  if (!['user', 'org', 'service'].includes(i.principal as string)) return false
  if (!['token', 'api_key'].includes(i.method as string)) return false
  if (
    i.user !== undefined &&
    (typeof i.user !== 'object' || i.user === null || typeof (i.user as { userId?: unknown }).userId !== 'string')
  )
    return false
  return true
}

function readHeader(headers: Headers | Record<string, string | string[] | undefined>, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
    return (headers as Headers).get(name) ?? undefined
  }
  const record = headers as Record<string, string | string[] | undefined>
  let value = record[name]
  if (value === undefined) {
    for (const [k, v] of Object.entries(record)) if (k.toLowerCase() === name) value = v
  }
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined
  return value === '' ? undefined : value
}
