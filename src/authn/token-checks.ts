import type { JWTHeaderParameters, JWTPayload } from 'jose'
import { InvalidTokenError } from './errors.ts'

/**
 * Checks on a token whose signature and registered claims jose has already verified, for what
 * jose leaves out. Reasons quote token values only shortened, as they go to the logs.
 */

/**
 * jose compares `iat` with the clock only together with `maxTokenAge`, which would also make `iat`
 * required. A token issued in the future is a broken issuer clock or a token minted ahead of
 * time to be used later; either way not one to accept. Without `iat` there is nothing to compare.
 */
export function checkIssuedAt(payload: JWTPayload, nowSeconds: number, leewaySeconds: number): void {
  // jose has refused an `iat` that is not a number before this runs.
  if (payload.iat !== undefined && payload.iat > nowSeconds + leewaySeconds) {
    throw new InvalidTokenError(`the token's iat is ${Math.round(payload.iat - nowSeconds)} s in the future, beyond the leeway`)
  }
}

// Compared as media types are (RFC 7515 §4.1.9): case-insensitively, `application/` optional.
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'jwt'])

/**
 * `token_type: access`: an ID token must not pass as an access token. RFC 9068 access tokens say
 * `typ: at+jwt`; many providers' access tokens say `JWT`, and so do their ID tokens, which the
 * `nonce` claim (OIDC Core §2, echoed from the login request) then gives away.
 */
export function checkAccessToken(header: JWTHeaderParameters, payload: JWTPayload): void {
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined
  if (typ === undefined || !ACCESS_TOKEN_TYPES.has(typ)) {
    const stated = typeof header.typ === 'string' ? JSON.stringify(header.typ.slice(0, 32)) : 'absent'
    throw new InvalidTokenError(`the token's typ (${stated}) is not an access token type (at+jwt or JWT)`)
  }
  if (Object.hasOwn(payload, 'nonce')) throw new InvalidTokenError('the token carries a nonce claim, as ID tokens do')
}
