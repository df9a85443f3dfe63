/**
 * The session cookie. A session is an access token of the local issuer (tokens.local_issuer),
 * carried in an HttpOnly cookie: no script of the page can read it, the browser sends it only
 * over HTTPS (Secure) and not on cross-site subrequests (SameSite=Lax), and routes accept it
 * through `credentials_from: [cookie:NAME]` like any bearer token, with the same verification,
 * the same revocation (a disabled or deleted user's tokens stop within the token cache's ttl)
 * and the decision's CSRF rule for unsafe methods.
 */
export type SessionCookie = { name: string; maxAgeSeconds: number }

const ATTRIBUTES = 'Path=/; HttpOnly; Secure; SameSite=Lax'

export function sessionCookie(cookie: SessionCookie, token: string): string {
  return `${cookie.name}=${token}; Max-Age=${cookie.maxAgeSeconds}; ${ATTRIBUTES}`
}

/** Expires the cookie in the browser (sign-out). */
export function clearedSessionCookie(cookie: SessionCookie): string {
  return `${cookie.name}=; Max-Age=0; ${ATTRIBUTES}`
}
