import { CredentialError, extractHandshakeCredential } from '../authn/index.ts'
import type { TokenVerifier } from '../authn/index.ts'
import type { Identity } from '../identity/index.ts'
import { readBrowserFacts } from './request-headers.ts'

/**
 * Who a request's session cookie signs in, for a gatehouse endpoint that acts as its caller (the
 * sign-in door accepting an invitation): the cookie is read and verified exactly as a route that
 * names it in `credentials_from` would (the same verifier, cache and revocation). No cookie, or a
 * token the verifier refuses: undefined, the caller is not signed in. A cookie sent twice is the
 * same 400 a route answers; a verifier that cannot check now rejects (503), never "signed out".
 * The caller applies the CSRF rule (isSameOriginOrSafe) before acting on the answer.
 */
export async function identifyByCookie(
  verifier: TokenVerifier,
  cookie: string,
  rawHeaders: readonly string[],
): Promise<Identity | undefined> {
  const { credential } = extractHandshakeCredential(
    { authorization: undefined, xApiKey: undefined, cookie: readBrowserFacts(rawHeaders).cookie, websocketProtocol: undefined },
    { header: false, cookies: [cookie], websocketProtocol: false },
  )
  if (credential.kind !== 'token') return undefined
  try {
    return await verifier.verify(credential.token)
  } catch (err) {
    if (err instanceof CredentialError && err.refused) return undefined
    throw err
  }
}
