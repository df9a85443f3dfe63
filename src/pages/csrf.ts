import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { Session } from '../decide/index.ts'

/** The form field every signed-in form carries. */
export const CSRF_FIELD = 'csrf_token'

export type CsrfTokens = {
  /** The token of a session's forms. */
  tokenFor(session: Session): string
  /** Whether `token` is the session's, compared in constant time. */
  matches(session: Session, token: string | undefined): boolean
}

/**
 * CSRF tokens bound to one session: HMAC-SHA256, under a secret of gatehouse's (derived from the
 * local issuer's key, so every replica makes the same), over the session's user and its token's
 * SHA-256 (the token's id: local tokens carry no jti). Another site can neither read one from the
 * page nor compute one, and a token stops matching when the session is replaced by a new sign-in.
 */
export function createCsrfTokens(secret: Buffer): CsrfTokens {
  const tokenFor = (session: Session) => {
    const tokenId = createHash('sha256').update(session.token).digest('base64url')
    return createHmac('sha256', secret).update(`${session.identity.user!.userId}\n${tokenId}`).digest('base64url')
  }
  return {
    tokenFor,
    matches(session, token) {
      if (token === undefined) return false
      const expected = Buffer.from(tokenFor(session))
      const given = Buffer.from(token)
      return given.length === expected.length && timingSafeEqual(given, expected)
    },
  }
}
