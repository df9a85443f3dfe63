import nodeCrypto, { constants, KeyObject } from 'node:crypto'
import { errors, jwtVerify } from 'jose'
import type { CryptoKey, JWTHeaderParameters, JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose'
import type { TokenAlgorithm } from '../config/index.ts'
import { isRecord, parseJsonSegment } from './json.ts'
import { createRegisteredClaimsCheck } from './registered-claims.ts'

export type VerifiedJwt = { payload: JWTPayload; protectedHeader: JWTHeaderParameters }

/**
 * jose's jwtVerify with the signature checked by synchronous `node:crypto.verify` instead of
 * WebCrypto's round trip through the threadpool, which cost about as much CPU as the ES256 check
 * itself. Both run the same OpenSSL call in Node's SignJob, one in the calling thread, one queued
 * on the threadpool. jose stays the verifier of record for keys: the issuer's key function (JWKS
 * selection by kid and alg, key import) resolves the key. The header checks jwtVerify makes
 * before it (alg pinned, crit, b64, the key's type, curve, hash and size fitting the alg) and its
 * registered-claims checks (registered-claims.ts) are mirrored here, with jose's errors; the
 * corpus in test/authn/jwt-verifier.test.ts holds both paths to the same answers. Whatever this
 * path does not mirror exactly (an option, an unusual header, a key that is not a CryptoKey or
 * does not fit, a compact form jose would have to decode leniently) goes to jwtVerify itself, so
 * such a token gets jose's answer.
 */
export function createJwtVerifier(getKey: JWTVerifyGetKey, options: JWTVerifyOptions): (token: string) => Promise<VerifiedJwt> {
  const viaJose = (token: string, key: JWTVerifyGetKey = getKey) => jwtVerify(token, key, options)
  // Options that change jwtVerify's header or claims checks are not mirrored.
  const claimsOf = createRegisteredClaimsCheck(options)
  if (!claimsOf || !options.algorithms) return viaJose
  const allowed = new Set(options.algorithms)

  return async (token) => {
    const parts = compactParts(token)
    const header = parts && decodeHeader(parts.header)
    const scheme = header && schemeFor(header, allowed)
    if (!parts || !header || !scheme) return viaJose(token)
    const key = await getKey(header, { protected: parts.header, payload: parts.payload, signature: parts.signature })
    const keyObject = fittingKey(key, scheme)
    if (!keyObject) return viaJose(token, () => key)
    if (!signatureValid(scheme, keyObject, parts)) throw new errors.JWSSignatureVerificationFailed()
    return { payload: claimsOf(parts.payload), protectedHeader: header }
  }
}

type CompactParts = { header: string; payload: string; signature: string; signingInput: string }

// Unpadded base64url only: jose's decoder also takes padding and skips whitespace, which Buffer's
// lenient decoder would read differently; such tokens go to jose.
const BASE64URL = /^[A-Za-z0-9_-]*$/

function compactParts(token: string): CompactParts | undefined {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) return undefined
  const parts = {
    header: token.slice(0, first),
    payload: token.slice(first + 1, second),
    signature: token.slice(second + 1),
    signingInput: token.slice(0, second),
  }
  const wellFormed = (part: string) => part.length % 4 !== 1 && BASE64URL.test(part)
  return wellFormed(parts.header) && wellFormed(parts.payload) && wellFormed(parts.signature) ? parts : undefined
}

function decodeHeader(encoded: string): JWTHeaderParameters | undefined {
  let header: unknown
  try {
    header = parseJsonSegment(encoded)
  } catch {
    return undefined
  }
  return isRecord(header) ? (header as JWTHeaderParameters) : undefined
}

type Scheme = {
  /** What the CryptoKey's `algorithm` must say, as jose checks it. */
  key: { name: string; hash?: string; namedCurve?: string; minModulusLength?: number }
  digest: string | null
  padding?: number
  saltLength?: number
  dsaEncoding?: 'ieee-p1363'
}

const pkcs1 = (bits: number): Scheme => ({
  key: { name: 'RSASSA-PKCS1-v1_5', hash: `SHA-${bits}`, minModulusLength: 2048 },
  digest: `sha${bits}`,
  padding: constants.RSA_PKCS1_PADDING,
})
const pss = (bits: number): Scheme => ({
  key: { name: 'RSA-PSS', hash: `SHA-${bits}`, minModulusLength: 2048 },
  digest: `sha${bits}`,
  padding: constants.RSA_PKCS1_PSS_PADDING,
  // The salt as long as the hash, exactly (RFC 7518 §3.5), as WebCrypto is told by jose.
  saltLength: bits / 8,
})
const ecdsa = (namedCurve: string, bits: number): Scheme => ({
  key: { name: 'ECDSA', namedCurve },
  digest: `sha${bits}`,
  // JWS signatures are r‖s (RFC 7518 §3.4), not DER.
  dsaEncoding: 'ieee-p1363',
})

const SCHEMES: Record<TokenAlgorithm, Scheme> = {
  RS256: pkcs1(256),
  RS384: pkcs1(384),
  RS512: pkcs1(512),
  PS256: pss(256),
  PS384: pss(384),
  PS512: pss(512),
  ES256: ecdsa('P-256', 256),
  ES384: ecdsa('P-384', 384),
  ES512: ecdsa('P-521', 512),
  EdDSA: { key: { name: 'Ed25519' }, digest: null },
}

/** The scheme of a header this path can take as jwtVerify would: no crit or b64, a pinned alg. */
function schemeFor(header: JWTHeaderParameters, allowed: ReadonlySet<string>): Scheme | undefined {
  if (header.crit !== undefined || header.b64 !== undefined) return undefined
  const { alg } = header
  if (typeof alg !== 'string' || !allowed.has(alg) || !Object.hasOwn(SCHEMES, alg)) return undefined
  return SCHEMES[alg as TokenAlgorithm]
}

// Node 20 has the class as a global only (node:crypto's webcrypto.CryptoKey came in Node 22).
const CryptoKeyClass = (globalThis as unknown as { CryptoKey: abstract new () => CryptoKey }).CryptoKey

// One KeyObject per CryptoKey, made once: the key functions hand back the same CryptoKey each time.
const keyObjects = new WeakMap<CryptoKey, KeyObject>()

/** The key as a KeyObject when it is a public CryptoKey that jose would use for this scheme. */
function fittingKey(key: unknown, scheme: Scheme): KeyObject | undefined {
  if (!(key instanceof CryptoKeyClass) || key.type !== 'public' || !key.usages.includes('verify')) return undefined
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string; modulusLength?: number }
  const expected = scheme.key
  if (algorithm.name !== expected.name) return undefined
  if (expected.hash !== undefined && algorithm.hash?.name !== expected.hash) return undefined
  if (expected.namedCurve !== undefined && algorithm.namedCurve !== expected.namedCurve) return undefined
  if (expected.minModulusLength !== undefined && !((algorithm.modulusLength ?? 0) >= expected.minModulusLength)) return undefined
  let keyObject = keyObjects.get(key)
  if (!keyObject) {
    keyObject = KeyObject.from(key)
    keyObjects.set(key, keyObject)
  }
  return keyObject
}

function signatureValid(scheme: Scheme, key: KeyObject, parts: CompactParts): boolean {
  try {
    // Through the module object, where tests count signature checks.
    return nodeCrypto.verify(
      scheme.digest,
      Buffer.from(parts.signingInput, 'latin1'),
      { key, padding: scheme.padding, saltLength: scheme.saltLength, dsaEncoding: scheme.dsaEncoding },
      Buffer.from(parts.signature, 'base64url'),
    )
  } catch {
    // jose turns a WebCrypto verify that throws into the same failure as a false one.
    return false
  }
}
