import { memoizeRecent } from '../cache/index.ts'
import { ProblemError, problems } from '../http/index.ts'
import { MalformedCredentialError } from './errors.ts'

export type Credential = { kind: 'none' } | { kind: 'token'; token: string } | { kind: 'api_key'; key: string }

// The signature segment may be empty so that an unsigned (`alg: none`) JWT is still recognised as a
// token and rejected by the JWT verifier, instead of being tried as an API key.
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/**
 * The pattern's answer for recurring credentials (from a credential's second request on): over a
 * ~600-character token it costs about 7,800 instructions (callgrind), a Map lookup a fraction of
 * that, and the string's hash it computes is kept on the string for the token cache's own lookup.
 * A memo of a pure test: memory only (2 × 1,024 credentials at most), nothing any caller could observe.
 */
const isCompactJws = memoizeRecent((value) => JWS_COMPACT.test(value), 1024)

const MALFORMED_AUTHORIZATION = 'Invalid authorization header. Expected: Bearer {accessToken}'

/**
 * Finds the one credential of a request. Exactly one is accepted: two different ones are refused
 * rather than choosing, so that no header can shadow another one that a later stage would read.
 */
export function extractCredential(authorization: string | undefined, xApiKey: string | undefined): Credential {
  const fromAuthorization = authorization ? parseAuthorization(authorization) : undefined
  if (!xApiKey) return fromAuthorization?.credential ?? { kind: 'none' }
  if (!fromAuthorization) return { kind: 'api_key', key: xApiKey }
  if (fromAuthorization.value !== xApiKey) {
    throw new ProblemError(problems.badRequest('Two different credentials were sent; send one'))
  }
  return fromAuthorization.credential
}

function parseAuthorization(header: string): { value: string; credential: Credential } {
  // PropelAuth's parsing: split on single spaces, exactly two parts, scheme compared case-insensitively.
  const parts = header.split(' ')
  const [scheme, value] = parts
  if (parts.length !== 2 || scheme?.toLowerCase() !== 'bearer' || !value) {
    throw new MalformedCredentialError(MALFORMED_AUTHORIZATION, 'the Authorization header is not "Bearer <credential>"')
  }
  return { value, credential: credentialOf(value) }
}

/** A credential by its shape: a compact JWS is a token, anything else is tried as an API key. */
export function credentialOf(value: string): Credential {
  return isCompactJws(value) ? { kind: 'token', token: value } : { kind: 'api_key', key: value }
}
