import { errors } from 'jose'
import type { JWTPayload, JWTVerifyOptions } from 'jose'
import { isRecord, parseJsonSegment } from './json.ts'

/**
 * Decodes a JWT's payload segment and checks its registered claims as jose's jwtVerify does,
 * with its error classes, codes and messages, for a token whose signature is already settled.
 * jose's route to the same answer (an unsecured JWT rebuilt around the payload, its header parsed,
 * the payload decoded by jose's own base64 and its options re-read per token) cost about as much
 * as everything else the cold path adds to the signature check.
 *
 * Only the options gatehouse passes are mirrored: `issuer`, `audience`, a numeric `clockTolerance`
 * and `requiredClaims`. With any other option (`typ`, `subject`, `maxTokenAge`, `currentDate`, a
 * tolerance as text) this returns undefined and the caller leaves the token to jwtVerify.
 */
export type RegisteredClaimsCheck = (payloadSegment: string) => JWTPayload

const MIRRORED = new Set(['algorithms', 'issuer', 'audience', 'clockTolerance', 'requiredClaims'])

export function createRegisteredClaimsCheck(options: JWTVerifyOptions): RegisteredClaimsCheck | undefined {
  if (Object.keys(options).some((option) => !MIRRORED.has(option) && options[option as keyof JWTVerifyOptions] !== undefined))
    return undefined
  const { issuer, audience, clockTolerance = 0, requiredClaims = [] } = options
  // jose throws a TypeError per token for these; left to it, so that the answer stays its own.
  if (typeof clockTolerance !== 'number' || !Number.isFinite(clockTolerance) || clockTolerance < 0) return undefined
  const issuers = issuer === undefined ? undefined : Array.isArray(issuer) ? [...issuer] : [issuer]
  const audiences = audience === undefined ? undefined : typeof audience === 'string' ? [audience] : [...audience]
  // jose's order: the option-implied claims last pushed, checked first, each claim once.
  const present = [...new Set([...requiredClaims, ...(audiences ? ['aud'] : []), ...(issuers ? ['iss'] : [])].reverse())]

  return (segment) => {
    const claims = decodeClaimsSet(segment)
    for (const claim of present) {
      if (!Object.hasOwn(claims, claim))
        throw new errors.JWTClaimValidationFailed(`missing required "${claim}" claim`, claims, claim, 'missing')
    }
    if (issuers && !issuers.includes(claims.iss as string)) throw unexpected(claims, 'iss')
    if (audiences && !audiencePresent(claims.aud, audiences)) throw unexpected(claims, 'aud')
    const now = Math.floor(Date.now() / 1000)
    numericDate(claims, 'iat')
    const nbf = numericDate(claims, 'nbf')
    if (nbf !== undefined && nbf > now + clockTolerance) {
      throw new errors.JWTClaimValidationFailed('"nbf" claim timestamp check failed', claims, 'nbf', 'check_failed')
    }
    const exp = numericDate(claims, 'exp')
    if (exp !== undefined && exp <= now - clockTolerance) {
      throw new errors.JWTExpired('"exp" claim timestamp check failed', claims, 'exp', 'check_failed')
    }
    return claims
  }
}

function decodeClaimsSet(segment: string): JWTPayload {
  let claims: unknown
  try {
    claims = parseJsonSegment(segment)
  } catch (cause) {
    throw new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object', { cause })
  }
  // JSON.parse makes plain objects only, so this is jose's isObject.
  if (!isRecord(claims)) throw new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object')
  return claims as JWTPayload
}

function numericDate(claims: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number | undefined {
  const value = claims[claim]
  if (value === undefined) return undefined
  if (typeof value !== 'number') throw new errors.JWTClaimValidationFailed(`"${claim}" claim must be a number`, claims, claim, 'invalid')
  return value
}

function audiencePresent(aud: unknown, audiences: readonly string[]): boolean {
  if (typeof aud === 'string') return audiences.includes(aud)
  return Array.isArray(aud) && audiences.some((audience) => aud.includes(audience))
}

function unexpected(claims: JWTPayload, claim: string): errors.JWTClaimValidationFailed {
  return new errors.JWTClaimValidationFailed(`unexpected "${claim}" claim value`, claims, claim, 'check_failed')
}
