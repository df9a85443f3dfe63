import { CredentialError, extractHandshakeCredential } from '../authn/index.ts'
import type { TokenVerifier } from '../authn/index.ts'
import type { Identity } from '../identity/index.ts'
import { readBrowserFacts } from './request-headers.ts'

/** A signed-in browser: the user its session cookie stands for, and the cookie's token (what a CSRF token is bound to). */
export type Session = { identity: Identity; token: string }

/** Who a request's session cookie signs in (readSession, bound to a verifier and a cookie name). */
export type SessionReader = (rawHeaders: readonly string[]) => Promise<Session | undefined>

/**
 * Who a request's session cookie signs in, for a gatehouse endpoint that acts as its caller (the
 * pages, the sign-in door accepting an invitation): the cookie is read and verified exactly as a
 * route that names it in `credentials_from` would (the same verifier, cache and revocation). No
 * cookie, a token the verifier refuses (expired, a disabled user) or one that is not a user's:
 * undefined, the caller is not signed in. A cookie sent twice is the same 400 a route answers; a
 * verifier that cannot check now rejects (503), never "signed out". The caller applies the CSRF
 * rule (isSameOriginOrSafe) before acting on the answer.
 */
export async function readSession(verifier: TokenVerifier, cookie: string, rawHeaders: readonly string[]): Promise<Session | undefined> {
  const { credential } = extractHandshakeCredential(
    { authorization: undefined, xApiKey: undefined, cookie: readBrowserFacts(rawHeaders).cookie, websocketProtocol: undefined },
    { header: false, cookies: [cookie], websocketProtocol: false },
  )
  if (credential.kind !== 'token') return undefined
  let identity
  try {
    identity = await verifier.verify(credential.token)
  } catch (err) {
    if (err instanceof CredentialError && err.refused) return undefined
    throw err
  }
  return identity.principal === 'user' && identity.user ? { identity, token: credential.token } : undefined
}
