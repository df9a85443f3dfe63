import { CredentialError, extractHandshakeCredential } from '../authn/index.ts'
import type { TokenVerifier } from '../authn/index.ts'
import type { Identity } from '../identity/index.ts'
import { readBrowserFacts } from './request-headers.ts'

/** A signed-in browser: the user its session cookie stands for, and the cookie's token (what a CSRF token is bound to). */
export type Session = { identity: Identity; token: string }

/**
 * Who a browser's session cookie says is signed in, for gatehouse's own pages: the cookie is read
 * as a route's `credentials_from: [cookie:NAME]` reads it and verified by the routes' verifier
 * (same checks, same cache, same revocation). undefined when there is no cookie or it is refused
 * (expired, a disabled user, not a user's token); a verification that cannot be made now
 * (KeySourceUnavailableError, 503) and a malformed Cookie header (400) are thrown.
 */
export type SessionReader = (rawHeaders: readonly string[]) => Promise<Session | undefined>

export function createSessionReader(deps: { verifier: TokenVerifier; cookie: string }): SessionReader {
  const sources = { header: false, cookies: [deps.cookie], websocketProtocol: false }
  return async (rawHeaders) => {
    const { cookie } = readBrowserFacts(rawHeaders)
    const { credential } = extractHandshakeCredential(
      { authorization: undefined, xApiKey: undefined, cookie, websocketProtocol: undefined },
      sources,
    )
    if (credential.kind !== 'token') return undefined
    let identity
    try {
      identity = await deps.verifier.verify(credential.token)
    } catch (err) {
      if (err instanceof CredentialError && err.refused) return undefined
      throw err
    }
    return identity.principal === 'user' && identity.user ? { identity, token: credential.token } : undefined
  }
}
